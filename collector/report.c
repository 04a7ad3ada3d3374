/* report.c - `sluice report` and `sluice tail` (see report.h).
 *
 * report: connect (blocking hiredis, 5 s timeouts), agg_report, print as a table or JSON.
 * tail: SUBSCRIBE to the channel, parse each message, filter, print; the socket read timeout is
 * set to what is left of --timeout before each read, so the loop always ends on time. Neither
 * keeps state beyond one call. */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "agg.h"
#include "redisuv.h"
#include "sink.h"
#include "sl_err.h"

#define REPORT_DEFAULT_URL "redis://127.0.0.1:6379"
#define REPORT_TIMEOUT_MS 5000

/* ---- options --------------------------------------------------------------------------------- */

/* "--name value" or "--name=value"; NULL when argv[*i] is another option. *missing is set when
 * the value is absent. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

int report_parse_time(const char *s, time_t now, time_t *out)
{
    if (!s || !*s) return SL_EUSAGE;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end != s && v >= 0 && errno == 0) {
        if (!*end) { /* unix seconds */
            *out = (time_t)v;
            return 0;
        }
        if (!end[1]) { /* a duration back from now */
            long long mul = *end == 's'   ? 1
                            : *end == 'm' ? 60
                            : *end == 'h' ? 3600
                            : *end == 'd' ? 86400
                            : *end == 'w' ? 604800
                                          : 0;
            if (!mul || v > 100LL * 365 * 86400 / mul) return SL_EUSAGE;
            *out = now - (time_t)(v * mul);
            return 0;
        }
    }
    struct tm tm = {0};
    int Y, M, D, h = 0, mi = 0, sec = 0, used = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &Y, &M, &D, &used) != 3 || used != 10) return SL_EUSAGE;
    const char *p = s + used;
    long off = 0;
    if (*p == 'T' || *p == ' ') {
        int n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5) return SL_EUSAGE;
        p += 1 + n;
        if (*p == ':') {
            if (sscanf(p + 1, "%2d%n", &sec, &n) != 1 || n != 2) return SL_EUSAGE;
            p += 1 + n;
            if (*p == '.') /* fractions are ignored */
                for (p++; *p >= '0' && *p <= '9'; p++)
                    ;
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5) return SL_EUSAGE;
            off = (*p == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
            p += 1 + n;
        }
    }
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60) return SL_EUSAGE;
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = timegm(&tm) - off;
    return 0;
}

int report_connect(const char *url, unsigned timeout_ms, redisContext **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    sink_config cfg = {.host = "127.0.0.1", .port = 6379};
    char *store = NULL;
    int rc = sink_parse_url(url, &cfg, &store);
    if (rc) {
        snprintf(err, errlen, "bad Redis URL (expected " SINK_URL_FORMS ")");
        return rc;
    }
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    redisContext *c = redisuv_connect_blocking(cfg.host, cfg.port, tv);
    if (!c || c->err) {
        char where[160];
        snprintf(err, errlen, "connect to %s: %s",
                 redisuv_where(cfg.host, cfg.port, where, sizeof where),
                 c ? c->errstr : "out of memory");
        goto fail;
    }
    redisSetTimeout(c, tv);
    if (cfg.password) {
        redisReply *r = cfg.username ? redisCommand(c, "AUTH %s %s", cfg.username, cfg.password)
                                     : redisCommand(c, "AUTH %s", cfg.password);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        snprintf(err, errlen, "AUTH: %.150s", r && r->str ? r->str : c->errstr);
        freeReplyObject(r);
        if (!ok) goto fail;
    }
    if (cfg.db) {
        redisReply *r = redisCommand(c, "SELECT %d", cfg.db);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        snprintf(err, errlen, "SELECT: %.150s", r && r->str ? r->str : c->errstr);
        freeReplyObject(r);
        if (!ok) goto fail;
    }
    err[0] = '\0';
    free(store);
    *out = c;
    return 0;
fail:
    if (c) redisFree(c);
    free(store);
    return SL_EIO;
}

/* ---- report ---------------------------------------------------------------------------------- */

static void iso(char dst[32], double t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t <= 0 || !gmtime_r(&tt, &tm)) {
        strcpy(dst, "-");
        return;
    }
    strftime(dst, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Copies s into dst (cap > 4) as one printable cell: control bytes become '?', longer text ends
 * with "..." within `width` bytes. */
static void cell(char *dst, size_t cap, const char *s, size_t width)
{
    if (width + 1 > cap) width = cap - 1;
    size_t n = 0;
    for (; s && s[n] && n < width; n++)
        dst[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' : s[n];
    if (s && s[n]) {
        size_t k = width >= 3 ? width - 3 : 0;
        while (k > 0 && ((unsigned char)dst[k] & 0xC0) == 0x80)
            k--;
        memcpy(dst + k, "...", 3);
        n = k + 3;
    }
    dst[n] = '\0';
}

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static size_t maxw(size_t a, size_t b)
{
    return a > b ? a : b;
}

int report_print(const cJSON *r, bool json, FILE *out)
{
    if (json) {
        char *s = cJSON_Print(r);
        if (!s) return SL_ENOMEM;
        fprintf(out, "%s\n", s);
        free(s);
        return 0;
    }
    char t0[32], t1[32];
    iso(t0, jnum(r, "since"));
    iso(t1, jnum(r, "until"));
    const char *ver = jstr(r, "plan_version");
    fprintf(out, "Violations %s .. %s (plan version: %s)\n\n", t0, t1, ver ? ver : "all");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(r, "groups");
    const cJSON *g;
    enum { W_EVENT = 32, W_KIND = 21, W_PATH = 40, W_MSG = 80 };
    size_t we = 5, wk = 4, wp = 4;
    cJSON_ArrayForEach(g, groups)
    {
        const char *e = jstr(g, "event"), *k = jstr(g, "kind"), *p = jstr(g, "path");
        we = maxw(we, e ? (strlen(e) < W_EVENT ? strlen(e) : W_EVENT) : 0);
        wk = maxw(wk, k ? (strlen(k) < W_KIND ? strlen(k) : W_KIND) : 0);
        wp = maxw(wp, p ? (strlen(p) < W_PATH ? strlen(p) : W_PATH) : 1);
    }
    if (cJSON_GetArraySize(groups) == 0) {
        fprintf(out, "No violations.\n");
    } else {
        fprintf(out, "%-*s  %-*s  %-*s  %8s  %-20s  %s\n", (int)we, "EVENT", (int)wk, "KIND",
                (int)wp, "PATH", "COUNT", "LAST SEEN", "EXAMPLE");
        cJSON_ArrayForEach(g, groups)
        {
            char e[W_EVENT + 1], k[W_KIND + 1], p[W_PATH + 1], m[W_MSG + 1], last[32];
            const char *path = jstr(g, "path");
            cell(e, sizeof e, jstr(g, "event"), W_EVENT);
            cell(k, sizeof k, jstr(g, "kind"), W_KIND);
            cell(p, sizeof p, path && path[0] ? path : "/", W_PATH);
            const cJSON *ex0 =
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "examples"), 0);
            cell(m, sizeof m, jstr(ex0, "message") ? jstr(ex0, "message") : "", W_MSG);
            iso(last, jnum(g, "last_seen"));
            fprintf(out, "%-*s  %-*s  %-*s  %8.0f  %-20s  %s\n", (int)we, e, (int)wk, k, (int)wp, p,
                    jnum(g, "count"), last, m);
        }
        double more = jnum(r, "groups_truncated");
        if (more > 0) fprintf(out, "... and %.0f more groups (see --format json)\n", more);
    }
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(r, "events");
    if (cJSON_GetArraySize(events) > 0) {
        size_t w = 5;
        cJSON_ArrayForEach(g, events)
        {
            const char *e = jstr(g, "event");
            w = maxw(w, e ? (strlen(e) < W_EVENT ? strlen(e) : W_EVENT) : 0);
        }
        fprintf(out, "\n%-*s  %8s  %8s\n", (int)w, "EVENT", "VALID", "INVALID");
        cJSON_ArrayForEach(g, events)
        {
            char e[W_EVENT + 1];
            cell(e, sizeof e, jstr(g, "event"), W_EVENT);
            fprintf(out, "%-*s  %8.0f  %8.0f\n", (int)w, e, jnum(g, "valid"), jnum(g, "invalid"));
        }
    }
    return 0;
}

static void report_usage(FILE *out)
{
    fputs("usage: sluice report [--redis URL] [--since 1h|ISO|unix] [--until ...] [--event NAME]\n"
          "                     [--plan-version V] [--prefix P] [--format text|json]\n"
          "\n"
          "Violations grouped by (event, kind, path), most frequent first, with per-event\n"
          "valid/invalid volumes, read from the aggregates `sluice serve` keeps in Redis.\n"
          "  --redis URL        redis://[[user]:pass@]host[:port][/db] or\n"
          "                     unix://[[user]:pass@]/path/redis.sock[?db=N] "
          "(default " REPORT_DEFAULT_URL ")\n"
          "  --since T          start: duration back from now (90s, 15m, 1h, 2d, 1w), ISO-8601\n"
          "                     or unix seconds (default 1h)\n"
          "  --until T          end (default now)\n"
          "  --event NAME       only this event\n"
          "  --plan-version V   only this plan version (default: all, merged)\n"
          "  --prefix P         key prefix (default " AGG_DEFAULT_PREFIX ")\n"
          "  --format F         text (a table, default) or json\n",
          out);
}

int report_main(int argc, char **argv)
{
    const char *url = REPORT_DEFAULT_URL, *since_s = "1h", *until_s = NULL, *event = NULL,
               *version = NULL, *prefix = AGG_DEFAULT_PREFIX, *fmt = "text";
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool missing = false;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            report_usage(stdout);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--redis", &missing))) {
            url = v;
        } else if ((v = opt_value(argc, argv, &i, "--since", &missing))) {
            since_s = v;
        } else if ((v = opt_value(argc, argv, &i, "--until", &missing))) {
            until_s = v;
        } else if ((v = opt_value(argc, argv, &i, "--event", &missing))) {
            event = v;
        } else if ((v = opt_value(argc, argv, &i, "--plan-version", &missing))) {
            version = v;
        } else if ((v = opt_value(argc, argv, &i, "--prefix", &missing))) {
            prefix = v;
        } else if ((v = opt_value(argc, argv, &i, "--format", &missing))) {
            fmt = v;
        } else {
            fprintf(stderr, "sluice report: %s %s\n",
                    missing ? "missing value for" : "unknown option", argv[i]);
            report_usage(stderr);
            return 2;
        }
    }
    time_t now = time(NULL), since, until = now;
    if (report_parse_time(since_s, now, &since) ||
        (until_s && report_parse_time(until_s, now, &until))) {
        fprintf(stderr, "sluice report: bad time '%s' (want 1h, 2024-05-01T10:00Z, ...)\n",
                report_parse_time(since_s, now, &since) ? since_s : until_s);
        return 2;
    }
    if (until < since) {
        fprintf(stderr, "sluice report: --until is before --since\n");
        return 2;
    }
    if (strcmp(fmt, "text") && strcmp(fmt, "json")) {
        fprintf(stderr, "sluice report: unknown format '%s' (text or json)\n", fmt);
        return 2;
    }
    char err[256];
    redisContext *c;
    int rc = report_connect(url, REPORT_TIMEOUT_MS, &c, err, sizeof err);
    if (rc) {
        fprintf(stderr, "sluice report: %s\n", err);
        return rc == SL_EUSAGE ? 2 : 1;
    }
    cJSON *r = NULL;
    rc = agg_report(c, prefix, version, since, until, event, &r);
    if (rc) {
        fprintf(stderr, "sluice report: %s%s%s\n", sl_strerror(rc), c->err ? ": " : "",
                c->err ? c->errstr : "");
        redisFree(c);
        return rc == SL_EUSAGE ? 2 : 1;
    }
    redisFree(c);
    rc = report_print(r, !strcmp(fmt, "json"), stdout);
    cJSON_Delete(r);
    return rc ? 1 : 0;
}

/* ---- tail ------------------------------------------------------------------------------------ */

static bool field_is(const cJSON *msg, const char *name, const char *want)
{
    if (!want) return true;
    const char *v = jstr(msg, name);
    return v && !strcmp(v, want);
}

bool tail_match(const cJSON *msg, const tail_opts *o)
{
    return field_is(msg, "event", o->event) && field_is(msg, "write_key", o->write_key) &&
           field_is(msg, "session", o->session);
}

/* One line per violation: time, event, kind, path, message [session] [write key]. */
static void tail_print_text(const cJSON *msg, FILE *out)
{
    char ts[32], e[AGG_NAME_MAX + 1];
    iso(ts, jnum(msg, "ts"));
    cell(e, sizeof e, jstr(msg, "event"), AGG_NAME_MAX);
    const char *session = jstr(msg, "session");
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(msg, "violations"), *v;
    cJSON_ArrayForEach(v, vs)
    {
        char k[64], p[VIO_PATH_MAX + 1], m[VIO_MSG_MAX + 1];
        const char *path = jstr(v, "path");
        cell(k, sizeof k, jstr(v, "kind"), sizeof k - 1);
        cell(p, sizeof p, path && path[0] ? path : "/", VIO_PATH_MAX);
        cell(m, sizeof m, jstr(v, "message"), VIO_MSG_MAX);
        fprintf(out, "%s  %s  %s  %s  %s", ts, e, k, p, m);
        if (session) {
            char s[130];
            cell(s, sizeof s, session, 128);
            fprintf(out, "  [session %s]", s);
        }
        fputc('\n', out);
    }
    fflush(out);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int tail_run(const tail_opts *o, FILE *out)
{
    const char *url = o->redis_url ? o->redis_url : REPORT_DEFAULT_URL;
    const char *channel = o->channel ? o->channel : AGG_DEFAULT_CHANNEL;
    uint64_t deadline = o->timeout_s ? now_ms() + (uint64_t)o->timeout_s * 1000u : UINT64_MAX;
    long matched = 0;
    bool warned = false;
    while (now_ms() < deadline) {
        char err[256];
        redisContext *c;
        int rc = report_connect(url, REPORT_TIMEOUT_MS, &c, err, sizeof err);
        if (rc == SL_EUSAGE) {
            fprintf(stderr, "sluice tail: %s\n", err);
            return 2;
        }
        if (rc) {
            if (!warned) fprintf(stderr, "sluice tail: %s (retrying every second)\n", err);
            warned = true;
            sleep(1);
            continue;
        }
        redisReply *r = redisCommand(c, "SUBSCRIBE %s", channel);
        bool ok = r && r->type == REDIS_REPLY_ARRAY;
        freeReplyObject(r);
        if (!ok) {
            fprintf(stderr, "sluice tail: SUBSCRIBE %s: %s\n", channel,
                    c->err ? c->errstr : "refused");
            redisFree(c);
            sleep(1);
            continue;
        }
        if (warned) fprintf(stderr, "sluice tail: connected\n");
        warned = false;
        for (;;) {
            uint64_t now = now_ms();
            if (now >= deadline) break;
            uint64_t left = deadline == UINT64_MAX ? 0 : deadline - now;
            struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
            if (left && !tv.tv_sec && !tv.tv_usec) tv.tv_usec = 1000;
            redisSetTimeout(c, tv); /* {0,0}: block */
            void *vr = NULL;
            if (redisGetReply(c, &vr) != REDIS_OK) {
                if (now_ms() < deadline) {
                    fprintf(stderr, "sluice tail: connection lost: %s (reconnecting)\n", c->errstr);
                    warned = true;
                }
                break;
            }
            redisReply *m = vr;
            if (m && m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
                m->element[0]->type == REDIS_REPLY_STRING &&
                !strcmp(m->element[0]->str, "message")) {
                redisReply *payload = m->element[2];
                cJSON *msg = cJSON_ParseWithLength(payload->str, payload->len);
                if (msg && tail_match(msg, o)) {
                    if (o->json) {
                        fwrite(payload->str, 1, payload->len, out);
                        fputc('\n', out);
                        fflush(out);
                    } else {
                        tail_print_text(msg, out);
                    }
                    matched++;
                }
                cJSON_Delete(msg);
            }
            freeReplyObject(m);
            if (o->count && matched >= o->count) {
                redisFree(c);
                return 0;
            }
        }
        redisFree(c);
        if (now_ms() < deadline) sleep(1);
    }
    return o->count && matched < o->count ? 1 : 0;
}

static void tail_usage(FILE *out)
{
    fputs("usage: sluice tail [--redis URL] [--event NAME] [--write-key K] [--session S]\n"
          "                   [--format text|json] [--count N] [--timeout SECONDS] [--channel C]\n"
          "\n"
          "Prints invalid events as `sluice serve` sees them (live, from Redis pub/sub): one\n"
          "line per violation (text) or one JSON message per event (json).\n"
          "  --redis URL      redis://[[user]:pass@]host[:port][/db] or\n"
          "                   unix://[[user]:pass@]/path/redis.sock[?db=N] "
          "(default " REPORT_DEFAULT_URL ")\n"
          "  --event NAME     only this event\n"
          "  --write-key K    only events sent with this write key\n"
          "  --session S      only events whose context.sluice.session is S\n"
          "  --count N        exit 0 after N matching events\n"
          "  --timeout S      exit after S seconds (1 if --count was not reached)\n"
          "  --channel C      pub/sub channel (default " AGG_DEFAULT_CHANNEL ")\n",
          out);
}

int tail_main(int argc, char **argv)
{
    tail_opts o = {0};
    const char *fmt = "text", *count = NULL, *timeout = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool missing = false;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            tail_usage(stdout);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--redis", &missing))) {
            o.redis_url = v;
        } else if ((v = opt_value(argc, argv, &i, "--event", &missing))) {
            o.event = v;
        } else if ((v = opt_value(argc, argv, &i, "--write-key", &missing))) {
            o.write_key = v;
        } else if ((v = opt_value(argc, argv, &i, "--session", &missing))) {
            o.session = v;
        } else if ((v = opt_value(argc, argv, &i, "--format", &missing))) {
            fmt = v;
        } else if ((v = opt_value(argc, argv, &i, "--count", &missing))) {
            count = v;
        } else if ((v = opt_value(argc, argv, &i, "--timeout", &missing))) {
            timeout = v;
        } else if ((v = opt_value(argc, argv, &i, "--channel", &missing))) {
            o.channel = v;
        } else {
            fprintf(stderr, "sluice tail: %s %s\n",
                    missing ? "missing value for" : "unknown option", argv[i]);
            tail_usage(stderr);
            return 2;
        }
    }
    char *end;
    if (count) {
        o.count = strtol(count, &end, 10);
        if (*end || o.count <= 0) {
            fprintf(stderr, "sluice tail: --count wants a positive number\n");
            return 2;
        }
    }
    if (timeout) {
        long t = strtol(timeout, &end, 10);
        if (*end || t <= 0 || t > 100000000) {
            fprintf(stderr, "sluice tail: --timeout wants a positive number of seconds\n");
            return 2;
        }
        o.timeout_s = (unsigned)t;
    }
    if (strcmp(fmt, "text") && strcmp(fmt, "json")) {
        fprintf(stderr, "sluice tail: unknown format '%s' (text or json)\n", fmt);
        return 2;
    }
    o.json = !strcmp(fmt, "json");
    return tail_run(&o, stdout);
}
