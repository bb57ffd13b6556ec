/* metrics_http.h - the --metrics endpoint: Prometheus text on GET /metrics, served by
 * libmicrohttpd on its own thread.
 *
 * The run publishes a new page (metrics_http_set) whenever its figures change (stats.c, about
 * once a second); requests are answered from the latest page, so serving never touches the
 * run's state. Anything but GET /metrics gets 404; only loopback is bound unless an address is
 * given.
 *
 * Ownership: metrics_http_start returns a server the caller stops with metrics_http_stop.
 */
#ifndef KUNIQ_METRICS_HTTP_H
#define KUNIQ_METRICS_HTTP_H

#include <stddef.h>

typedef struct metrics_http metrics_http;

/* addr: "PORT" (127.0.0.1), "HOST:PORT" (an IPv4 address or "localhost"; "0.0.0.0" for every
 * interface). Returns NULL with a message in err. */
metrics_http *metrics_http_start(const char *addr, char *err, size_t errlen);
void metrics_http_stop(metrics_http *m);

/* Replaces the page (copied). */
void metrics_http_set(metrics_http *m, const char *text, size_t len);

/* The port actually bound (useful with port 0). */
int metrics_http_port(const metrics_http *m);

#endif
