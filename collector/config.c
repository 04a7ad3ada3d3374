/* config.c - the option table of `sluice serve` and its three sources (file, environment, flags).
 * See config.h for the naming and precedence rules. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

typedef enum { OPT_STR, OPT_LIST, OPT_SIZE, OPT_LONG, OPT_RATE } opt_type;

/* X(name, type, field, default, help): name is the flag without "--"; the file key is the name
 * with '-' -> '_', the environment variable is SLUICE_ + the upper-cased file key. */
#define CONFIG_OPTIONS(X)                                                                          \
    X("plan", OPT_STR, plan_path, NULL, "tracking plan (YAML); required")                          \
    X("listen", OPT_STR, listen, "0.0.0.0:8088", "HOST:PORT to listen on ([::1]:8088 for IPv6)")   \
    X("redis", OPT_STR, redis_url, NULL,                                                           \
      "redis://[user:pass@]host:port[/db] or unix:///path/redis.sock[?db=N]; unset = start an "    \
      "embedded redis-server (reached over DATA_DIR/redis.sock)")                                  \
    X("redis-bin", OPT_STR, redis_bin, NULL, "redis-server binary for the embedded Redis (PATH)")  \
    X("data-dir", OPT_STR, data_dir, "./sluice-data", "embedded Redis data folder (AOF on)")       \
    X("spool-dir", OPT_STR, spool_dir, NULL,                                                       \
      "disk spool for events Redis has not acked (one worker-N dir each) [DATA-DIR/spool]")        \
    X("spool-max-bytes", OPT_SIZE, spool_max_bytes, "256m",                                        \
      "spool bound per worker; full: 503 (0 = no spool: 503 while Redis is down)")                 \
    X("events-key", OPT_STR, events_key, "sluice:events", "stream for valid events")               \
    X("invalid-key", OPT_STR, invalid_key, "sluice:invalid", "stream for invalid events")          \
    X("workers", OPT_LONG, workers, "0", "worker threads (0 = number of cores)")                   \
    X("write-key", OPT_LIST, write_keys, NULL,                                                     \
      "accepted write key (repeatable); none = accept all, with a warning")                        \
    X("cors-origin", OPT_LIST, cors_origins, "*", "allowed CORS origin (repeatable; * = any)")     \
    X("trusted-proxy", OPT_LIST, trusted_proxies, NULL,                                            \
      "IP or IPv4 CIDR whose X-Forwarded-For is honoured (repeatable)")                            \
    X("max-event-bytes", OPT_SIZE, max_event_bytes, "32k", "max bytes per event (decompressed)")   \
    X("max-batch-bytes", OPT_SIZE, max_batch_bytes, "500k",                                        \
      "max bytes per request body (decompressed)")                                                 \
    X("max-batch-events", OPT_SIZE, max_batch_events, "2500", "max events per batch")              \
    X("max-body-bytes", OPT_SIZE, max_body_bytes, "500k", "max raw (possibly gzip) body bytes")    \
    X("max-header-bytes", OPT_SIZE, max_header_bytes, "16k", "max bytes of request line+headers")  \
    X("max-depth", OPT_SIZE, max_depth, "64", "max JSON nesting depth")                            \
    X("max-connections", OPT_SIZE, max_connections, "10000",                                       \
      "open connections per worker; beyond: closed at once")                                       \
    X("redis-max-inflight", OPT_SIZE, redis_max_inflight, "100000",                                \
      "max XADDs in flight per worker before 503")                                                 \
    X("idle-timeout-ms", OPT_LONG, idle_timeout_ms, "60000", "close idle keep-alive connections")  \
    X("header-timeout-ms", OPT_LONG, header_timeout_ms, "10000",                                   \
      "max time to receive a request line + headers (408; 0 = off)")                               \
    X("body-timeout-ms", OPT_LONG, body_timeout_ms, "10000",                                       \
      "body grace after headers, +1 s per min-body-rate bytes received (408)")                     \
    X("min-body-rate", OPT_SIZE, min_body_rate, "1k", "slowest accepted body transfer, bytes/s")   \
    X("request-timeout-ms", OPT_LONG, request_timeout_ms, "30000",                                 \
      "max time to receive one request (408)")                                                     \
    X("rate-limit", OPT_RATE, rate_limit, "0",                                                     \
      "events/s per write key (N, N/s or N/m; 0 = off); over it: 429")                             \
    X("rate-burst", OPT_SIZE, rate_burst, "0", "token bucket size in events (0 = max(rate, 1))")   \
    X("rate-limit-key", OPT_LIST, rate_limit_keys, NULL,                                           \
      "KEY=N[/s] per-key rate, overrides --rate-limit (repeatable)")                               \
    X("redis-timeout-ms", OPT_LONG, redis_timeout_ms, "2000", "Redis acknowledgement deadline")    \
    X("redis-linger-us", OPT_LONG, redis_linger_us, "0",                                           \
      "hold XADDs up to this long (or until 4 KB wait) to pipeline more per write (0 = off)")      \
    X("report-window", OPT_LONG, report_window_s, "86400",                                         \
      "seconds of violation counts kept in Redis for reports (0 = reports off)")                   \
    X("alerts", OPT_STR, alerts_path, NULL, "alert rules (YAML); unset = built-in defaults")       \
    X("micro", OPT_LONG, micro_max_events, "0",                                                    \
      "keep the last N checked events in memory for the Snowplow-Micro-style QA API /micro/* "     \
      "(0 = off)")                                                                                 \
    X("alert-webhook", OPT_LIST, alert_webhooks, NULL,                                             \
      "http:// URL that receives alerts as JSON POSTs (repeatable)")                               \
    X("drain-timeout-ms", OPT_LONG, drain_timeout_ms, "10000", "SIGTERM: max wait for in-flight")  \
    X("retry-after", OPT_LONG, retry_after_s, "5", "Retry-After seconds sent with 503")            \
    X("backlog", OPT_LONG, backlog, "1024", "listen backlog")

typedef struct {
    const char *name;
    opt_type type;
    size_t off;
    const char *def;
    const char *help;
} opt_desc;

static const opt_desc opts[] = {
#define OPT_ROW(n, t, f, d, h) {n, t, offsetof(serve_config, f), d, h},
    CONFIG_OPTIONS(OPT_ROW)
#undef OPT_ROW
};
#define NOPTS (sizeof opts / sizeof opts[0])

static void seterr(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

int config_parse_size(const char *s, size_t *out)
{
    if (!s || !*s) return SL_EUSAGE;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-') return SL_EUSAGE;
    unsigned long long mul = 1;
    switch (tolower((unsigned char)*end)) {
    case 'k':
        mul = 1024ULL, end++;
        break;
    case 'm':
        mul = 1024ULL * 1024, end++;
        break;
    case 'g':
        mul = 1024ULL * 1024 * 1024, end++;
        break;
    default:
        break;
    }
    if (mul > 1 && tolower((unsigned char)*end) == 'b') end++;
    if (*end) return SL_EUSAGE;
    if (v > (unsigned long long)SIZE_MAX / mul) return SL_EUSAGE;
    *out = (size_t)(v * mul);
    return 0;
}

int config_parse_rate(const char *s, double *out)
{
    if (!s || !*s || *s == '-') return SL_EUSAGE;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || !(v >= 0) || v > 1e9) return SL_EUSAGE;
    if (!strcmp(end, "/m") || !strcmp(end, "/min"))
        v /= 60;
    else if (*end && strcmp(end, "/s") != 0)
        return SL_EUSAGE;
    *out = v;
    return 0;
}

int config_parse_hostport(const char *s, char **host, int *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') return SL_EUSAGE;
        h = s + 1;
        hlen = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return SL_EUSAGE;
        hlen = (size_t)(colon - s);
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || p < 0 || p > 65535) return SL_EUSAGE;
    char *copy = malloc(hlen + 1);
    if (!copy) return SL_ENOMEM;
    memcpy(copy, h, hlen);
    copy[hlen] = 0;
    if (!hlen) {
        free(copy);
        copy = strdup("0.0.0.0");
        if (!copy) return SL_ENOMEM;
    }
    *host = copy;
    *port = (int)p;
    return 0;
}

static void list_clear(config_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int list_push(config_list *l, const char *s, size_t len)
{
    char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv) return SL_ENOMEM;
    l->v = nv;
    char *c = strndup(s, len);
    if (!c) return SL_ENOMEM;
    l->v[l->n++] = c;
    return 0;
}

/* Sets one option from text. `append` keeps an existing list (repeated flag of the same source);
 * otherwise a list is replaced by the comma-separated values. */
static int opt_set(serve_config *c, const opt_desc *o, const char *val, bool append, char *err,
                   size_t errlen)
{
    char *base = (char *)c + o->off;
    switch (o->type) {
    case OPT_STR: {
        char **dst = (char **)(void *)base;
        char *v = strdup(val);
        if (!v) return SL_ENOMEM;
        free(*dst);
        *dst = v;
        return 0;
    }
    case OPT_LIST: {
        config_list *l = (config_list *)(void *)base;
        if (!append) list_clear(l);
        const char *p = val;
        while (*p) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            const char *a = p, *b = p + n;
            while (a < b && isspace((unsigned char)*a))
                a++;
            while (b > a && isspace((unsigned char)b[-1]))
                b--;
            if (b > a && list_push(l, a, (size_t)(b - a))) return SL_ENOMEM;
            if (!e) break;
            p = e + 1;
        }
        return 0;
    }
    case OPT_SIZE:
        if (config_parse_size(val, (size_t *)(void *)base)) {
            seterr(err, errlen, "--%s: not a size: '%s' (examples: 2500, 32k, 1m)", o->name, val);
            return SL_EUSAGE;
        }
        return 0;
    case OPT_RATE:
        if (config_parse_rate(val, (double *)(void *)base)) {
            seterr(err, errlen, "--%s: not a rate: '%s' (examples: 100, 100/s, 600/m)", o->name,
                   val);
            return SL_EUSAGE;
        }
        return 0;
    case OPT_LONG: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < 0) {
            seterr(err, errlen, "--%s: not a non-negative integer: '%s'", o->name, val);
            return SL_EUSAGE;
        }
        *(long *)(void *)base = v;
        return 0;
    }
    }
    return SL_EUSAGE;
}

static const opt_desc *opt_find_key(const char *key, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const char *n = opts[i].name;
        if (strlen(n) != len) continue;
        size_t j = 0;
        for (; j < len; j++) {
            char a = key[j] == '_' ? '-' : (char)tolower((unsigned char)key[j]);
            if (a != n[j]) break;
        }
        if (j == len) return &opts[i];
    }
    return NULL;
}

static int load_file(serve_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        seterr(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
        return SL_EIO;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    bool seen[NOPTS] = {0};
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#') continue;
        char *sep = p + strcspn(p, "=:");
        if (!*sep) {
            seterr(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
            rc = SL_EUSAGE;
            break;
        }
        char *ke = sep;
        while (ke > p && isspace((unsigned char)ke[-1]))
            ke--;
        char *v = sep + 1;
        while (isspace((unsigned char)*v))
            v++;
        size_t vl = strlen(v);
        while (vl && isspace((unsigned char)v[vl - 1]))
            v[--vl] = 0;
        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
            v[vl - 1] = 0;
            v++;
        }
        const opt_desc *o = opt_find_key(p, (size_t)(ke - p));
        if (!o || !strcmp(o->name, "config")) {
            seterr(err, errlen, "%s:%d: unknown setting '%.*s'", path, lineno, (int)(ke - p), p);
            rc = SL_EUSAGE;
            break;
        }
        size_t idx = (size_t)(o - opts);
        if ((rc = opt_set(c, o, v, seen[idx], err, errlen))) {
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", err);
            seterr(err, errlen, "%s:%d: %s", path, lineno, tmp);
            break;
        }
        seen[idx] = true;
    }
    fclose(f);
    return rc;
}

static int load_env(serve_config *c, char **env, char *err, size_t errlen)
{
    for (char **e = env; e && *e; e++) {
        if (strncmp(*e, "SLUICE_", 7)) continue;
        const char *k = *e + 7;
        const char *eq = strchr(k, '=');
        if (!eq) continue;
        if ((size_t)(eq - k) == 6 && !strncmp(k, "CONFIG", 6)) continue;
        const opt_desc *o = opt_find_key(k, (size_t)(eq - k));
        if (!o) continue; /* SLUICE_* of other tools (SLUICE_SHARED_DIR ...) */
        int rc = opt_set(c, o, eq + 1, false, err, errlen);
        if (rc) return rc;
    }
    return 0;
}

void config_print_help(FILE *out)
{
    fputs(
        "usage: sluice serve --plan PLAN [options]\n"
        "\n"
        "Segment-compatible HTTP collector: validates events against the tracking plan and\n"
        "stores them in Redis Streams. Every option is also a config-file key (max_event_bytes)\n"
        "and an environment variable (SLUICE_MAX_EVENT_BYTES); precedence: file < env < flags.\n"
        "\n"
        "  --config FILE              read settings from FILE ('key = value' lines, # comments)\n",
        out);
    for (size_t i = 0; i < NOPTS; i++) {
        char flag[64];
        const char *meta = opts[i].type == OPT_STR || opts[i].type == OPT_LIST ? " S" : " N";
        snprintf(flag, sizeof flag, "--%s%s", opts[i].name, meta);
        fprintf(out, "  %-26s %s", flag, opts[i].help);
        if (opts[i].def) fprintf(out, " [%s]", opts[i].def);
        fputc('\n', out);
    }
    fputs("\nSignals: SIGHUP reloads the plan (a bad plan is rejected, the old one stays);\n"
          "SIGTERM/SIGINT drain in-flight requests, flush to Redis and exit 0.\n",
          out);
}

int config_load(serve_config *c, int argc, char **argv, char **env, FILE *out, char *err,
                size_t errlen)
{
    memset(c, 0, sizeof *c);
    int rc;
    if (!env) env = environ;
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].def && (rc = opt_set(c, &opts[i], opts[i].def, false, err, errlen))) return rc;

    /* --help and --config first: the file is the lowest-precedence source. */
    const char *cfg = NULL;
    for (char **e = env; e && *e; e++)
        if (!strncmp(*e, "SLUICE_CONFIG=", 14)) cfg = *e + 14;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            config_print_help(out);
            return 1;
        }
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            cfg = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            cfg = argv[i] + 9;
    }
    if (cfg && *cfg) {
        c->config_file = strdup(cfg);
        if ((rc = load_file(c, cfg, err, errlen))) return rc;
    }
    if ((rc = load_env(c, env, err, errlen))) return rc;

    bool seen[NOPTS] = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) {
            seterr(err, errlen, "unexpected argument '%s'", a);
            return SL_EUSAGE;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char *val = eq ? eq + 1 : NULL;
        if (nlen == 6 && !strncmp(name, "config", 6)) {
            if (!val) i++;
            continue;
        }
        const opt_desc *o = NULL;
        for (size_t k = 0; k < NOPTS; k++)
            if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, name, nlen)) o = &opts[k];
        if (!o) {
            seterr(err, errlen, "unknown option '--%.*s' (see sluice serve --help)", (int)nlen,
                   name);
            return SL_EUSAGE;
        }
        if (!val) {
            if (i + 1 >= argc) {
                seterr(err, errlen, "--%s needs a value", o->name);
                return SL_EUSAGE;
            }
            val = argv[++i];
        }
        size_t idx = (size_t)(o - opts);
        if ((rc = opt_set(c, o, val, seen[idx], err, errlen))) return rc;
        seen[idx] = true;
    }

    if (!c->plan_path) {
        seterr(err, errlen, "--plan is required (see sluice serve --help)");
        return SL_EUSAGE;
    }
    if (config_parse_hostport(c->listen, &c->listen_host, &c->listen_port)) {
        seterr(err, errlen, "--listen: expected HOST:PORT, got '%s'", c->listen);
        return SL_EUSAGE;
    }
    if (c->max_event_bytes == 0 || c->max_batch_bytes == 0 || c->max_batch_events == 0 ||
        c->max_depth == 0 || c->max_body_bytes == 0 || c->max_header_bytes < 256) {
        seterr(err, errlen, "limits must be positive (max-header-bytes >= 256)");
        return SL_EUSAGE;
    }
    if (c->max_depth > CONFIG_MAX_DEPTH) {
        seterr(err, errlen, "--max-depth: at most %d", CONFIG_MAX_DEPTH);
        return SL_EUSAGE;
    }
    if (c->min_body_rate == 0) {
        seterr(err, errlen, "--min-body-rate must be positive");
        return SL_EUSAGE;
    }
    if (c->redis_linger_us > 1000000) { /* negative values fail the OPT_LONG parse */
        seterr(err, errlen, "--redis-linger-us: 0 to 1000000 (one second), got %ld",
               c->redis_linger_us);
        return SL_EUSAGE;
    }
    for (size_t i = 0; i < c->rate_limit_keys.n; i++) {
        const char *e = c->rate_limit_keys.v[i];
        const char *eq = strrchr(e, '=');
        double r;
        if (!eq || eq == e || config_parse_rate(eq + 1, &r)) {
            /* never echo the entry: it holds a write key */
            seterr(err, errlen, "--rate-limit-key: entry %zu: expected KEY=N[/s]", i + 1);
            return SL_EUSAGE;
        }
    }
    return 0;
}

void config_cleanup(serve_config *c)
{
    for (size_t i = 0; i < NOPTS; i++) {
        char *base = (char *)c + opts[i].off;
        if (opts[i].type == OPT_STR)
            free(*(char **)(void *)base);
        else if (opts[i].type == OPT_LIST)
            list_clear((config_list *)(void *)base);
    }
    free(c->listen_host);
    free(c->config_file);
    memset(c, 0, sizeof *c);
}
