/* main.c - sluice-load: an open/closed-loop HTTP load generator for Sluice (and, with
 * --body-file, for any HTTP server, e.g. the nginx ceiling of loadtest/bench.sh).
 *
 * Parses the command line, resolves the URL, builds the event generator (evgen) or reads the body
 * file, runs the engine and prints the report. All state lives in main's frame; the modules own
 * nothing global. Exit status: 0 run completed, 1 run failed (e.g. no connection), 2 usage. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "engine.h"
#include "evgen.h"
#include "sl_buf.h"
#include "lterr.h"
#include "report.h"

static const char usage_text[] =
    "usage: sluice-load [--url URL] (--rate R | --max) [options]\n"
    "\n"
    "Sends Segment e-commerce events (or a fixed body) over HTTP/1.1 keep-alive connections and\n"
    "reports throughput, status counts and latency percentiles.\n"
    "\n"
    "Load:\n"
    "  --url URL              server, http://HOST[:PORT][/PATH] (default http://127.0.0.1:8088)\n"
    "  --rate R               open loop: R requests/s on a fixed timeline; latency is measured\n"
    "                         from each request's scheduled time (no coordinated omission)\n"
    "  --max                  closed loop: keep every connection busy (default)\n"
    "  --duration S           measured seconds (default 10; fractions allowed)\n"
    "  --warmup S             seconds of load before measuring (default 0)\n"
    "  --connections N        keep-alive connections (default 16)\n"
    "  --pipeline D           requests in flight per connection (default 1 = no pipelining)\n"
    "  --idle N               also open N connections that send nothing, held for the run\n"
    "                         (with --connections 0: only hold them, e.g. to measure server RSS)\n"
    "  --drain S              after the end, wait up to S s for responses (default 5)\n"
    "  --connect-timeout S    (default 10)\n"
    "\n"
    "Bodies (default: generated events, ~600 bytes each, unique messageIds):\n"
    "  --batch B              B events per request to /v1/batch ({\"batch\":[...]}); default 0 =\n"
    "                         one event per request to /v1/track, /v1/identify or /v1/page\n"
    "  --calls LIST           single-event calls to mix: track,identify,page (default all)\n"
    "  --invalid F            fraction of events that violate specs/ecommerce.yaml (default 0)\n"
    "  --gzip                 gzip bodies (Content-Encoding: gzip); --gzip-level L (default 1)\n"
    "  --seed N               seed of the event mix (default 1); messageIds are unique anyway\n"
    "  --pool N               templates per event kind and validity (default 64)\n"
    "  --path P               send every request to P (a /v1/track path restricts the mix to\n"
    "                         track calls, /v1/batch implies --batch 1 when unset)\n"
    "  --body-file F          send the bytes of F as every body (any server, any --path)\n"
    "  --method M             request method (default POST)\n"
    "  --content-type T       (default application/json)\n"
    "  --write-key K          Authorization: Basic base64(K:)\n"
    "  --header 'N: V'        extra request header (repeatable, up to 8)\n"
    "\n"
    "Output:\n"
    "  --json                 one JSON object instead of the table\n"
    "  --ack-log F            append the messageId of every event of every 2xx response to F,\n"
    "                         one per line (all requests, warm-up included)\n"
    "  --dump-events N        print N generated events as NDJSON and exit (for `sluice check`)\n"
    "  -h, --help\n"
    "\n"
    "Counts and latencies cover requests due (open loop) or sent (closed loop) after the\n"
    "warm-up. Exit status: 0 done, 1 the run failed (no connection), 2 usage.\n";

typedef struct {
    const char *url;
    double rate;
    bool max;
    double duration, warmup, drain, connect_timeout;
    unsigned long connections, pipeline, idle, batch, pool;
    double invalid;
    bool gzip, json;
    long gzip_level;
    const char *write_key, *path, *body_file, *method, *content_type, *ack_log, *calls;
    const char *headers[8];
    unsigned nheaders;
    unsigned long long seed;
    long long dump;
} options;

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v != v) return LT_EUSAGE;
    *out = v;
    return 0;
}

static int parse_ulong(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    if (*s == '-') return LT_EUSAGE;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end) return LT_EUSAGE;
    *out = v;
    return 0;
}

/* Returns 0, 1 after --help, or LT_EUSAGE (message printed). */
static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->url = "http://127.0.0.1:8088";
    o->duration = 10;
    o->drain = 5;
    o->connect_timeout = 10;
    o->connections = 16;
    o->pipeline = 1;
    o->gzip_level = 1;
    o->method = "POST";
    o->content_type = "application/json";
    o->seed = 1;
    o->dump = -1;
    bool conn_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        bool takes = true;
        unsigned long ul = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 1;
        }
        if (!strcmp(a, "--max"))
            o->max = true, takes = false;
        else if (!strcmp(a, "--gzip"))
            o->gzip = true, takes = false;
        else if (!strcmp(a, "--json"))
            o->json = true, takes = false;
        else if (!v)
            rc = LT_EUSAGE;
        else if (!strcmp(a, "--url"))
            o->url = v;
        else if (!strcmp(a, "--rate"))
            rc = parse_double(v, &o->rate);
        else if (!strcmp(a, "--duration"))
            rc = parse_double(v, &o->duration);
        else if (!strcmp(a, "--warmup"))
            rc = parse_double(v, &o->warmup);
        else if (!strcmp(a, "--drain"))
            rc = parse_double(v, &o->drain);
        else if (!strcmp(a, "--connect-timeout"))
            rc = parse_double(v, &o->connect_timeout);
        else if (!strcmp(a, "--connections"))
            rc = parse_ulong(v, &o->connections), conn_set = 1;
        else if (!strcmp(a, "--pipeline"))
            rc = parse_ulong(v, &o->pipeline);
        else if (!strcmp(a, "--idle"))
            rc = parse_ulong(v, &o->idle);
        else if (!strcmp(a, "--batch"))
            rc = parse_ulong(v, &o->batch);
        else if (!strcmp(a, "--pool"))
            rc = parse_ulong(v, &o->pool);
        else if (!strcmp(a, "--invalid"))
            rc = parse_double(v, &o->invalid);
        else if (!strcmp(a, "--gzip-level")) {
            rc = parse_ulong(v, &ul);
            o->gzip_level = (long)ul;
        } else if (!strcmp(a, "--seed")) {
            rc = parse_ulong(v, &ul);
            o->seed = ul;
        } else if (!strcmp(a, "--dump-events")) {
            rc = parse_ulong(v, &ul);
            o->dump = (long long)ul;
        } else if (!strcmp(a, "--write-key"))
            o->write_key = v;
        else if (!strcmp(a, "--path"))
            o->path = v;
        else if (!strcmp(a, "--body-file"))
            o->body_file = v;
        else if (!strcmp(a, "--method"))
            o->method = v;
        else if (!strcmp(a, "--content-type"))
            o->content_type = v;
        else if (!strcmp(a, "--ack-log"))
            o->ack_log = v;
        else if (!strcmp(a, "--calls"))
            o->calls = v;
        else if (!strcmp(a, "--header")) {
            if (o->nheaders >= 8 || !strchr(v, ':'))
                rc = LT_EUSAGE;
            else
                o->headers[o->nheaders++] = v;
        } else {
            fprintf(stderr, "sluice-load: unknown option %s (see --help)\n", a);
            return LT_EUSAGE;
        }
        if (rc) {
            fprintf(stderr, "sluice-load: bad or missing value for %s (see --help)\n", a);
            return LT_EUSAGE;
        }
        if (takes) i++;
    }
    const char *why = NULL;
    if (o->rate < 0)
        why = "--rate must be positive";
    else if (o->rate > 0 && o->max)
        why = "--rate and --max exclude each other";
    else if (o->duration <= 0)
        why = "--duration must be positive";
    else if (o->warmup < 0 || o->drain < 0)
        why = "--warmup and --drain must not be negative";
    else if (o->pipeline < 1 || o->pipeline > 1024)
        why = "--pipeline must be 1..1024";
    else if (o->connections > 100000 || o->idle > 1000000)
        why = "too many connections";
    else if (o->batch > 100000)
        why = "--batch is too large";
    else if (o->invalid < 0 || o->invalid > 1)
        why = "--invalid must be within 0..1";
    else if (o->gzip_level < 1 || o->gzip_level > 9)
        why = "--gzip-level must be 1..9";
    else if (o->rate > 0 && o->connections == 0)
        why = "--rate needs --connections >= 1";
    if (why) {
        fprintf(stderr, "sluice-load: %s\n", why);
        return LT_EUSAGE;
    }
    if (!conn_set && o->idle) o->connections = 0;
    return 0;
}

/* Splits http://HOST[:PORT][/PATH] into parts (host malloc'd). Returns 0 or LT_EUSAGE. */
static int parse_url(const char *url, char **host, char **port, const char **path)
{
    if (strncasecmp(url, "http://", 7)) return LT_EUSAGE;
    const char *h = url + 7, *end = h + strcspn(h, "/");
    const char *hs = h, *he, *ps = NULL;
    if (*h == '[') {
        he = memchr(h, ']', (size_t)(end - h));
        if (!he) return LT_EUSAGE;
        hs = h + 1;
        if (he + 1 < end && he[1] == ':') ps = he + 2;
    } else {
        const char *colon = memchr(h, ':', (size_t)(end - h));
        he = colon ? colon : end;
        if (colon) ps = colon + 1;
    }
    if (he == hs) return LT_EUSAGE;
    *host = strndup(hs, (size_t)(he - hs));
    *port = ps ? strndup(ps, (size_t)(end - ps)) : strdup("80");
    *path = *end ? end : NULL;
    if (!*host || !*port) return LT_ENOMEM;
    return 0;
}

static void base64(const char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)in[i] << 16;
        if (i + 1 < n) v |= (unsigned)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

static int read_file(const char *path, sl_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f) return LT_EIO;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sl_buf_put(b, chunk, n);
    int rc = ferror(f) ? LT_EIO : b->oom ? LT_ENOMEM : 0;
    fclose(f);
    return rc;
}

/* The calls a forced path allows in single-event mode (0 = any); may turn batching on. */
static unsigned calls_for_path(const char *path, unsigned long *batch)
{
    if (!path) return 0;
    if (!strcmp(path, "/v1/track") || !strcmp(path, "/v1/t")) return 1u << EVGEN_TRACK;
    if (!strcmp(path, "/v1/identify") || !strcmp(path, "/v1/i")) return 1u << EVGEN_IDENTIFY;
    if (!strcmp(path, "/v1/page") || !strcmp(path, "/v1/p")) return 1u << EVGEN_PAGE;
    if (!strcmp(path, "/v1/batch") || !strcmp(path, "/v1/b") || !strcmp(path, "/v1/import")) {
        if (!*batch) *batch = 1;
    }
    return 0;
}

static int parse_calls(const char *list, unsigned *mask)
{
    *mask = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 5 && !strncmp(p, "track", 5))
            *mask |= 1u << EVGEN_TRACK;
        else if (n == 8 && !strncmp(p, "identify", 8))
            *mask |= 1u << EVGEN_IDENTIFY;
        else if (n == 4 && !strncmp(p, "page", 4))
            *mask |= 1u << EVGEN_PAGE;
        else
            return LT_EUSAGE;
        p += n;
        if (*p == ',') p++;
    }
    return *mask ? 0 : LT_EUSAGE;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : 2;

    int status = 1;
    char *host = NULL, *port = NULL;
    const char *url_path = NULL;
    evgen *gen = NULL;
    FILE *ack = NULL;
    engine_stats *st = NULL;
    sl_buf body, hdrs;
    body = (sl_buf){0};
    hdrs = (sl_buf){0};
    struct addrinfo *ai = NULL;

    const char *path = o.path;
    unsigned mask = calls_for_path(path, &o.batch);
    if (o.calls && parse_calls(o.calls, &mask)) {
        fprintf(stderr, "sluice-load: --calls takes a list of track, identify, page\n");
        status = 2;
        goto out;
    }
    if (!o.body_file) {
        evgen_config gc = {.seed = o.seed,
                           .invalid = o.invalid,
                           .batch = (unsigned)o.batch,
                           .calls_mask = mask,
                           .gzip = o.gzip,
                           .gzip_level = (int)o.gzip_level,
                           .pool = (unsigned)o.pool};
        rc = evgen_new(&gc, &gen);
        if (rc) {
            fprintf(stderr, "sluice-load: event generator: %s\n", lt_strerror(rc));
            goto out;
        }
    }
    if (o.dump >= 0) {
        if (!gen) {
            fprintf(stderr, "sluice-load: --dump-events generates events; drop --body-file\n");
            status = 2;
            goto out;
        }
        rc = evgen_dump(gen, stdout, (uint64_t)o.dump);
        if (rc) fprintf(stderr, "sluice-load: --dump-events: %s\n", lt_strerror(rc));
        status = rc ? 1 : 0;
        goto out;
    }

    rc = parse_url(o.url, &host, &port, &url_path);
    if (rc) {
        fprintf(stderr, "sluice-load: --url must look like http://HOST[:PORT][/PATH]: %s\n", o.url);
        status = 2;
        goto out;
    }
    if (!path && url_path && strcmp(url_path, "/")) {
        path = url_path;
        if (gen && calls_for_path(path, &o.batch)) {
            fprintf(stderr, "sluice-load: give an event endpoint with --path, not in --url\n");
            status = 2;
            goto out;
        }
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai || !ai) {
        fprintf(stderr, "sluice-load: cannot resolve %s:%s: %s\n", host, port, gai_strerror(gai));
        goto out;
    }

    if (o.body_file) {
        rc = read_file(o.body_file, &body);
        if (rc) {
            fprintf(stderr, "sluice-load: cannot read %s: %s\n", o.body_file,
                    rc == LT_EIO ? strerror(errno) : lt_strerror(rc));
            goto out;
        }
        if (o.gzip) sl_buf_puts(&hdrs, "Content-Encoding: gzip\r\n");
    }
    if (o.write_key) {
        size_t kl = strlen(o.write_key);
        char *raw = malloc(kl + 2), *enc = malloc((kl + 2) / 3 * 4 + 8);
        if (!raw || !enc) {
            free(raw);
            free(enc);
            goto out;
        }
        memcpy(raw, o.write_key, kl);
        raw[kl] = ':';
        base64(raw, kl + 1, enc);
        sl_buf_printf(&hdrs, "Authorization: Basic %s\r\n", enc);
        free(raw);
        free(enc);
    }
    for (unsigned i = 0; i < o.nheaders; i++)
        sl_buf_printf(&hdrs, "%s\r\n", o.headers[i]);
    sl_buf_putc(&hdrs, 0);
    if (hdrs.oom || body.oom) goto out;

    if (o.ack_log) {
        ack = fopen(o.ack_log, "a");
        if (!ack) {
            fprintf(stderr, "sluice-load: cannot open %s: %s\n", o.ack_log, strerror(errno));
            goto out;
        }
        setvbuf(ack, NULL, _IOFBF, 1 << 20);
    }
    raise_fd_limit();

    char host_header[300];
    if (strchr(host, ':'))
        snprintf(host_header, sizeof host_header, "[%s]:%s", host, port);
    else
        snprintf(host_header, sizeof host_header, "%s:%s", host, port);
    engine_config ec = {.host_header = host_header,
                        .connections = (unsigned)o.connections,
                        .pipeline = (unsigned)o.pipeline,
                        .idle = (unsigned)o.idle,
                        .rate = o.rate,
                        .duration_s = o.duration,
                        .warmup_s = o.warmup,
                        .drain_s = o.drain,
                        .connect_timeout_s = o.connect_timeout,
                        .method = o.method,
                        .path = path,
                        .extra_headers = hdrs.p,
                        .content_type = o.content_type,
                        .gzip = o.gzip,
                        .fixed_body = o.body_file ? (body.p ? body.p : "") : NULL,
                        .fixed_len = body.n,
                        .gen = gen,
                        .ack_log = ack};
    memcpy(&ec.addr, ai->ai_addr, ai->ai_addrlen);
    st = calloc(1, sizeof *st);
    if (!st) goto out;
    char err[256];
    rc = engine_run(&ec, st, err, sizeof err);
    if (rc) {
        fprintf(stderr, "sluice-load: %s: %s\n", o.url, err[0] ? err : lt_strerror(rc));
        goto out;
    }
    report_run run = {.url = o.url,
                      .mode = !o.connections ? "idle"
                              : o.rate > 0   ? "open"
                                             : "closed",
                      .rate = o.rate,
                      .duration_s = o.duration,
                      .warmup_s = o.warmup,
                      .connections = (unsigned)o.connections,
                      .pipeline = (unsigned)o.pipeline,
                      .idle = (unsigned)o.idle,
                      .batch = (unsigned)o.batch,
                      .invalid = o.invalid,
                      .gzip = o.gzip,
                      .path = path,
                      .body_file = o.body_file,
                      .mean_event_bytes = gen ? evgen_mean_event_bytes(gen) : 0,
                      .seed = o.seed};
    if (o.json)
        rc = report_json(stdout, &run, st);
    else
        report_human(stdout, &run, st);
    status = rc ? 1 : 0;
out:
    if (ack && fclose(ack)) {
        fprintf(stderr, "sluice-load: writing %s: %s\n", o.ack_log, strerror(errno));
        status = 1;
    }
    if (ai) freeaddrinfo(ai);
    free(st);
    free(host);
    free(port);
    sl_buf_free(&body);
    sl_buf_free(&hdrs);
    evgen_free(gen);
    return status;
}
