/* progress.c - the progress line of a file run (see progress.h).
 *
 * Rates are averages since the start; the time left is the bytes left at the average byte rate.
 */
#include "progress.h"

#include <time.h>
#include <unistd.h>

#define INTERVAL 0.25 /* seconds between updates */

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_start(progress *p, FILE *out, int mode, uint64_t total)
{
	bool tty = out != NULL && isatty(fileno(out));
	bool on = mode > 0 || (mode < 0 && tty);
	*p = (progress){.out = on ? out : NULL, .tty = tty, .total = total};
	p->t0 = mono();
	p->next = p->t0 + INTERVAL;
}

/* Bytes in a short human form: 123.4 MB. */
static int fmt_bytes(char *buf, size_t cap, double b)
{
	static const char *unit[] = {"B", "kB", "MB", "GB", "TB"};
	int u = 0;
	while (b >= 1000 && u < 4) {
		b /= 1000;
		u++;
	}
	return snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

int progress_format(char *buf, size_t cap, uint64_t bytes, uint64_t total, uint64_t frames,
                    double secs)
{
	char done[32], all[32];
	double s = secs > 1e-3 ? secs : 1e-3, rate = (double)bytes / s;
	fmt_bytes(done, sizeof(done), (double)bytes);
	if (total == 0)
		return snprintf(buf, cap, "kuniq: %s read, %llu frames, %.1f MB/s, %.0f frames/s",
		                done, (unsigned long long)frames, rate / 1e6, (double)frames / s);
	fmt_bytes(all, sizeof(all), (double)total);
	double pct = bytes >= total ? 100.0 : 100.0 * (double)bytes / (double)total;
	long left = rate > 0 && bytes < total ? (long)((double)(total - bytes) / rate + 0.5) : 0;
	return snprintf(buf, cap,
	                "kuniq: %s of %s (%.1f %%), %llu frames, %.1f MB/s, %.0f frames/s, "
	                "ETA %ld:%02ld:%02ld",
	                done, all, pct, (unsigned long long)frames, rate / 1e6, (double)frames / s,
	                left / 3600, left / 60 % 60, left % 60);
}

void progress_update(progress *p, uint64_t bytes, uint64_t frames)
{
	if (p->out == NULL)
		return;
	double now = mono();
	if (now < p->next)
		return;
	p->next = now + INTERVAL;
	char line[256];
	progress_format(line, sizeof(line), bytes, p->total, frames, now - p->t0);
	/* terminal: back to the line's start, the text, then clear what a longer line left */
	fprintf(p->out, p->tty ? "\r%s\033[K" : "%s\n", line);
	fflush(p->out);
	p->drawn = true;
}

void progress_end(progress *p)
{
	if (p->out && p->tty && p->drawn) {
		fputs("\r\033[K", p->out);
		fflush(p->out);
	}
	p->drawn = false;
}
