/* alert.c - alert rules, counters and evaluation, delivery (see alert.h for the promises).
 *
 * Counters: a table of event names split into ALERT_SHARDS shards, each behind its own mutex
 * (a note hashes the name, locks one shard, bumps two counters). Each entry keeps a ring of
 * time buckets (total, invalid) covering the longest horizon any rule needs (window + baseline);
 * the bucket width is horizon / ALERT_RING_TARGET, at least ALERT_BUCKET_MIN_S, so windows are
 * measured in whole buckets (the newest, partial bucket included). Entries are only created by
 * notes and only freed by alert_tick (when idle past the horizon), so pointers to entries stay
 * valid through one tick; names are immutable after creation.
 * Evaluation (loop thread) collects candidates shard by shard under the lock, then emits them
 * without any lock: cooldown per (kind, event), at most max_alerts_per_tick, then log line,
 * webhook POST (webhook.c) and Redis PUBLISH (hiredis async with our own deadlines, since
 * hiredis 0.14 has none). The unplanned names announced (by this run or an earlier one) are a
 * sorted set next to the channel, loaded once at start, so a restart does not announce them again.
 */
#include "alert.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "redisuv.h"
#include "rlink.h"
#include "sl_buf.h"
#include "srcmap.h"
#include "webhook.h"
#include "yamlj.h"

#define ALERT_SHARDS 16
#define ALERT_SHARD_HEADS 256
#define ALERT_RING_TARGET 720
#define ALERT_BUCKET_MIN_S 10
#define ALERT_HOUSEKEEP_MS 100
#define ALERT_PUB_MAX_INFLIGHT 256
#define ALERT_PUB_BACKOFF_MIN_MS 100
#define ALERT_PUB_BACKOFF_MAX_MS 5000
#define ALERT_COOLDOWN_HEADS 256
#define ALERT_MAX_WINDOW_S (7 * 86400u)

const char *alert_kind_name(alert_kind k)
{
    static const char *const names[] = {
#define ALERT_KIND_NAME(id, name) name,
        ALERT_KIND_MAP(ALERT_KIND_NAME)
#undef ALERT_KIND_NAME
    };
    return (unsigned)k < ALERT__COUNT ? names[k] : "unknown";
}

static int kind_from_name(const char *s)
{
    for (int k = 0; k < ALERT__COUNT; k++)
        if (strcmp(s, alert_kind_name((alert_kind)k)) == 0) return k;
    return -1;
}

/* ==== rules ================================================================================= */

static void rule_set_defaults(alert_rule *r, alert_kind k)
{
    memset(r, 0, sizeof *r);
    r->kind = k;
    switch (k) {
    case ALERT_VIOLATION_RATE:
        r->threshold_pct = 20;
        r->window_s = 300;
        r->min_events = 20;
        break;
    case ALERT_SILENCE:
        r->threshold_pct = 10;
        r->window_s = 300;
        r->baseline_s = 3600;
        r->min_events = 20;
        break;
    case ALERT_HEALTH:
        r->redis_down_s = 30;
        r->spool_pct = 80;
        break;
    default:
        break;
    }
}

void alert_rules_cleanup(alert_rules *r)
{
    for (size_t i = 0; i < r->nrules; i++)
        free(r->rules[i].event);
    free(r->rules);
    for (size_t i = 0; i < r->nwebhooks; i++)
        free(r->webhooks[i]);
    free(r->webhooks);
    free(r->channel);
    memset(r, 0, sizeof *r);
}

static int default_rule_list(alert_rule **out, size_t *n)
{
    alert_rule *v = calloc(ALERT__COUNT, sizeof *v);
    if (!v) return SL_ENOMEM;
    for (int k = 0; k < ALERT__COUNT; k++) {
        rule_set_defaults(&v[k], (alert_kind)k);
        if (k == ALERT_VIOLATION_RATE || k == ALERT_SILENCE) {
            v[k].event = strdup("*");
            if (!v[k].event) {
                for (int j = 0; j <= k; j++)
                    free(v[j].event);
                free(v);
                return SL_ENOMEM;
            }
        }
    }
    *out = v;
    *n = ALERT__COUNT;
    return 0;
}

int alert_rules_defaults(alert_rules *r)
{
    memset(r, 0, sizeof *r);
    r->cooldown_s = 600;
    r->eval_interval_ms = 5000;
    r->webhook_timeout_ms = 5000;
    r->webhook_attempts = 5;
    r->webhook_backoff_ms = 1000;
    r->webhook_backoff_max_ms = 60000;
    r->max_events = 10000;
    r->max_alerts_per_tick = 20;
    r->channel = strdup("sluice:alerts");
    if (!r->channel || default_rule_list(&r->rules, &r->nrules)) {
        alert_rules_cleanup(r);
        return SL_ENOMEM;
    }
    return 0;
}

int alert_rules_add_webhook(alert_rules *r, const char *url, char *err, size_t errlen)
{
    webhook_url u;
    int rc = webhook_url_parse(url, &u, err, errlen);
    if (rc) return rc;
    webhook_url_cleanup(&u);
    char **v = realloc(r->webhooks, (r->nwebhooks + 1) * sizeof *v);
    if (!v) return SL_ENOMEM;
    r->webhooks = v;
    if (!(v[r->nwebhooks] = strdup(url))) return SL_ENOMEM;
    r->nwebhooks++;
    return 0;
}

/* ---- YAML loading ------------------------------------------------------------------------- */

typedef struct {
    srcmap *map;
    sl_diags *d;
    size_t nerr;
} loader;

static void ld_err(loader *l, const cJSON *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ld_err(loader *l, const cJSON *node, const char *fmt, ...)
{
    int line = 0, col = 0;
    if (node) srcmap_get(l->map, node, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    sl_diags_vadd(l->d, SL_SEV_ERROR, line, col, fmt, ap);
    va_end(ap);
    l->nerr++;
}

/* Duration: a number of seconds, or a string "<number><unit>" with unit ms, s, m, h or d.
 * Result in milliseconds, within [min_ms, max_ms]. */
static bool ld_duration_ms(loader *l, const cJSON *n, double min_ms, double max_ms, double *out)
{
    double ms;
    if (cJSON_IsNumber(n)) {
        ms = n->valuedouble * 1000;
    } else if (cJSON_IsString(n)) {
        char *end;
        double v = strtod(n->valuestring, &end);
        double mult = 0;
        if (end != n->valuestring) {
            if (strcmp(end, "ms") == 0)
                mult = 1;
            else if (strcmp(end, "s") == 0)
                mult = 1000;
            else if (strcmp(end, "m") == 0)
                mult = 60000;
            else if (strcmp(end, "h") == 0)
                mult = 3600000;
            else if (strcmp(end, "d") == 0)
                mult = 86400000;
        }
        if (!mult || !isfinite(v)) {
            ld_err(l, n, "'%s': expected a duration such as 30s, 5m, 1h or 500ms", n->string);
            return false;
        }
        ms = v * mult;
    } else {
        ld_err(l, n, "'%s': expected a duration such as 30s, 5m, 1h or 500ms", n->string);
        return false;
    }
    if (!(ms >= min_ms && ms <= max_ms)) {
        ld_err(l, n, "'%s': duration out of range (%g s to %g s)", n->string, min_ms / 1000,
               max_ms / 1000);
        return false;
    }
    *out = ms;
    return true;
}

static bool ld_seconds(loader *l, const cJSON *n, double min_s, double max_s, unsigned *out)
{
    double ms;
    if (!ld_duration_ms(l, n, min_s * 1000, max_s * 1000, &ms)) return false;
    *out = (unsigned)ceil(ms / 1000);
    return true;
}

static bool ld_millis(loader *l, const cJSON *n, double min_ms, double max_ms, unsigned *out)
{
    double ms;
    if (!ld_duration_ms(l, n, min_ms, max_ms, &ms)) return false;
    *out = (unsigned)ceil(ms);
    return true;
}

/* Percentage: a number, or a string "<number>%"; within (0, 100]. */
static bool ld_percent(loader *l, const cJSON *n, double *out)
{
    double v = NAN;
    if (cJSON_IsNumber(n)) {
        v = n->valuedouble;
    } else if (cJSON_IsString(n)) {
        char *end;
        double x = strtod(n->valuestring, &end);
        if (end != n->valuestring && strcmp(end, "%") == 0) v = x;
    }
    if (!(v > 0 && v <= 100)) {
        ld_err(l, n, "'%s': expected a percentage in (0, 100], such as 20 or \"20%%\"", n->string);
        return false;
    }
    *out = v;
    return true;
}

static bool ld_uint(loader *l, const cJSON *n, double min, double max, double *out)
{
    if (!cJSON_IsNumber(n) || n->valuedouble != floor(n->valuedouble) || n->valuedouble < min ||
        n->valuedouble > max) {
        ld_err(l, n, "'%s': expected an integer from %.0f to %.0f", n->string, min, max);
        return false;
    }
    *out = n->valuedouble;
    return true;
}

static bool ld_string(loader *l, const cJSON *n, char **out)
{
    if (!cJSON_IsString(n)) {
        ld_err(l, n, "'%s': expected a string", n->string);
        return false;
    }
    char *s = strdup(n->valuestring);
    if (!s) {
        ld_err(l, n, "out of memory");
        return false;
    }
    free(*out);
    *out = s;
    return true;
}

static void ld_rule(loader *l, const cJSON *node, alert_rule *r)
{
    if (!cJSON_IsObject(node)) {
        ld_err(l, node, "a rule must be a mapping with an 'alert' key");
        return;
    }
    const cJSON *kn = cJSON_GetObjectItemCaseSensitive(node, "alert");
    if (!kn) {
        ld_err(l, node,
               "rule without 'alert' (one of violation_rate, unplanned_event, silence, "
               "health)");
        return;
    }
    int k = cJSON_IsString(kn) ? kind_from_name(kn->valuestring) : -1;
    if (k < 0) {
        ld_err(l, kn, "'alert': expected violation_rate, unplanned_event, silence or health");
        return;
    }
    rule_set_defaults(r, (alert_kind)k);
    srcmap_get(l->map, node, &r->line, &r->col);
    if (k == ALERT_VIOLATION_RATE || k == ALERT_SILENCE) {
        r->event = strdup("*");
        if (!r->event) ld_err(l, node, "out of memory");
    }
    const cJSON *window = NULL, *baseline = NULL;
    for (const cJSON *m = node->child; m; m = m->next) {
        const char *key = m->string;
        double v;
        if (strcmp(key, "alert") == 0) continue;
        if ((k == ALERT_VIOLATION_RATE || k == ALERT_SILENCE) && strcmp(key, "event") == 0) {
            if (ld_string(l, m, &r->event) && !r->event[0]) ld_err(l, m, "'event': empty name");
        } else if (k == ALERT_VIOLATION_RATE && strcmp(key, "total") == 0) {
            if (!cJSON_IsBool(m))
                ld_err(l, m, "'total': expected true or false");
            else
                r->total = cJSON_IsTrue(m);
        } else if (k == ALERT_VIOLATION_RATE && strcmp(key, "above") == 0) {
            ld_percent(l, m, &r->threshold_pct);
        } else if (k == ALERT_SILENCE && strcmp(key, "below") == 0) {
            ld_percent(l, m, &r->threshold_pct);
        } else if ((k == ALERT_VIOLATION_RATE || k == ALERT_SILENCE) &&
                   strcmp(key, "window") == 0) {
            window = m;
            ld_seconds(l, m, ALERT_BUCKET_MIN_S, ALERT_MAX_WINDOW_S, &r->window_s);
        } else if (k == ALERT_SILENCE && strcmp(key, "baseline") == 0) {
            baseline = m;
            ld_seconds(l, m, ALERT_BUCKET_MIN_S, ALERT_MAX_WINDOW_S, &r->baseline_s);
        } else if ((k == ALERT_VIOLATION_RATE && strcmp(key, "min_events") == 0) ||
                   (k == ALERT_SILENCE && strcmp(key, "min_baseline") == 0)) {
            if (ld_uint(l, m, k == ALERT_SILENCE ? 1 : 0, 1e9, &v)) r->min_events = (unsigned)v;
        } else if (k == ALERT_HEALTH && strcmp(key, "redis_down") == 0) {
            if (cJSON_IsFalse(m))
                r->redis_down_s = 0;
            else
                ld_seconds(l, m, 1, ALERT_MAX_WINDOW_S, &r->redis_down_s);
        } else if (k == ALERT_HEALTH && strcmp(key, "spool_above") == 0) {
            if (cJSON_IsFalse(m))
                r->spool_pct = 0;
            else
                ld_percent(l, m, &r->spool_pct);
        } else {
            ld_err(l, m, "unknown key '%s' in a %s rule", key, alert_kind_name((alert_kind)k));
        }
    }
    if (k == ALERT_SILENCE && r->baseline_s < r->window_s)
        ld_err(l,
               baseline ? baseline
               : window ? window
                        : node,
               "silence: 'baseline' (%us) must be at least 'window' (%us)", r->baseline_s,
               r->window_s);
}

static void ld_webhook_settings(loader *l, const cJSON *node, alert_rules *r)
{
    if (!cJSON_IsObject(node)) {
        ld_err(l, node, "'webhook': expected a mapping (timeout, attempts, backoff, backoff_max)");
        return;
    }
    for (const cJSON *m = node->child; m; m = m->next) {
        double v;
        if (strcmp(m->string, "timeout") == 0)
            ld_millis(l, m, 10, 600000, &r->webhook_timeout_ms);
        else if (strcmp(m->string, "backoff") == 0)
            ld_millis(l, m, 1, 3600000, &r->webhook_backoff_ms);
        else if (strcmp(m->string, "backoff_max") == 0)
            ld_millis(l, m, 1, 86400000, &r->webhook_backoff_max_ms);
        else if (strcmp(m->string, "attempts") == 0) {
            if (ld_uint(l, m, 1, 100, &v)) r->webhook_attempts = (unsigned)v;
        } else
            ld_err(l, m, "unknown key '%s' in 'webhook'", m->string);
    }
}

static void ld_top(loader *l, const cJSON *root, alert_rules *r)
{
    if (cJSON_IsNull(root)) return; /* empty file: the defaults */
    if (!cJSON_IsObject(root)) {
        ld_err(l, root, "the alert rules file must be a mapping");
        return;
    }
    for (const cJSON *m = root->child; m; m = m->next) {
        const char *key = m->string;
        double v;
        if (strcmp(key, "cooldown") == 0) {
            ld_seconds(l, m, 0, ALERT_MAX_WINDOW_S, &r->cooldown_s);
        } else if (strcmp(key, "interval") == 0) {
            ld_millis(l, m, 100, 3600000, &r->eval_interval_ms);
        } else if (strcmp(key, "channel") == 0) {
            ld_string(l, m, &r->channel);
        } else if (strcmp(key, "max_events") == 0) {
            if (ld_uint(l, m, 1, 1e7, &v)) r->max_events = (size_t)v;
        } else if (strcmp(key, "max_alerts_per_tick") == 0) {
            if (ld_uint(l, m, 1, 1e6, &v)) r->max_alerts_per_tick = (unsigned)v;
        } else if (strcmp(key, "webhook") == 0) {
            ld_webhook_settings(l, m, r);
        } else if (strcmp(key, "webhooks") == 0) {
            if (!cJSON_IsArray(m)) {
                ld_err(l, m, "'webhooks': expected a list of http:// URLs");
                continue;
            }
            for (const cJSON *u = m->child; u; u = u->next) {
                char err[256];
                if (!cJSON_IsString(u))
                    ld_err(l, u, "'webhooks': expected a URL string");
                else if (alert_rules_add_webhook(r, u->valuestring, err, sizeof err))
                    ld_err(l, u, "%s", err);
            }
        } else if (strcmp(key, "rules") == 0) {
            if (!cJSON_IsArray(m)) {
                ld_err(l, m, "'rules': expected a list of rules");
                continue;
            }
            for (size_t i = 0; i < r->nrules; i++)
                free(r->rules[i].event);
            free(r->rules);
            r->rules = NULL;
            r->nrules = 0;
            size_t n = (size_t)cJSON_GetArraySize(m);
            if (n && !(r->rules = calloc(n, sizeof *r->rules))) {
                ld_err(l, m, "out of memory");
                continue;
            }
            for (const cJSON *it = m->child; it; it = it->next)
                ld_rule(l, it, &r->rules[r->nrules++]);
        } else {
            ld_err(l, m,
                   "unknown key '%s' (expected rules, webhooks, webhook, channel, cooldown, "
                   "interval, max_events, max_alerts_per_tick)",
                   key);
        }
    }
}

int alert_rules_parse(alert_rules *r, const char *buf, size_t len, sl_diags *d)
{
    int rc = alert_rules_defaults(r);
    if (rc) return rc;
    srcmap *map = srcmap_new();
    cJSON *root = NULL;
    if (!map) {
        rc = SL_ENOMEM;
        goto out;
    }
    rc = yamlj_load(buf, len, map, &root, d);
    if (rc) goto out;
    loader l = {map, d, 0};
    ld_top(&l, root, r);
    if (l.nerr) rc = SL_EUSAGE;
out:
    cJSON_Delete(root);
    srcmap_free(map);
    if (rc) alert_rules_cleanup(r);
    return rc;
}

int alert_rules_load(alert_rules *r, const char *path, sl_diags *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        memset(r, 0, sizeof *r);
        sl_diags_add(d, SL_SEV_ERROR, 0, 0, "cannot open alert rules: %m");
        return SL_ENOTFOUND;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= (1u << 20)) {
                sl_diags_add(d, SL_SEV_ERROR, 0, 0, "alert rules file larger than 1 MiB");
                rc = SL_ELIMIT;
                break;
            }
            cap = cap ? cap * 2 : 4096;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                rc = SL_ENOMEM;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                sl_diags_add(d, SL_SEV_ERROR, 0, 0, "cannot read alert rules");
                rc = SL_EIO;
            }
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        memset(r, 0, sizeof *r);
        return rc;
    }
    rc = alert_rules_parse(r, buf ? buf : "", len, d);
    free(buf);
    return rc;
}

/* ==== the engine ============================================================================ */

typedef struct entry {
    struct entry *next;
    uint32_t hash;
    bool planned;
    bool announced; /* unplanned_event emitted (or suppressed) for this entry */
    time_t stored;  /* unplanned: last_seen as last written to the Redis set of announced names */
    time_t last_seen;
    uint64_t seen;
    int64_t head; /* bucket index of the newest ring slot; slots past it are zero */
    const char *name;
    uint32_t cnt[]; /* nb pairs: [2i] total, [2i+1] invalid; the name follows */
} entry;

typedef struct {
    pthread_mutex_t mu;
    entry *heads[ALERT_SHARD_HEADS];
    size_t n;
} shard;

typedef struct cool {
    struct cool *next;
    alert_kind kind;
    time_t at;
    char name[];
} cool;

typedef struct {
    alert_kind kind;
    entry *e;          /* for unplanned_event; NULL otherwise */
    const char *event; /* borrowed: an entry name (valid through the tick) or a literal */
    double value, threshold;
    unsigned window_s; /* 0 = not applicable */
    uint64_t a, b;     /* details for the text */
    double c;
} candidate;

struct alert {
    uv_loop_t *loop;
    alert_rules rules;
    alert_config cfg;
    char *strs; /* owned copies of cfg strings */
    unsigned bucket_s;
    int64_t nb;         /* ring slots */
    unsigned horizon_s; /* entries idle this long are forgotten */
    size_t shard_cap;
    _Atomic int64_t origin; /* smallest bucket index seen: the start of our memory */
    _Atomic uint64_t notes_dropped;
    shard shards[ALERT_SHARDS];

    pthread_mutex_t health_mu;      /* also guards `recent` */
    char *recent[ALERT_RECENT_MAX]; /* fired alerts' JSON, a ring, newest at recent_head - 1 */
    size_t recent_head, recent_n;
    bool health_known, redis_up;
    time_t redis_down_since;
    double spool_fill;

    cool *cools[ALERT_COOLDOWN_HEADS];
    candidate *cand;
    size_t ncand, capcand;

    webhook *wh;
    uv_timer_t timer;
    uint64_t next_eval_ms;
    bool closing;
    int closing_parts;
    void (*close_done)(void *);
    void *close_ud;

    /* Unplanned names already announced, by this or an earlier run: the sorted set
     * CHANNEL:unplanned in Redis (name -> last seen), loaded once at start (`known`, sorted). Until
     * it has loaded (or known_wait_ms passed), unplanned_event candidates wait. */
    char *known_key;
    char **known;
    size_t nknown;
    bool known_ready;
    uint64_t known_wait_ms;
    struct refresh {
        const char *name; /* an entry's name, stable through the tick */
        time_t last_seen;
    } * refresh; /* announced unplanned names seen again: their time goes to Redis */
    size_t nrefresh, caprefresh;

    /* Redis publisher: up as soon as it connects (PUBLISH needs no handshake but AUTH) */
    rlink link;
    uint64_t pub_deadline[ALERT_PUB_MAX_INFLIGHT]; /* FIFO of in-flight PUBLISH deadlines */
    size_t pub_head, pub_n;

    alert_stats st;
};

static uint32_t hash_name(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static int64_t bucket_of(const alert *a, time_t t)
{
    return t < 0 ? 0 : (int64_t)t / a->bucket_s;
}

static void origin_min(alert *a, int64_t idx)
{
    int64_t cur = atomic_load_explicit(&a->origin, memory_order_relaxed);
    while (idx < cur && !atomic_compare_exchange_weak(&a->origin, &cur, idx)) {
    }
}

static void ring_add(const alert *a, entry *e, int64_t idx, bool valid)
{
    if (idx > e->head) {
        int64_t gap = idx - e->head;
        if (gap >= a->nb) {
            memset(e->cnt, 0, (size_t)a->nb * 2 * sizeof e->cnt[0]);
        } else {
            for (int64_t k = 1; k <= gap; k++) {
                int64_t s = (e->head + k) % a->nb;
                e->cnt[2 * s] = e->cnt[2 * s + 1] = 0;
            }
        }
        e->head = idx;
    } else if (e->head - idx >= a->nb) {
        return; /* older than the ring remembers */
    }
    int64_t s = idx % a->nb;
    if (e->cnt[2 * s] < UINT32_MAX) e->cnt[2 * s]++;
    if (!valid && e->cnt[2 * s + 1] < UINT32_MAX) e->cnt[2 * s + 1]++;
}

/* Sums buckets [from, to] (inclusive) of e. */
static void ring_sum(const alert *a, const entry *e, int64_t from, int64_t to, uint64_t *total,
                     uint64_t *invalid)
{
    if (from <= e->head - a->nb) from = e->head - a->nb + 1;
    if (to > e->head) to = e->head;
    for (int64_t i = from; i <= to; i++) {
        int64_t s = i % a->nb;
        *total += e->cnt[2 * s];
        *invalid += e->cnt[2 * s + 1];
    }
}

void alert_note(alert *a, const char *event, bool planned, bool valid, time_t now)
{
    if (!event) return;
    size_t n = strnlen(event, ALERT_NAME_MAX);
    uint32_t h = hash_name(event, n);
    shard *sh = &a->shards[h % ALERT_SHARDS];
    size_t head = (h / ALERT_SHARDS) % ALERT_SHARD_HEADS;
    int64_t idx = bucket_of(a, now);
    origin_min(a, idx);
    pthread_mutex_lock(&sh->mu);
    entry *e = sh->heads[head];
    while (e && !(e->hash == h && strncmp(e->name, event, n) == 0 && e->name[n] == '\0'))
        e = e->next;
    if (!e) {
        size_t counts = (size_t)a->nb * 2 * sizeof(uint32_t);
        if (sh->n >= a->shard_cap || !(e = calloc(1, sizeof *e + counts + n + 1))) {
            pthread_mutex_unlock(&sh->mu);
            atomic_fetch_add_explicit(&a->notes_dropped, 1, memory_order_relaxed);
            return;
        }
        char *name = (char *)e->cnt + counts;
        memcpy(name, event, n);
        name[n] = '\0';
        e->name = name;
        e->hash = h;
        e->head = idx;
        e->next = sh->heads[head];
        sh->heads[head] = e;
        sh->n++;
    }
    e->planned = planned;
    if (now > e->last_seen) e->last_seen = now;
    e->seen++;
    ring_add(a, e, idx, valid);
    pthread_mutex_unlock(&sh->mu);
}

void alert_health(alert *a, bool redis_up, double spool_fill, time_t now)
{
    pthread_mutex_lock(&a->health_mu);
    if (!redis_up && (a->redis_up || !a->health_known)) a->redis_down_since = now;
    a->redis_up = redis_up;
    a->health_known = true;
    a->spool_fill = spool_fill;
    pthread_mutex_unlock(&a->health_mu);
}

/* ---- Redis publisher ---------------------------------------------------------------------- */

static void pub_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    alert *a = privdata;
    redisReply *reply = r;
    if (a->pub_n) {
        a->pub_head = (a->pub_head + 1) % ALERT_PUB_MAX_INFLIGHT;
        a->pub_n--;
    }
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        a->st.publish_failed++;
    else
        a->st.published++;
}

static void pub_on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)privdata;
    redisReply *reply = r;
    alert *a = rlink_owner(ac);
    if (a && reply && reply->type == REDIS_REPLY_ERROR && a->cfg.log)
        a->cfg.log(a->cfg.log_ud, "alert: Redis AUTH failed for the alert publisher");
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static bool known_has(const alert *a, const char *name)
{
    return a->nknown && bsearch(&name, a->known, a->nknown, sizeof *a->known, cmp_str);
}

static void known_clear(alert *a)
{
    for (size_t i = 0; i < a->nknown; i++)
        free(a->known[i]);
    free(a->known);
    a->known = NULL;
    a->nknown = 0;
}

/* The reply to ZRANGEBYSCORE CHANNEL:unplanned: the names announced within the horizon. Any
 * failure leaves the set empty (names alert again, as without Redis). */
static void on_known(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    alert *a = privdata;
    redisReply *reply = r;
    if (a->known_ready) return;
    a->known_ready = true;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || !reply->elements) return;
    char **v = calloc(reply->elements, sizeof *v);
    if (!v) return;
    size_t n = 0;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type == REDIS_REPLY_STRING && (v[n] = strdup(e->str))) n++;
    }
    qsort(v, n, sizeof *v, cmp_str);
    known_clear(a);
    a->known = v;
    a->nknown = n;
}

/* Records that `name` was announced and last seen at t (fire and forget). */
static void known_store(alert *a, const char *name, time_t t)
{
    if (a->link.ac && a->known_key)
        redisAsyncCommand(a->link.ac, NULL, NULL, "ZADD %s %lld %s", a->known_key, (long long)t,
                          name);
}

static bool pub_start(void *owner, redisAsyncContext *ac)
{
    alert *a = owner;
    /* PUBLISH is the same on every database: AUTH only. */
    if (redisuv_handshake(ac, pub_on_auth, a->cfg.redis_username, a->cfg.redis_password, 0, false) <
        0)
        return false;
    if (!a->known_ready && a->known_key) {
        time_t now = a->cfg.clock ? a->cfg.clock(a->cfg.clock_ud) : time(NULL);
        long long cutoff = (long long)now - (long long)a->horizon_s;
        redisAsyncCommand(ac, NULL, NULL, "ZREMRANGEBYSCORE %s -inf (%lld", a->known_key, cutoff);
        redisAsyncCommand(ac, on_known, a, "ZRANGEBYSCORE %s %lld +inf", a->known_key, cutoff);
    }
    return true;
}

static void pub_send(alert *a, const char *msg, size_t len)
{
    if (!a->link.ac || a->pub_n >= ALERT_PUB_MAX_INFLIGHT) {
        a->st.publish_failed++;
        return;
    }
    if (redisAsyncCommand(a->link.ac, pub_on_reply, a, "PUBLISH %s %b", a->rules.channel, msg,
                          len) != REDIS_OK) {
        a->st.publish_failed++;
        return;
    }
    a->pub_deadline[(a->pub_head + a->pub_n) % ALERT_PUB_MAX_INFLIGHT] =
        uv_now(a->loop) + a->cfg.redis_timeout_ms;
    a->pub_n++;
}

static bool pub_enabled(const alert *a)
{
    return a->cfg.redis_host && a->rules.channel && a->rules.channel[0];
}

static void pub_housekeep(alert *a)
{
    uint64_t now = uv_now(a->loop);
    if (a->pub_n && now >= a->pub_deadline[a->pub_head])
        rlink_drop(&a->link); /* a stuck Redis: fail what is in flight, reconnect */
    if (!a->closing) rlink_tick(&a->link, now); /* connect timeout, reconnect */
}

/* ---- emission ----------------------------------------------------------------------------- */

static void log_line(alert *a, const char *line)
{
    if (a->cfg.log)
        a->cfg.log(a->cfg.log_ud, line);
    else
        fprintf(stderr, "%s\n", line);
}

static void fmt_dur(char *buf, size_t cap, unsigned s)
{
    if (s && s % 86400 == 0)
        snprintf(buf, cap, "%ud", s / 86400);
    else if (s && s % 3600 == 0)
        snprintf(buf, cap, "%uh", s / 3600);
    else if (s && s % 60 == 0)
        snprintf(buf, cap, "%um", s / 60);
    else
        snprintf(buf, cap, "%us", s);
}

/* Slack mrkdwn escaping (&, <, >) of an event name, truncated to fit. */
static void slack_escape(char *dst, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s; s++) {
        const char *rep = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : NULL;
        size_t rl = rep ? strlen(rep) : 1;
        if (o + rl + 1 > cap) break;
        if (rep)
            memcpy(dst + o, rep, rl);
        else
            dst[o] = *s;
        o += rl;
    }
    dst[o] = '\0';
}

static void candidate_text(const candidate *c, char *buf, size_t cap)
{
    char ev[ALERT_NAME_MAX * 5 + 1], w[32], bw[32];
    slack_escape(ev, sizeof ev, c->event);
    fmt_dur(w, sizeof w, c->window_s);
    switch (c->kind) {
    case ALERT_VIOLATION_RATE:
        if (strcmp(c->event, "*") == 0)
            snprintf(buf, cap,
                     ":rotating_light: Sluice: %.1f%% of all events broke the tracking plan over "
                     "the last %s (%llu of %llu invalid; threshold %g%%)",
                     c->value, w, (unsigned long long)c->b, (unsigned long long)c->a, c->threshold);
        else
            snprintf(buf, cap,
                     ":rotating_light: Sluice: %.1f%% of \"%s\" events broke the tracking plan "
                     "over the last %s (%llu of %llu invalid; threshold %g%%)",
                     c->value, ev, w, (unsigned long long)c->b, (unsigned long long)c->a,
                     c->threshold);
        break;
    case ALERT_UNPLANNED_EVENT:
        snprintf(buf, cap,
                 ":new: Sluice: new unplanned event \"%s\" (not in the tracking plan; seen %llu "
                 "time%s)",
                 ev, (unsigned long long)c->a, c->a == 1 ? "" : "s");
        break;
    case ALERT_SILENCE:
        fmt_dur(bw, sizeof bw, (unsigned)c->b);
        snprintf(buf, cap,
                 ":mute: Sluice: \"%s\" went quiet: %llu events in the last %s vs %.1f per %s "
                 "over the previous %s (%.1f%% of baseline; threshold %g%%)",
                 ev, (unsigned long long)c->a, w, c->c, w, bw, c->value, c->threshold);
        break;
    case ALERT_HEALTH:
        if (strcmp(c->event, "redis") == 0)
            snprintf(buf, cap,
                     ":warning: Sluice: Redis has been unreachable for %.0f s (threshold %g s)",
                     c->value, c->threshold);
        else
            snprintf(buf, cap, ":warning: Sluice: the spool is %.1f%% full (threshold %g%%)",
                     c->value, c->threshold);
        break;
    default:
        snprintf(buf, cap, "Sluice alert");
    }
}

/* Builds the JSON payload; malloc'd string or NULL on out-of-memory. */
static char *candidate_json(const candidate *c, time_t now, const char *text)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char ts[32];
    struct tm tm;
    time_t t = now;
    if (gmtime_r(&t, &tm))
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(ts, sizeof ts, "%lld", (long long)now);
    bool ok = cJSON_AddStringToObject(o, "alert", alert_kind_name(c->kind)) &&
              cJSON_AddStringToObject(o, "event", c->event) &&
              cJSON_AddNumberToObject(o, "value", round(c->value * 100) / 100) &&
              (c->kind == ALERT_UNPLANNED_EVENT
                   ? cJSON_AddNullToObject(o, "threshold") != NULL
                   : cJSON_AddNumberToObject(o, "threshold", c->threshold) != NULL) &&
              (c->window_s ? cJSON_AddNumberToObject(o, "window", c->window_s) != NULL
                           : cJSON_AddNullToObject(o, "window") != NULL) &&
              cJSON_AddStringToObject(o, "fired_at", ts) &&
              cJSON_AddStringToObject(o, "text", text);
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

static cool **cool_slot(alert *a, alert_kind k, const char *name)
{
    uint32_t h = hash_name(name, strlen(name)) ^ (uint32_t)k * 2654435761u;
    cool **pp = &a->cools[h % ALERT_COOLDOWN_HEADS];
    while (*pp && !((*pp)->kind == k && strcmp((*pp)->name, name) == 0))
        pp = &(*pp)->next;
    return pp;
}

/* Forgets cooldowns that have run out. */
static void cool_prune(alert *a, time_t now)
{
    for (size_t i = 0; i < ALERT_COOLDOWN_HEADS; i++) {
        cool **pp = &a->cools[i];
        while (*pp) {
            if ((*pp)->at + (time_t)a->rules.cooldown_s <= now) {
                cool *dead = *pp;
                *pp = dead->next;
                free(dead);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
}

/* Keeps the JSON of the last ALERT_RECENT_MAX alerts for alert_recent_json (takes json). */
static void recent_push(alert *a, char *json)
{
    pthread_mutex_lock(&a->health_mu);
    size_t slot = a->recent_head;
    free(a->recent[slot]);
    a->recent[slot] = json;
    a->recent_head = (slot + 1) % ALERT_RECENT_MAX;
    if (a->recent_n < ALERT_RECENT_MAX) a->recent_n++;
    pthread_mutex_unlock(&a->health_mu);
}

char *alert_recent_json(alert *a)
{
    size_t cap = 32;
    pthread_mutex_lock(&a->health_mu);
    for (size_t i = 0; i < a->recent_n; i++)
        cap += strlen(a->recent[i]) + 1;
    char *out = malloc(cap);
    if (out) {
        size_t n = (size_t)snprintf(out, cap, "{\"alerts\":[");
        for (size_t i = 0; i < a->recent_n; i++) { /* newest first */
            size_t slot = (a->recent_head + ALERT_RECENT_MAX - 1 - i) % ALERT_RECENT_MAX;
            size_t l = strlen(a->recent[slot]);
            if (i) out[n++] = ',';
            memcpy(out + n, a->recent[slot], l);
            n += l;
        }
        memcpy(out + n, "]}", 3);
    }
    pthread_mutex_unlock(&a->health_mu);
    return out;
}

static void emit(alert *a, const candidate *c, time_t now)
{
    char text[2048];
    candidate_text(c, text, sizeof text);
    char *json = candidate_json(c, now, text);
    char line[2300];
    snprintf(line, sizeof line, "alert %s: %s", alert_kind_name(c->kind), text);
    log_line(a, line);
    a->st.fired++;
    if (!json) return;
    size_t len = strlen(json);
    if (a->wh && webhook_url_count(a->wh)) webhook_post(a->wh, json, len);
    if (pub_enabled(a)) pub_send(a, json, len);
    recent_push(a, json);
}

/* ---- evaluation --------------------------------------------------------------------------- */

static bool cand_push(alert *a, const candidate *c)
{
    if (a->ncand == a->capcand) {
        size_t cap = a->capcand ? a->capcand * 2 : 64;
        candidate *v = realloc(a->cand, cap * sizeof *v);
        if (!v) return false;
        a->cand = v;
        a->capcand = cap;
    }
    a->cand[a->ncand++] = *c;
    return true;
}

/* Shard locked: e's name (stable through the tick) and last_seen, for known_store after it. */
static void refresh_push(alert *a, entry *e)
{
    if (sl_grow(&a->refresh, &a->caprefresh, a->nrefresh + 1, sizeof *a->refresh)) return;
    a->refresh[a->nrefresh++] = (struct refresh){e->name, e->last_seen};
    e->stored = e->last_seen;
}

static unsigned buckets_for(const alert *a, unsigned s)
{
    unsigned n = (s + a->bucket_s - 1) / a->bucket_s;
    return n ? n : 1;
}

static bool name_matches(const alert_rule *r, const entry *e)
{
    return strcmp(r->event, "*") == 0 || strcmp(r->event, e->name) == 0;
}

/* Collects the candidates of one shard (locked by the caller) and forgets idle entries. */
static void eval_shard(alert *a, shard *sh, time_t now, int64_t cur, uint64_t *tot_total,
                       uint64_t *tot_invalid)
{
    int64_t origin = atomic_load_explicit(&a->origin, memory_order_relaxed);
    for (size_t h = 0; h < ALERT_SHARD_HEADS; h++) {
        entry **pp = &sh->heads[h];
        while (*pp) {
            entry *e = *pp;
            if (e->last_seen + (time_t)a->horizon_s < now) {
                *pp = e->next;
                sh->n--;
                free(e);
                continue;
            }
            pp = &e->next;
            for (size_t ri = 0; ri < a->rules.nrules; ri++) {
                const alert_rule *r = &a->rules.rules[ri];
                candidate c = {.kind = r->kind, .event = e->name, .threshold = r->threshold_pct};
                if (r->kind == ALERT_VIOLATION_RATE) {
                    if (!name_matches(r, e)) continue;
                    /* The current, partial bucket and W whole ones before it: the window
                     * always holds at least its length of history (with only W buckets, a
                     * spike just before a bucket boundary would vanish from a one-bucket
                     * window the moment the boundary passed). */
                    uint64_t t = 0, inv = 0;
                    int64_t W = buckets_for(a, r->window_s);
                    ring_sum(a, e, cur - W, cur, &t, &inv);
                    if (r->total) {
                        tot_total[ri] += t;
                        tot_invalid[ri] += inv;
                        continue;
                    }
                    /* Unplanned events are 100% invalid by definition: unplanned_event covers
                     * them. */
                    if (!e->planned || t == 0 || t < r->min_events) continue;
                    c.value = (double)inv * 100.0 / (double)t;
                    if (!(c.value > r->threshold_pct)) continue;
                    c.window_s = r->window_s;
                    c.a = t;
                    c.b = inv;
                    cand_push(a, &c);
                } else if (r->kind == ALERT_UNPLANNED_EVENT) {
                    if (!e->planned && e->announced &&
                        e->last_seen - e->stored >= (time_t)(a->horizon_s / 4 + 1))
                        refresh_push(a, e);
                    if (e->planned || e->announced) continue;
                    c.e = e;
                    c.a = e->seen;
                    c.value = (double)e->seen;
                    cand_push(a, &c);
                } else if (r->kind == ALERT_SILENCE) {
                    if (!e->planned || !name_matches(r, e)) continue;
                    int64_t W = buckets_for(a, r->window_s), B = buckets_for(a, r->baseline_s);
                    int64_t wfrom = cur - W + 1, bfrom = wfrom - B, bto = wfrom - 1;
                    if (wfrom < origin) continue; /* the window itself predates our memory */
                    int64_t covered = bto - (bfrom > origin ? bfrom : origin) + 1;
                    if (covered < W) continue; /* not one full window of baseline yet */
                    uint64_t ct = 0, ci = 0, bt = 0, bi = 0;
                    ring_sum(a, e, wfrom, cur, &ct, &ci);
                    ring_sum(a, e, bfrom, bto, &bt, &bi);
                    double avg = (double)bt * (double)W / (double)covered;
                    if (avg < r->min_events || avg <= 0) continue;
                    c.value = (double)ct * 100.0 / avg;
                    if (!(c.value < r->threshold_pct)) continue;
                    c.window_s = r->window_s;
                    c.a = ct;
                    c.b = r->baseline_s;
                    c.c = avg;
                    cand_push(a, &c);
                }
            }
        }
    }
}

int alert_tick(alert *a, time_t now)
{
    if (a->closing) return 0;
    int64_t cur = bucket_of(a, now);
    origin_min(a, cur);
    a->ncand = 0;
    size_t nr = a->rules.nrules;
    uint64_t *tot = calloc(nr ? 2 * nr : 1, sizeof *tot);
    if (!tot) return 0;
    for (size_t i = 0; i < ALERT_SHARDS; i++) {
        pthread_mutex_lock(&a->shards[i].mu);
        eval_shard(a, &a->shards[i], now, cur, tot, tot + nr);
        pthread_mutex_unlock(&a->shards[i].mu);
    }
    bool hknown, hup;
    time_t hsince;
    double hspool;
    pthread_mutex_lock(&a->health_mu);
    hknown = a->health_known;
    hup = a->redis_up;
    hsince = a->redis_down_since;
    hspool = a->spool_fill;
    pthread_mutex_unlock(&a->health_mu);
    for (size_t ri = 0; ri < nr; ri++) {
        const alert_rule *r = &a->rules.rules[ri];
        candidate c = {.kind = r->kind, .threshold = r->threshold_pct};
        if (r->kind == ALERT_VIOLATION_RATE && r->total) {
            uint64_t t = tot[ri], inv = tot[nr + ri];
            if (t == 0 || t < r->min_events) continue;
            c.value = (double)inv * 100.0 / (double)t;
            if (!(c.value > r->threshold_pct)) continue;
            c.event = strcmp(r->event, "*") == 0 ? "*" : r->event;
            c.window_s = r->window_s;
            c.a = t;
            c.b = inv;
            cand_push(a, &c);
        } else if (r->kind == ALERT_HEALTH && hknown) {
            if (r->redis_down_s && !hup && now - hsince > (time_t)r->redis_down_s) {
                c.event = "redis";
                c.value = (double)(now - hsince);
                c.threshold = r->redis_down_s;
                cand_push(a, &c);
            }
            if (r->spool_pct > 0 && hspool * 100 > r->spool_pct) {
                c.event = "spool";
                c.value = hspool * 100;
                c.threshold = r->spool_pct;
                cand_push(a, &c);
            }
        }
    }
    free(tot);

    for (size_t i = 0; i < a->nrefresh; i++)
        known_store(a, a->refresh[i].name, a->refresh[i].last_seen);
    a->nrefresh = 0;
    if (!a->known_ready && uv_now(a->loop) >= a->known_wait_ms) a->known_ready = true;

    cool_prune(a, now);
    int emitted = 0;
    for (size_t i = 0; i < a->ncand; i++) {
        const candidate *c = &a->cand[i];
        if (c->e && !a->known_ready) continue; /* next tick: the known names are loading */
        if (c->e && known_has(a, c->event)) {  /* announced by an earlier run */
            shard *sh = &a->shards[c->e->hash % ALERT_SHARDS];
            pthread_mutex_lock(&sh->mu);
            c->e->announced = true;
            pthread_mutex_unlock(&sh->mu);
            continue;
        }
        cool **slot = cool_slot(a, c->kind, c->event);
        bool announce = false;
        if (*slot) {
            a->st.suppressed++;
            announce = true;
        } else if ((unsigned)emitted >= a->rules.max_alerts_per_tick) {
            a->st.deferred++;
        } else {
            size_t n = strlen(c->event);
            cool *k = malloc(sizeof *k + n + 1);
            if (k) {
                k->next = NULL;
                k->kind = c->kind;
                k->at = now;
                memcpy(k->name, c->event, n + 1);
                *slot = k;
            }
            emit(a, c, now);
            emitted++;
            announce = true;
        }
        if (announce && c->e) {
            shard *sh = &a->shards[c->e->hash % ALERT_SHARDS];
            pthread_mutex_lock(&sh->mu);
            c->e->announced = true;
            c->e->stored = c->e->last_seen;
            time_t seen = c->e->last_seen;
            pthread_mutex_unlock(&sh->mu);
            known_store(a, c->event, seen);
        }
    }
    a->ncand = 0;
    return emitted;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t)
{
    alert *a = t->data;
    if (pub_enabled(a)) pub_housekeep(a);
    if (!a->cfg.manual_tick && uv_now(a->loop) >= a->next_eval_ms) {
        a->next_eval_ms = uv_now(a->loop) + a->rules.eval_interval_ms;
        alert_tick(a, a->cfg.clock ? a->cfg.clock(a->cfg.clock_ud) : time(NULL));
    }
}

static void on_webhook_result(void *ud, const char *url, bool ok, unsigned attempts, int status,
                              int err)
{
    alert *a = ud;
    if (ok) return;
    char line[512];
    char why[128];
    if (err)
        snprintf(why, sizeof why, "%s", uv_strerror(err));
    else
        snprintf(why, sizeof why, "HTTP %d", status);
    snprintf(line, sizeof line, "alert: webhook %s given up after %u attempt%s (last: %s)", url,
             attempts, attempts == 1 ? "" : "s", why);
    log_line(a, line);
}

static int copy_cfg_strings(alert *a, const alert_config *cfg)
{
    const char *src[] = {cfg->redis_host, cfg->redis_username, cfg->redis_password};
    const char **dst[] = {&a->cfg.redis_host, &a->cfg.redis_username, &a->cfg.redis_password};
    a->strs = sl_strs_copy(sizeof src / sizeof src[0], src, dst);
    return a->strs ? 0 : SL_ENOMEM;
}

static int copy_rules(alert_rules *dst, const alert_rules *src)
{
    *dst = *src;
    dst->rules = NULL;
    dst->webhooks = NULL;
    dst->nrules = dst->nwebhooks = 0;
    dst->channel = strdup(src->channel ? src->channel : "");
    if (!dst->channel) return SL_ENOMEM;
    if (src->nrules && !(dst->rules = calloc(src->nrules, sizeof *dst->rules))) return SL_ENOMEM;
    for (size_t i = 0; i < src->nrules; i++) {
        dst->rules[i] = src->rules[i];
        dst->rules[i].event = strdup(src->rules[i].event ? src->rules[i].event : "*");
        dst->nrules++;
        if (!dst->rules[i].event) return SL_ENOMEM;
    }
    if (src->nwebhooks && !(dst->webhooks = calloc(src->nwebhooks, sizeof *dst->webhooks)))
        return SL_ENOMEM;
    for (size_t i = 0; i < src->nwebhooks; i++) {
        if (!(dst->webhooks[i] = strdup(src->webhooks[i]))) return SL_ENOMEM;
        dst->nwebhooks++;
    }
    return 0;
}

static void alert_free(alert *a)
{
    for (size_t i = 0; i < ALERT_SHARDS; i++) {
        for (size_t h = 0; h < ALERT_SHARD_HEADS; h++) {
            entry *e = a->shards[i].heads[h];
            while (e) {
                entry *next = e->next;
                free(e);
                e = next;
            }
        }
        pthread_mutex_destroy(&a->shards[i].mu);
    }
    for (size_t i = 0; i < ALERT_COOLDOWN_HEADS; i++) {
        cool *c = a->cools[i];
        while (c) {
            cool *next = c->next;
            free(c);
            c = next;
        }
    }
    for (size_t i = 0; i < ALERT_RECENT_MAX; i++)
        free(a->recent[i]);
    pthread_mutex_destroy(&a->health_mu);
    alert_rules_cleanup(&a->rules);
    free(a->cand);
    free(a->strs);
    known_clear(a);
    free(a->known_key);
    free(a->refresh);
    free(a);
}

int alert_new(uv_loop_t *loop, const alert_rules *rules, const alert_config *cfg, alert **out)
{
    *out = NULL;
    alert *a = calloc(1, sizeof *a);
    if (!a) return SL_ENOMEM;
    a->loop = loop;
    alert_config none = {0};
    a->cfg = cfg ? *cfg : none;
    for (size_t i = 0; i < ALERT_SHARDS; i++)
        pthread_mutex_init(&a->shards[i].mu, NULL);
    pthread_mutex_init(&a->health_mu, NULL);
    int rc = copy_cfg_strings(a, cfg ? cfg : &none);
    if (!rc) rc = copy_rules(&a->rules, rules);
    if (rc) {
        alert_free(a);
        return rc;
    }
    if (!a->cfg.redis_port) a->cfg.redis_port = 6379;
    if (!a->cfg.redis_timeout_ms) a->cfg.redis_timeout_ms = 2000;
    if (!a->rules.eval_interval_ms) a->rules.eval_interval_ms = 5000;
    if (!a->rules.max_events) a->rules.max_events = 10000;
    if (!a->rules.max_alerts_per_tick) a->rules.max_alerts_per_tick = 20;

    /* Ring geometry: cover the longest window + baseline with about ALERT_RING_TARGET buckets. */
    unsigned horizon = 0;
    for (size_t i = 0; i < a->rules.nrules; i++) {
        const alert_rule *r = &a->rules.rules[i];
        unsigned h = r->window_s + (r->kind == ALERT_SILENCE ? r->baseline_s : 0);
        if (h > horizon) horizon = h;
    }
    if (horizon < 600) horizon = 600;
    a->bucket_s = (horizon + ALERT_RING_TARGET - 1) / ALERT_RING_TARGET;
    if (a->bucket_s < ALERT_BUCKET_MIN_S) a->bucket_s = ALERT_BUCKET_MIN_S;
    a->nb = (int64_t)horizon / a->bucket_s + 2;
    a->horizon_s = horizon + 2 * a->bucket_s;
    a->shard_cap = (a->rules.max_events + ALERT_SHARDS - 1) / ALERT_SHARDS;
    atomic_init(&a->origin, INT64_MAX);
    atomic_init(&a->notes_dropped, 0);
    a->known_ready = true;
    if (pub_enabled(a)) { /* the announced unplanned names live next to the channel */
        size_t cl = strlen(a->rules.channel);
        if (!(a->known_key = malloc(cl + sizeof ":unplanned"))) {
            alert_free(a);
            return SL_ENOMEM;
        }
        memcpy(a->known_key, a->rules.channel, cl);
        memcpy(a->known_key + cl, ":unplanned", sizeof ":unplanned");
        a->known_ready = false;
        a->known_wait_ms = uv_now(loop) + 2 * (uint64_t)a->cfg.redis_timeout_ms;
    }

    webhook_config wc = {.timeout_ms = a->rules.webhook_timeout_ms,
                         .max_attempts = a->rules.webhook_attempts,
                         .backoff_ms = a->rules.webhook_backoff_ms,
                         .backoff_max_ms = a->rules.webhook_backoff_max_ms,
                         .on_result = on_webhook_result,
                         .ud = a};
    a->wh = webhook_new(loop, &wc);
    if (!a->wh) {
        alert_free(a);
        return SL_ENOMEM;
    }
    for (size_t i = 0; i < a->rules.nwebhooks; i++) {
        char err[256];
        rc = webhook_add_url(a->wh, a->rules.webhooks[i], err, sizeof err);
        if (rc) {
            log_line(a, err);
            webhook_close(a->wh, NULL, NULL);
            alert_free(a);
            return rc;
        }
    }
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    a->next_eval_ms = uv_now(loop) + a->rules.eval_interval_ms;
    uv_timer_start(&a->timer, on_timer, ALERT_HOUSEKEEP_MS, ALERT_HOUSEKEEP_MS);
    uv_unref((uv_handle_t *)&a->timer); /* alerts alone never keep a loop alive */
    if (pub_enabled(a)) {
        rlink_init(&a->link, loop,
                   &(rlink_config){.host = a->cfg.redis_host,
                                   .port = a->cfg.redis_port,
                                   .timeout_ms = a->cfg.redis_timeout_ms,
                                   .backoff_min_ms = ALERT_PUB_BACKOFF_MIN_MS,
                                   .backoff_max_ms = ALERT_PUB_BACKOFF_MAX_MS,
                                   .up_on_connect = true,
                                   .owner = a,
                                   .start = pub_start});
        rlink_connect(&a->link);
    }
    *out = a;
    return 0;
}

void alert_get_stats(alert *a, alert_stats *out)
{
    *out = a->st;
    out->notes_dropped = atomic_load_explicit(&a->notes_dropped, memory_order_relaxed);
    uint64_t n = 0;
    for (size_t i = 0; i < ALERT_SHARDS; i++) {
        pthread_mutex_lock(&a->shards[i].mu);
        n += a->shards[i].n;
        pthread_mutex_unlock(&a->shards[i].mu);
    }
    out->events_tracked = n;
    if (a->wh) {
        webhook_stats ws;
        webhook_get_stats(a->wh, &ws);
        out->webhook_delivered = ws.delivered;
        out->webhook_failed = ws.failed;
        out->webhook_dropped = ws.dropped;
        out->webhook_retries = ws.retries;
        out->webhook_pending = ws.pending;
    }
}

static void close_part_done(alert *a)
{
    if (--a->closing_parts) return;
    void (*done)(void *) = a->close_done;
    void *ud = a->close_ud;
    alert_free(a);
    if (done) done(ud);
}

static void on_close_timer(uv_handle_t *h)
{
    close_part_done(h->data);
}

static void on_close_webhook(void *ud)
{
    close_part_done(ud);
}

void alert_close(alert *a, void (*done)(void *ud), void *ud)
{
    a->closing = true;
    a->close_done = done;
    a->close_ud = ud;
    a->closing_parts = 2;
    rlink_close(&a->link); /* in-flight PUBLISH replies run now, with NULL */
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, on_close_timer);
    webhook *wh = a->wh;
    a->wh = NULL;
    webhook_close(wh, on_close_webhook, a);
}
