/* metrics.c - counting and Prometheus rendering (see metrics.h). */
#include "metrics.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

static const int statuses[METRICS_NSTATUS - 1] = {METRICS_STATUS_LIST};

static int status_index(int status)
{
    for (int i = 0; i < METRICS_NSTATUS - 1; i++)
        if (statuses[i] == status) return i;
    return METRICS_NSTATUS - 1;
}

const char *metrics_route_name(metrics_route r)
{
    static const char *const names[] = {
#define METRICS_ROUTE_NAME(id, name) name,
        METRICS_ROUTE_MAP(METRICS_ROUTE_NAME)
#undef METRICS_ROUTE_NAME
    };
    return (unsigned)r < METRICS_R__COUNT ? names[r] : "other";
}

void metrics_count_request(metrics_worker *m, metrics_route r, int status)
{
    if ((unsigned)r >= METRICS_R__COUNT) r = METRICS_R_OTHER;
    metrics_add(&m->requests[r][status_index(status)], 1);
}

static uint64_t ld(const _Atomic uint64_t *c)
{
    return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

static uint64_t sum_at(metrics_worker *const *ws, size_t n, size_t off)
{
    uint64_t s = 0;
    for (size_t w = 0; w < n; w++)
        s += ld((const _Atomic uint64_t *)(const void *)((const char *)ws[w] + off));
    return s;
}
#define SUM(field) sum_at(ws, n, offsetof(metrics_worker, field))

static void counter(FILE *f, const char *name, const char *help, const char *type, uint64_t v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
            (unsigned long long)v);
}

char *metrics_render(metrics_worker *const *ws, size_t n, const metrics_global *g, size_t *len)
{
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (!f) return NULL;

    fputs("# HELP sluice_http_requests_total HTTP requests by route and status.\n"
          "# TYPE sluice_http_requests_total counter\n",
          f);
    for (int r = 0; r < METRICS_R__COUNT; r++)
        for (int s = 0; s < METRICS_NSTATUS; s++) {
            uint64_t v = 0;
            for (size_t w = 0; w < n; w++)
                v += ld(&ws[w]->requests[r][s]);
            if (!v) continue;
            if (s < METRICS_NSTATUS - 1)
                fprintf(f, "sluice_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                        metrics_route_name((metrics_route)r), statuses[s], (unsigned long long)v);
            else
                fprintf(f, "sluice_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                        metrics_route_name((metrics_route)r), (unsigned long long)v);
        }
    fputs("# HELP sluice_events_total Events checked, by result.\n"
          "# TYPE sluice_events_total counter\n",
          f);
    fprintf(f, "sluice_events_total{result=\"valid\"} %llu\n",
            (unsigned long long)SUM(events_valid));
    fprintf(f, "sluice_events_total{result=\"invalid\"} %llu\n",
            (unsigned long long)SUM(events_invalid));
    fputs("# HELP sluice_violations_total Violations found, by kind.\n"
          "# TYPE sluice_violations_total counter\n",
          f);
    for (int k = 0; k < SL_KIND__COUNT; k++)
        fprintf(f, "sluice_violations_total{kind=\"%s\"} %llu\n", sl_kind_name((sl_kind)k),
                (unsigned long long)SUM(violations[k]));
    counter(f, "sluice_rate_limited_requests_total",
            "Requests refused with 429 by the per-write-key rate limit.", "counter",
            SUM(rate_limited_requests));
    counter(f, "sluice_rate_limited_events_total", "Events in requests refused with 429.",
            "counter", SUM(rate_limited_events));
    counter(f, "sluice_http_body_bytes_total", "Request body bytes received (as sent).", "counter",
            SUM(body_bytes));
    counter(f, "sluice_http_received_bytes_total", "Bytes read from client sockets.", "counter",
            SUM(bytes_in));
    counter(f, "sluice_http_sent_bytes_total", "Bytes written to client sockets.", "counter",
            SUM(bytes_out));
    counter(f, "sluice_http_connections", "Open client connections.", "gauge", SUM(conns_open));
    counter(f, "sluice_http_connections_accepted_total", "Accepted client connections.", "counter",
            SUM(conns_accepted));
    counter(f, "sluice_redis_commands_ok_total", "Redis commands acknowledged.", "counter",
            SUM(redis_ok));
    counter(f, "sluice_redis_commands_failed_total", "Redis commands failed or timed out.",
            "counter", SUM(redis_failed));
    counter(f, "sluice_redis_inflight", "Redis commands in flight.", "gauge", SUM(redis_inflight));
    uint64_t lat = SUM(redis_latency_us_sum), cnt = SUM(redis_latency_count);
    fprintf(f,
            "# HELP sluice_redis_latency_seconds Time from XADD group sent to acknowledged.\n"
            "# TYPE sluice_redis_latency_seconds summary\n"
            "sluice_redis_latency_seconds_sum %.6f\nsluice_redis_latency_seconds_count %llu\n",
            (double)lat / 1e6, (unsigned long long)cnt);
    counter(f, "sluice_redis_reconnects_total", "Redis reconnections.", "counter",
            SUM(redis_reconnects));
    counter(f, "sluice_redis_ready_workers", "Workers whose Redis connection is up.", "gauge",
            SUM(redis_ready));
    counter(f, "sluice_redis_up", "1 when every worker's Redis connection is up.", "gauge",
            SUM(redis_ready) == n ? 1 : 0);
    counter(f, "sluice_spool_workers", "Workers with a disk spool.", "gauge", SUM(spool_enabled));
    counter(f, "sluice_spool_bytes", "Record bytes held in the disk spools.", "gauge",
            SUM(spool_bytes));
    counter(f, "sluice_spool_backlog_events", "Spooled events not yet acknowledged by Redis.",
            "gauge", SUM(spool_backlog));
    counter(f, "sluice_spool_appends_total", "Events fsynced in the spool (answered 2xx).",
            "counter", SUM(spool_appends));
    counter(f, "sluice_spool_fallback_events_total",
            "Spooled events that Redis had refused or not acknowledged in time first.", "counter",
            SUM(spool_fallback));
    counter(f, "sluice_spool_replayed_total", "Spooled events replayed to Redis and acknowledged.",
            "counter", SUM(spool_replayed));
    counter(f, "sluice_spool_refused_events_total", "Events answered 503: spool full or failing.",
            "counter", SUM(spool_refused));
    counter(f, "sluice_spool_torn_segments_total", "Torn spool tails cut at start (crash).",
            "counter", SUM(spool_torn));
    counter(f, "sluice_spool_fsyncs_total", "Spool fsync calls.", "counter", SUM(spool_fsyncs));
    counter(f, "sluice_sse_clients", "Open live violation streams (/v1/violations/stream).",
            "gauge", SUM(sse_clients));
    counter(f, "sluice_sse_streams_total", "Live violation streams started.", "counter",
            SUM(sse_accepted));
    counter(f, "sluice_sse_refused_total", "Live streams refused: too many clients.", "counter",
            SUM(sse_refused));
    counter(f, "sluice_sse_sent_total", "Violation messages queued to stream clients.", "counter",
            SUM(sse_sent));
    counter(f, "sluice_sse_dropped_total", "Stream clients cut off: too slow or write failed.",
            "counter", SUM(sse_dropped));
    counter(f, "sluice_alerts_fired_total", "Alerts emitted.", "counter", ld(&g->alerts_fired));
    counter(f, "sluice_alerts_suppressed_total", "Alert conditions held back by the cooldown.",
            "counter", ld(&g->alerts_suppressed));
    counter(f, "sluice_alerts_publish_failed_total", "Alerts not published to Redis.", "counter",
            ld(&g->alerts_publish_failed));
    counter(f, "sluice_alert_webhooks_delivered_total", "Alert webhooks answered 2xx.", "counter",
            ld(&g->alert_webhooks_delivered));
    counter(f, "sluice_alert_webhooks_failed_total", "Alert webhooks given up after retries.",
            "counter", ld(&g->alert_webhooks_failed));
    counter(f, "sluice_alert_webhooks_dropped_total", "Alert webhooks refused: queue full.",
            "counter", ld(&g->alert_webhooks_dropped));
    counter(f, "sluice_alert_webhooks_pending", "Alert webhooks queued or in flight.", "gauge",
            ld(&g->alert_webhooks_pending));
    counter(f, "sluice_workers", "Worker threads.", "gauge", ld(&g->workers));
    fputs("# HELP sluice_plan_reloads_total Plan reloads (SIGHUP), by result.\n"
          "# TYPE sluice_plan_reloads_total counter\n",
          f);
    fprintf(f, "sluice_plan_reloads_total{result=\"ok\"} %llu\n",
            (unsigned long long)ld(&g->reloads_ok));
    fprintf(f, "sluice_plan_reloads_total{result=\"failed\"} %llu\n",
            (unsigned long long)ld(&g->reloads_failed));
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = blen;
    return buf;
}
