/* metrics_http.c - GET /metrics with libmicrohttpd (see metrics_http.h).
 *
 * The page is a heap copy guarded by a mutex: the run's thread replaces it, libmicrohttpd's
 * thread copies it into each response. Nothing else is shared.
 */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metrics_http {
	struct MHD_Daemon *d;
	pthread_mutex_t mu;
	char *page;
	size_t len;
	int port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
                             size_t len, const char *type)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_len, void **req)
{
	(void)version;
	(void)data;
	(void)data_len;
	(void)req;
	metrics_http *m = cls;
	if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
		static const char nf[] = "not found: GET /metrics\n";
		return reply(c, MHD_HTTP_NOT_FOUND, nf, sizeof nf - 1, "text/plain");
	}
	pthread_mutex_lock(&m->mu);
	enum MHD_Result ret = reply(c, MHD_HTTP_OK, m->page ? m->page : "", m->page ? m->len : 0,
	                            "text/plain; version=0.0.4");
	pthread_mutex_unlock(&m->mu);
	return ret;
}

/* "PORT" or "HOST:PORT" into sa. Returns 0, or -1 with err. */
static int parse_addr(const char *addr, struct sockaddr_in *sa, char *err, size_t errlen)
{
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	const char *colon = strrchr(addr, ':'), *port = colon ? colon + 1 : addr;
	if (colon) {
		char host[64];
		size_t n = (size_t)(colon - addr);
		if (n == 0 || n >= sizeof host) {
			snprintf(err, errlen, "--metrics %s: bad address", addr);
			return -1;
		}
		memcpy(host, addr, n);
		host[n] = '\0';
		if (strcmp(host, "localhost") != 0 &&
		    inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
			snprintf(err, errlen, "--metrics %s: not an IPv4 address (or localhost)",
			         addr);
			return -1;
		}
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || p < 0 || p > 65535) {
		snprintf(err, errlen, "--metrics %s: bad port", addr);
		return -1;
	}
	sa->sin_port = htons((uint16_t)p);
	return 0;
}

metrics_http *metrics_http_start(const char *addr, char *err, size_t errlen)
{
	struct sockaddr_in sa;
	if (parse_addr(addr, &sa, err, errlen) != 0)
		return NULL;
	metrics_http *m = calloc(1, sizeof *m);
	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->mu, NULL);
	m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	                        handle, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	                        MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (m->d == NULL) {
		snprintf(err, errlen, "--metrics %s: cannot listen there (port in use?)", addr);
		pthread_mutex_destroy(&m->mu);
		free(m);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : ntohs(sa.sin_port);
	return m;
}

void metrics_http_stop(metrics_http *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->d);
	pthread_mutex_destroy(&m->mu);
	free(m->page);
	free(m);
}

void metrics_http_set(metrics_http *m, const char *text, size_t len)
{
	char *p = malloc(len + 1);
	if (p == NULL)
		return; /* the old page stays */
	memcpy(p, text, len);
	p[len] = '\0';
	pthread_mutex_lock(&m->mu);
	char *old = m->page;
	m->page = p;
	m->len = len;
	pthread_mutex_unlock(&m->mu);
	free(old);
}

int metrics_http_port(const metrics_http *m)
{
	return m->port;
}
