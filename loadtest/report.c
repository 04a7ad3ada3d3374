/* report.c - the human table and the --json object of sluice-load (see report.h). */
#include "report.h"

#include <stdlib.h>

#include <cjson/cJSON.h>

#include "lterr.h"

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double per_s(uint64_t n, double s)
{
    return s > 0 ? (double)n / s : 0.0;
}

static void human_lat(FILE *f, const char *label, const hist *h, const char *note)
{
    if (!h->count) {
        fprintf(f, "  %-11s (no samples)\n", label);
        return;
    }
    fprintf(f, "  %-11s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f ms  (%s)\n",
            label, ms(hist_quantile(h, 0.5)), ms(hist_quantile(h, 0.9)), ms(hist_quantile(h, 0.99)),
            ms(hist_quantile(h, 0.999)), ms(h->max), hist_mean(h) / 1e6, note);
}

void report_human(FILE *f, const report_run *run, const engine_stats *st)
{
    fprintf(f, "sluice-load %s: ", run->url);
    if (!run->connections) {
        fprintf(f, "%u idle connections held %.1f s\n", run->idle, run->duration_s);
    } else {
        if (run->rate > 0)
            fprintf(f, "open loop at %.0f req/s", run->rate);
        else
            fprintf(f, "closed loop (max)");
        fprintf(f, ", %.1f s (+%.1f s warm-up), %u connections, pipeline %u", run->duration_s,
                run->warmup_s, run->connections, run->pipeline);
        if (run->body_file)
            fprintf(f, ", body %s", run->body_file);
        else if (run->batch)
            fprintf(f, ", batches of %u", run->batch);
        else
            fprintf(f, ", single events");
        if (!run->body_file) fprintf(f, ", %.0f%% invalid", run->invalid * 100);
        if (run->gzip) fprintf(f, ", gzip");
        if (run->idle) fprintf(f, ", +%u idle", run->idle);
        fprintf(f, "\n");
    }
    double s = st->elapsed_s;
    fprintf(f,
            "  requests    sent %llu  completed %llu  2xx %llu  non-2xx %llu  failed %llu"
            "  timeouts %llu",
            (unsigned long long)st->sent, (unsigned long long)st->completed,
            (unsigned long long)st->ok, (unsigned long long)st->non2xx,
            (unsigned long long)st->failed, (unsigned long long)st->timeouts);
    if (run->rate > 0)
        fprintf(f, "  due %llu  unsent %llu", (unsigned long long)st->scheduled,
                (unsigned long long)st->unsent);
    fprintf(f, "\n  status     ");
    int any = 0;
    for (int c = 0; c < 600; c++)
        if (st->status[c]) fprintf(f, " %d: %llu", c, (unsigned long long)st->status[c]), any = 1;
    fprintf(f, "%s\n", any ? "" : " (none)");
    fprintf(f, "  throughput  %.1f req/s  %.1f events/s acked  %.2f MB/s sent  over %.2f s\n",
            per_s(st->completed, s), per_s(st->events_acked, s), per_s(st->bytes_sent, s) / 1e6, s);
    fprintf(f, "  events      sent %llu (%llu invalid)  acked %llu  mean event %.0f B",
            (unsigned long long)st->events_sent, (unsigned long long)st->invalid_sent,
            (unsigned long long)st->events_acked, run->mean_event_bytes);
    if (st->sent)
        fprintf(f, "  mean body %.0f B (%.0f B raw)", (double)st->body_bytes / (double)st->sent,
                (double)st->raw_body_bytes / (double)st->sent);
    fprintf(f, "\n");
    human_lat(f, "latency", &st->latency,
              run->rate > 0 ? "from the scheduled send time" : "from the send");
    if (run->rate > 0) human_lat(f, "service", &st->service, "from the actual send");
    fprintf(f, "  connections opened %llu  connect errors %llu  errors %llu  parse errors %llu",
            (unsigned long long)st->connects, (unsigned long long)st->connect_errors,
            (unsigned long long)st->conn_errors, (unsigned long long)st->parse_errors);
    if (run->idle)
        fprintf(f, "  idle open %llu failed %llu closed by server %llu",
                (unsigned long long)st->idle_open, (unsigned long long)st->idle_failed,
                (unsigned long long)st->idle_closed);
    fprintf(f, "\n");
}

static cJSON *lat_json(const hist *h)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "count", (double)h->count);
    cJSON_AddNumberToObject(o, "p50", ms(hist_quantile(h, 0.5)));
    cJSON_AddNumberToObject(o, "p90", ms(hist_quantile(h, 0.9)));
    cJSON_AddNumberToObject(o, "p99", ms(hist_quantile(h, 0.99)));
    cJSON_AddNumberToObject(o, "p999", ms(hist_quantile(h, 0.999)));
    cJSON_AddNumberToObject(o, "max", ms(h->count ? h->max : 0));
    cJSON_AddNumberToObject(o, "mean", hist_mean(h) / 1e6);
    return o;
}

#define NUM(o, k, v) cJSON_AddNumberToObject((o), (k), (double)(v))

int report_json(FILE *f, const report_run *run, const engine_stats *st)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return LT_ENOMEM;
    cJSON *cfg = cJSON_AddObjectToObject(root, "run");
    cJSON_AddStringToObject(cfg, "url", run->url);
    cJSON_AddStringToObject(cfg, "mode", run->mode);
    NUM(cfg, "rate", run->rate);
    NUM(cfg, "duration_s", run->duration_s);
    NUM(cfg, "warmup_s", run->warmup_s);
    NUM(cfg, "connections", run->connections);
    NUM(cfg, "pipeline", run->pipeline);
    NUM(cfg, "idle", run->idle);
    NUM(cfg, "batch", run->batch);
    NUM(cfg, "invalid", run->invalid);
    cJSON_AddBoolToObject(cfg, "gzip", run->gzip);
    if (run->path) cJSON_AddStringToObject(cfg, "path", run->path);
    if (run->body_file) cJSON_AddStringToObject(cfg, "body_file", run->body_file);
    NUM(cfg, "seed", run->seed);

    cJSON *rq = cJSON_AddObjectToObject(root, "requests");
    NUM(rq, "sent", st->sent);
    NUM(rq, "completed", st->completed);
    NUM(rq, "ok", st->ok);
    NUM(rq, "non2xx", st->non2xx);
    NUM(rq, "failed", st->failed);
    NUM(rq, "timeouts", st->timeouts);
    NUM(rq, "due", st->scheduled);
    NUM(rq, "unsent", st->unsent);
    cJSON *status = cJSON_AddObjectToObject(root, "status");
    for (int c = 0; c < 600; c++) {
        if (!st->status[c]) continue;
        char k[8];
        snprintf(k, sizeof k, "%d", c);
        NUM(status, k, st->status[c]);
    }
    cJSON *ev = cJSON_AddObjectToObject(root, "events");
    NUM(ev, "sent", st->events_sent);
    NUM(ev, "invalid_sent", st->invalid_sent);
    NUM(ev, "acked", st->events_acked);
    NUM(ev, "invalid_acked", st->invalid_acked);
    NUM(ev, "mean_event_bytes", run->mean_event_bytes);
    cJSON *tp = cJSON_AddObjectToObject(root, "throughput");
    NUM(tp, "elapsed_s", st->elapsed_s);
    NUM(tp, "requests_per_s", per_s(st->completed, st->elapsed_s));
    NUM(tp, "ok_per_s", per_s(st->ok, st->elapsed_s));
    NUM(tp, "events_per_s", per_s(st->events_acked, st->elapsed_s));
    NUM(tp, "mbytes_per_s", per_s(st->bytes_sent, st->elapsed_s) / 1e6);
    cJSON *by = cJSON_AddObjectToObject(root, "bytes");
    NUM(by, "sent", st->bytes_sent);
    NUM(by, "body", st->body_bytes);
    NUM(by, "body_raw", st->raw_body_bytes);
    cJSON_AddItemToObject(root, "latency_ms", lat_json(&st->latency));
    cJSON_AddItemToObject(root, "service_ms", lat_json(&st->service));
    cJSON *cn = cJSON_AddObjectToObject(root, "connections");
    NUM(cn, "opened", st->connects);
    NUM(cn, "connect_errors", st->connect_errors);
    NUM(cn, "errors", st->conn_errors);
    NUM(cn, "parse_errors", st->parse_errors);
    NUM(cn, "idle_open", st->idle_open);
    NUM(cn, "idle_failed", st->idle_failed);
    NUM(cn, "idle_closed", st->idle_closed);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return LT_ENOMEM;
    fprintf(f, "%s\n", text);
    free(text);
    return 0;
}
