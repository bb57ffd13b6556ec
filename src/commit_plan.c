/* commit_plan.c - the commit point and snapshot of one Kafka partition (see commit_plan.h). */
#include "commit_plan.h"

void commit_plan_init(commit_plan *p)
{
	*p = (commit_plan){.next = -1, .committed = -1, .snap = -1};
}

bool commit_plan_read(commit_plan *p, int64_t o)
{
	if (o < p->next)
		return false;
	p->next = o + 1;
	return true;
}

int64_t commit_plan_point(const commit_plan *p, int64_t safe)
{
	if (p->next < 0)
		return -1;
	return safe < p->next ? safe : p->next;
}

bool commit_plan_snapshot(commit_plan *p, int64_t safe)
{
	int64_t c = commit_plan_point(p, safe);
	p->snap = c > p->committed ? c : -1;
	return p->snap >= 0;
}

int64_t commit_plan_take(commit_plan *p)
{
	int64_t s = p->snap > p->committed ? p->snap : -1;
	p->snap = -1;
	return s;
}

void commit_plan_acked(commit_plan *p, int64_t o)
{
	if (o > p->committed)
		p->committed = o;
}
