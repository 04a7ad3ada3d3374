/* test_agg.c - the violation aggregator, its report and the live feed, against a real redis-server
 * on a free loopback port: minute buckets and counts, first/last seen, examples bounded and
 * truncated, per-event volumes, agg_report (event and time filters, versions merged), the table
 * bound (overflow counter), PUBLISH reaching `sluice tail` with its filters, Redis down and Redis
 * stuck (deadline, reconnect), close flushing what is left, time parsing and the text table.
 * Exits 77 (skipped) when redis-server is not installed. */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "agg.h"
#include "check.h"
#include "redisproc.h"
#include "report.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static void on_closed(void *ud)
{
    *(bool *)ud = true;
}

static void run_ms(uv_loop_t *loop, int ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (uv_hrtime() < end)
        uv_run(loop, UV_RUN_NOWAIT), usleep(1000);
}

/* Runs the loop until the table was sent and every reply came back (or ms pass). */
static bool flushed(agg *a, uv_loop_t *loop, int ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    agg_stats st;
    do {
        uv_run(loop, UV_RUN_ONCE);
        agg_get_stats(a, &st);
    } while ((st.rows || st.inflight) && uv_hrtime() < end);
    return !st.rows && !st.inflight;
}

static bool ready(agg *a, uv_loop_t *loop, int ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    agg_stats st;
    do {
        uv_run(loop, UV_RUN_ONCE);
        agg_get_stats(a, &st);
    } while (!st.ready && uv_hrtime() < end);
    return st.ready;
}

static void close_agg(agg *a, uv_loop_t *loop)
{
    bool closed = false;
    agg_close(a, on_closed, &closed);
    uint64_t end = uv_hrtime() + 5000000000ull;
    while (!closed && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(closed);
}

static long long rint_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    long long v = -1;
    if (r && r->type == REDIS_REPLY_INTEGER) v = r->integer;
    if (r && r->type == REDIS_REPLY_STRING) v = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return v;
}

static void vl_add(vio_list *l, sl_kind k, const char *path, const char *msg)
{
    vio *v = vio_list_push(l, k, "x");
    snprintf(v->path, sizeof v->path, "%s", path);
    snprintf(v->message, sizeof v->message, "%s", msg);
}

static const cJSON *find_group(const cJSON *rep, const char *event, const char *kind,
                               const char *path)
{
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(rep, "groups"))
    {
        if (!strcmp(cJSON_GetObjectItem(g, "event")->valuestring, event) &&
            !strcmp(cJSON_GetObjectItem(g, "kind")->valuestring, kind) &&
            !strcmp(cJSON_GetObjectItem(g, "path")->valuestring, path))
            return g;
    }
    return NULL;
}

static double num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ---- pure functions -------------------------------------------------------------------------- */

static void test_pure(void)
{
    char a[17], b[17];
    agg_group_id(a, "Order Completed", "Required-Missing", "/properties/total");
    agg_group_id(b, "Order Completed", "Required-Missing", "/properties/price");
    CHECK_INT(strlen(a), 16);
    CHECK(strcmp(a, b) != 0);
    CHECK_STR(agg_group_id(b, "Order Completed", "Required-Missing", "/properties/total"), a);

    time_t t, now = 1700000000;
    CHECK_INT(report_parse_time("1h", now, &t), 0);
    CHECK_INT(t, now - 3600);
    CHECK_INT(report_parse_time("15m", now, &t), 0);
    CHECK_INT(t, now - 900);
    CHECK_INT(report_parse_time("2d", now, &t), 0);
    CHECK_INT(t, now - 172800);
    CHECK_INT(report_parse_time("1699990000", now, &t), 0);
    CHECK_INT(t, 1699990000);
    CHECK_INT(report_parse_time("2023-11-14T22:13:20Z", now, &t), 0);
    CHECK_INT(t, 1700000000);
    CHECK_INT(report_parse_time("2023-11-14T23:13:20+01:00", now, &t), 0);
    CHECK_INT(t, 1700000000);
    CHECK_INT(report_parse_time("2023-11-14", now, &t), 0);
    CHECK_INT(t, 1699920000);
    CHECK_INT(report_parse_time("2023-11-14T22:13", now, &t), 0);
    CHECK_INT(t, 1700000000 - 20);
    CHECK_INT(report_parse_time("1x", now, &t), SL_EUSAGE);
    CHECK_INT(report_parse_time("yesterday", now, &t), SL_EUSAGE);
    CHECK_INT(report_parse_time("2023-13-01", now, &t), SL_EUSAGE);
    CHECK_INT(report_parse_time("", now, &t), SL_EUSAGE);

    cJSON *msg = cJSON_Parse("{\"event\":\"A\",\"write_key\":\"k\",\"session\":\"s\"}");
    tail_opts o = {0};
    CHECK(tail_match(msg, &o));
    o.event = "A";
    o.session = "s";
    CHECK(tail_match(msg, &o));
    o.write_key = "other";
    CHECK(!tail_match(msg, &o));
    cJSON_Delete(msg);

    uv_loop_t loop;
    uv_loop_init(&loop);
    agg *x;
    agg_config bad = {.examples_per_group = AGG_EXAMPLES_MAX + 1};
    CHECK_INT(agg_new(&loop, &bad, &x), SL_EUSAGE);
    uv_loop_close(&loop);
}

/* ---- counts, buckets, examples, volumes, report ---------------------------------------------- */

static void test_counts(uv_loop_t *loop, redisContext *rc, int port)
{
    agg_config cfg = {.port = port,
                      .prefix = "t1",
                      .window_s = 3600,
                      .examples_per_group = 2,
                      .example_max = 64,
                      .flush_ms = 50,
                      .channel = ""};
    agg *a;
    CHECK_INT(agg_new(loop, &cfg, &a), 0);
    CHECK(ready(a, loop, 3000));
    time_t base = time(NULL) / 60 * 60 - 600; /* a minute ten minutes ago */
    char big[500];
    memset(big, 'x', sizeof big);
    memcpy(big, "{\"event\":\"", 10);
    memcpy(big + sizeof big - 2, "\"}", 2);

    vio_list two, one, none;
    vio_list_reset(&two);
    vl_add(&two, SL_KIND_REQUIRED_MISSING, "/properties/total", "total is required");
    vl_add(&two, SL_KIND_DATATYPE_MISMATCH, "/properties/price", "price must be a number");
    vl_add(&two, SL_KIND_REQUIRED_MISSING, "/properties/total", "dup in the same event");
    vio_list_reset(&one);
    vl_add(&one, SL_KIND_REQUIRED_MISSING, "/properties/email", "email is required");
    vio_list_reset(&none);
    const char *small = "{\"event\":\"Order Completed\"}";

    agg_note(a, "v1", "wk", "Order Completed", NULL, false, &two, NULL, big, sizeof big, base + 5);
    agg_note(a, "v1", "wk", "Order Completed", NULL, true, &none, NULL, small, strlen(small),
             base + 7);
    agg_note(a, "v1", "wk", "Order Completed", NULL, false, &two, NULL, big, sizeof big, base + 10);
    agg_note(a, "v1", "wk", "Order Completed", NULL, false, &two, NULL, small, strlen(small),
             base + 65);
    agg_note(a, "v1", "wk", "Signed Up", NULL, false, &one, NULL, small, strlen(small), base + 70);
    agg_stats st;
    agg_get_stats(a, &st);
    CHECK_INT(st.notes, 5);
    CHECK_INT(st.rows, 2 + 2 + 2 + 1 + 1); /* groups x minutes + volume rows */
    CHECK(flushed(a, loop, 3000));
    agg_get_stats(a, &st);
    CHECK(st.flushes >= 1);
    CHECK_INT(st.commands_failed, 0);

    char gid[17], key[128];
    agg_group_id(gid, "Order Completed", "Required-Missing", "/properties/total");
    CHECK_INT(rint_cmd(rc, "HGET t1:v1:count:%lld %s", (long long)base, gid), 2);
    CHECK_INT(rint_cmd(rc, "HGET t1:v1:count:%lld %s", (long long)base + 60, gid), 1);
    CHECK_INT(rint_cmd(rc, "ZSCORE t1:v1:first %s", gid), base + 5);
    CHECK_INT(rint_cmd(rc, "ZSCORE t1:v1:last %s", gid), base + 65);
    long long ttl = rint_cmd(rc, "TTL t1:v1:count:%lld", (long long)base);
    CHECK(ttl > 2000 && ttl <= 3600 + 60);
    CHECK(rint_cmd(rc, "TTL t1:v1:groups") > 3000);
    CHECK_INT(rint_cmd(rc, "HGET t1:v1:vol:%lld %s", (long long)base, "v:Order Completed"), 1);
    CHECK_INT(rint_cmd(rc, "HGET t1:v1:vol:%lld %s", (long long)base, "i:Order Completed"), 2);
    CHECK_INT(rint_cmd(rc, "HGET t1:v1:vol:%lld %s", (long long)base + 60, "i:Signed Up"), 1);
    /* examples: at most 2 per group, newest first, payload truncated to 64 bytes */
    snprintf(key, sizeof key, "t1:v1:ex:%s", gid);
    CHECK_INT(rint_cmd(rc, "LLEN %s", key), 2);
    redisReply *r = redisCommand(rc, "LRANGE %s 0 -1", key);
    CHECK(r && r->elements == 2);
    cJSON *ex0 = r && r->elements ? cJSON_Parse(r->element[0]->str) : NULL;
    cJSON *ex1 = r && r->elements > 1 ? cJSON_Parse(r->element[1]->str) : NULL;
    CHECK_INT(num(ex0, "ts"), base + 65); /* newest first */
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(ex0, "payload")));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ex0, "message")), "total is required");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ex0, "write_key")), "wk");
    const cJSON *p1 = cJSON_GetObjectItem(ex1, "payload");
    CHECK(cJSON_IsString(p1) && strlen(p1->valuestring) == 64);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(ex1, "truncated")));
    cJSON_Delete(ex0);
    cJSON_Delete(ex1);
    freeReplyObject(r);

    /* a later flush adds to the same buckets; LTRIM keeps 2 */
    agg_note(a, "v1", "wk", "Order Completed", NULL, false, &two, NULL, small, strlen(small),
             base + 20);
    agg_note(a, "v1", "wk", "Order Completed", NULL, false, &two, NULL, small, strlen(small),
             base + 21);
    agg_note(a, "v1", "wk", "Order Completed", NULL, false, &two, NULL, small, strlen(small),
             base + 22);
    CHECK(flushed(a, loop, 3000));
    CHECK_INT(rint_cmd(rc, "HGET t1:v1:count:%lld %s", (long long)base, gid), 5);
    CHECK_INT(rint_cmd(rc, "LLEN %s", key), 2);
    CHECK_INT(rint_cmd(rc, "ZSCORE t1:v1:last %s", gid), base + 65); /* GT: never goes back */
    /* another plan version, same group */
    agg_note(a, "v2", "wk", "Order Completed", NULL, false, &two, NULL, small, strlen(small),
             base + 30);
    CHECK(flushed(a, loop, 3000));

    /* ---- agg_report ---- */
    cJSON *rep = NULL;
    CHECK_INT(agg_report(rc, "t1", "v1", base, base + 119, NULL, &rep), 0);
    const cJSON *g = find_group(rep, "Order Completed", "Required-Missing", "/properties/total");
    CHECK(g != NULL);
    CHECK_INT(num(g, "count"), 6);
    CHECK_INT(num(g, "first_seen"), base + 5);
    CHECK_INT(num(g, "last_seen"), base + 65);
    const cJSON *exs = cJSON_GetObjectItem(g, "examples");
    CHECK_INT(cJSON_GetArraySize(exs), 2);
    CHECK(num(cJSON_GetArrayItem(exs, 0), "ts") >= num(cJSON_GetArrayItem(exs, 1), "ts"));
    g = find_group(rep, "Signed Up", "Required-Missing", "/properties/email");
    CHECK(g && num(g, "count") == 1);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "groups")), 3);
    /* sorted by count desc */
    const cJSON *g0 = cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "groups"), 0);
    const cJSON *g2 = cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "groups"), 2);
    CHECK(num(g0, "count") >= num(g2, "count"));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(g2, "event")), "Signed Up");
    const cJSON *ev0 = cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "events"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ev0, "event")), "Order Completed");
    CHECK_INT(num(ev0, "valid"), 1);
    CHECK_INT(num(ev0, "invalid"), 6);
    CHECK_INT(num(rep, "since"), base);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(rep, "plan_version")), "v1");

    /* the text table */
    FILE *f = tmpfile();
    CHECK_INT(report_print(rep, false, f), 0);
    char text[4096] = {0};
    rewind(f);
    size_t tn = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    CHECK(tn > 0);
    CHECK(strstr(text, "EVENT") && strstr(text, "COUNT") && strstr(text, "LAST SEEN"));
    CHECK(strstr(text, "/properties/total") != NULL);
    CHECK(strstr(text, "total is required") != NULL);
    CHECK(strstr(text, "INVALID") != NULL);
    cJSON_Delete(rep);

    /* event filter */
    CHECK_INT(agg_report(rc, "t1", "v1", base, base + 119, "Signed Up", &rep), 0);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "groups")), 1);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "events")), 1);
    cJSON_Delete(rep);
    /* time filter: the second minute only */
    CHECK_INT(agg_report(rc, "t1", "v1", base + 60, base + 119, NULL, &rep), 0);
    g = find_group(rep, "Order Completed", "Required-Missing", "/properties/total");
    CHECK(g && num(g, "count") == 1);
    cJSON_Delete(rep);
    /* nothing in the future */
    CHECK_INT(agg_report(rc, "t1", "v1", base + 3600, base + 7200, NULL, &rep), 0);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "groups")), 0);
    cJSON_Delete(rep);
    /* versions: v2 alone, and all merged */
    CHECK_INT(agg_report(rc, "t1", "v2", base, base + 119, NULL, &rep), 0);
    g = find_group(rep, "Order Completed", "Required-Missing", "/properties/total");
    CHECK(g && num(g, "count") == 1);
    cJSON_Delete(rep);
    CHECK_INT(agg_report(rc, "t1", NULL, base, base + 119, NULL, &rep), 0);
    g = find_group(rep, "Order Completed", "Required-Missing", "/properties/total");
    CHECK(g && num(g, "count") == 7);
    CHECK(g && num(g, "first_seen") == base + 5);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(rep, "plan_version")));
    cJSON_Delete(rep);
    CHECK_INT(agg_report(rc, "t1", "nope", base, base + 119, NULL, &rep), 0);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "groups")), 0);
    cJSON_Delete(rep);
    CHECK_INT(agg_report(rc, "t1", NULL, base + 10, base, NULL, &rep), SL_EUSAGE);
    CHECK(rep == NULL);

    /* close flushes what is left */
    agg_note(a, "v3", "wk", "Closing", NULL, false, &one, NULL, small, strlen(small), base + 5);
    close_agg(a, loop);
    CHECK_INT(rint_cmd(rc, "HGET t1:v3:vol:%lld %s", (long long)base, "i:Closing"), 1);
}

/* ---- the window: old buckets expire, groups not seen within it are forgotten ---------------- */

static void test_window(uv_loop_t *loop, redisContext *rc, int port)
{
    agg_config cfg = {.port = port, .prefix = "t6", .window_s = 600, .flush_ms = 50};
    agg *a;
    CHECK_INT(agg_new(loop, &cfg, &a), 0);
    CHECK(ready(a, loop, 3000));
    time_t now = time(NULL), old = now - 900;
    vio_list l;
    vio_list_reset(&l);
    vl_add(&l, SL_KIND_LENGTH_VIOLATION, "/properties/name", "too long");
    agg_note(a, "v1", NULL, "Old", NULL, false, &l, NULL, "{}", 2, old);
    agg_note(a, "v1", NULL, "New", NULL, false, &l, NULL, "{}", 2, now);
    CHECK(flushed(a, loop, 3000));
    agg_stats st;
    agg_get_stats(a, &st);
    CHECK_INT(st.commands_failed, 0); /* the cleanup script ran fine */
    char gold[17], gnew[17];
    agg_group_id(gold, "Old", "Length-Violation", "/properties/name");
    agg_group_id(gnew, "New", "Length-Violation", "/properties/name");
    CHECK_INT(rint_cmd(rc, "EXISTS t6:v1:count:%lld", (long long)(old / 60 * 60)), 0);
    CHECK_INT(rint_cmd(rc, "HEXISTS t6:v1:groups %s", gold), 0);
    CHECK_INT(rint_cmd(rc, "EXISTS t6:v1:ex:%s", gold), 0);
    CHECK_INT(rint_cmd(rc, "ZCOUNT t6:v1:minutes -inf %lld", (long long)now - 600), 0);
    CHECK_INT(rint_cmd(rc, "HEXISTS t6:v1:groups %s", gnew), 1);
    CHECK_INT(rint_cmd(rc, "EXISTS t6:v1:ex:%s", gnew), 1);
    long long ttl = rint_cmd(rc, "TTL t6:v1:ex:%s", gnew);
    CHECK(ttl > 500 && ttl <= 600);
    cJSON *rep;
    CHECK_INT(agg_report(rc, "t6", NULL, now - 3600, now, NULL, &rep), 0);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "groups")), 1);
    cJSON_Delete(rep);
    close_agg(a, loop);
}

/* ---- the table bound ------------------------------------------------------------------------- */

static void test_overflow(uv_loop_t *loop, int port)
{
    agg_config cfg = {.port = port, .prefix = "t2", .max_groups = 8, .flush_ms = 50};
    agg *a;
    CHECK_INT(agg_new(loop, &cfg, &a), 0);
    CHECK(ready(a, loop, 3000));
    time_t now = time(NULL);
    vio_list l;
    vio_list_reset(&l);
    vl_add(&l, SL_KIND_ENUM_MISMATCH, "/properties/plan", "not in the enum");
    for (int i = 0; i < 100; i++) {
        char ev[32];
        snprintf(ev, sizeof ev, "Event %d", i);
        agg_note(a, "v1", NULL, ev, NULL, false, &l, NULL, NULL, 0, now);
    }
    agg_stats st;
    agg_get_stats(a, &st);
    CHECK_INT(st.rows, 8);
    CHECK_INT(st.overflow, 100 * 2 - 8);
    CHECK(flushed(a, loop, 3000));
    agg_get_stats(a, &st);
    CHECK_INT(st.rows, 0);
    agg_note(a, "v1", NULL, "Again", NULL, true, NULL, NULL, NULL, 0, now);
    agg_get_stats(a, &st);
    CHECK_INT(st.rows, 1); /* room again after the flush */
    close_agg(a, loop);
}

/* ---- live feed ------------------------------------------------------------------------------- */

typedef struct {
    tail_opts o;
    FILE *out;
    int rc;
} tail_job;

static void *tail_thread(void *p)
{
    tail_job *j = p;
    j->rc = tail_run(&j->o, j->out);
    return NULL;
}

static bool wait_subscribers(redisContext *rc, long long n)
{
    for (int i = 0; i < 500; i++) {
        redisReply *r = redisCommand(rc, "PUBSUB NUMSUB sluice:violations");
        long long got = r && r->elements == 2 ? r->element[1]->integer : -1;
        freeReplyObject(r);
        if (got >= n) return true;
        usleep(10000);
    }
    return false;
}

static void test_publish(uv_loop_t *loop, redisContext *rc, int port)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    tail_job j1 = {
        .o = {.redis_url = url, .session = "s1", .json = true, .count = 1, .timeout_s = 10},
        .out = tmpfile()};
    tail_job j2 = {.o = {.redis_url = url, .event = "Signed Up", .count = 2, .timeout_s = 10},
                   .out = tmpfile()};
    tail_job j3 = {.o = {.redis_url = url, .write_key = "nobody", .count = 1, .timeout_s = 1},
                   .out = tmpfile()};
    pthread_t t1, t2, t3;
    pthread_create(&t1, NULL, tail_thread, &j1);
    pthread_create(&t2, NULL, tail_thread, &j2);
    pthread_create(&t3, NULL, tail_thread, &j3);
    CHECK(wait_subscribers(rc, 3));

    agg_config cfg = {.port = port, .prefix = "t3", .flush_ms = 50, .example_max = 32};
    agg *a;
    CHECK_INT(agg_new(loop, &cfg, &a), 0);
    CHECK(ready(a, loop, 3000));
    time_t now = time(NULL);
    vio_list l;
    vio_list_reset(&l);
    vl_add(&l, SL_KIND_REQUIRED_MISSING, "/properties/email", "email is required");
    vl_add(&l, SL_KIND_PATTERN_MISMATCH, "/userId", "userId does not match");
    const char *ev = "{\"event\":\"Signed Up\",\"properties\":{\"plan\":\"a-long-value-here\"}}";
    agg_note(a, "v1", "wk1", "Signed Up", "other", false, &l, NULL, ev, strlen(ev), now);
    agg_note(a, "v1", "wk1", "Signed Up", NULL, true, NULL, NULL, ev, strlen(ev),
             now); /* valid: quiet */
    /* s1 comes with its violations already rendered (as ingest passes them): the live feed
     * must send that text, not render l again */
    vio_list l2;
    vio_list_reset(&l2);
    vl_add(&l2, SL_KIND_REQUIRED_MISSING, "/properties/email_pre", "email is required");
    vl_add(&l2, SL_KIND_PATTERN_MISMATCH, "/userId", "userId does not match");
    char *pre = vio_list_to_json(&l2);
    agg_note(a, "v1", "wk1", "Signed Up", "s1", false, &l, pre, ev, strlen(ev), now);
    cJSON_free(pre);
    agg_stats st;
    agg_get_stats(a, &st);
    CHECK_INT(st.published, 2);
    CHECK(flushed(a, loop, 3000));
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_join(t3, NULL);
    CHECK_INT(j1.rc, 0);
    CHECK_INT(j2.rc, 0);
    CHECK_INT(j3.rc, 1); /* filtered out everything, timed out */

    char buf[8192] = {0};
    rewind(j1.out);
    size_t n = fread(buf, 1, sizeof buf - 1, j1.out);
    CHECK(n > 0 && buf[n - 1] == '\n');
    CHECK(strchr(buf, '\n') == buf + n - 1); /* exactly one message: the s1 one */
    cJSON *m = cJSON_Parse(buf);
    CHECK(m != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m, "session")), "s1");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m, "write_key")), "wk1");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m, "event")), "Signed Up");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m, "plan_version")), "v1");
    CHECK_INT(num(m, "ts"), now);
    const cJSON *vs = cJSON_GetObjectItem(m, "violations");
    CHECK_INT(cJSON_GetArraySize(vs), 2);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(vs, 0), "kind")),
              "Required-Missing");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(vs, 0), "path")),
              "/properties/email_pre");
    const cJSON *exm = cJSON_GetObjectItem(m, "example");
    CHECK(cJSON_IsString(exm) && strlen(exm->valuestring) == 32); /* truncated */
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(m, "truncated")));
    cJSON_Delete(m);

    memset(buf, 0, sizeof buf);
    rewind(j2.out);
    n = fread(buf, 1, sizeof buf - 1, j2.out);
    /* text: one line per violation, 2 events x 2 violations */
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    CHECK_INT(lines, 4);
    CHECK(strstr(buf, "Signed Up  Required-Missing  /properties/email  email is required") != NULL);
    CHECK(strstr(buf, "[session s1]") != NULL);
    fclose(j1.out);
    fclose(j2.out);
    fclose(j3.out);
    close_agg(a, loop);
}

/* ---- Redis down, Redis stuck ----------------------------------------------------------------- */

static void test_redis_down(uv_loop_t *loop)
{
    agg_config cfg = {.port = free_port(),
                      .prefix = "t4",
                      .max_groups = 16,
                      .flush_ms = 20,
                      .timeout_ms = 200,
                      .example_budget = 4096};
    agg *a;
    CHECK_INT(agg_new(loop, &cfg, &a), 0);
    vio_list l;
    vio_list_reset(&l);
    vl_add(&l, SL_KIND_RANGE_VIOLATION, "/properties/qty", "qty must be >= 0");
    char ev[3000];
    memset(ev, ' ', sizeof ev);
    ev[0] = '{';
    ev[sizeof ev - 1] = '}';
    time_t now = time(NULL);
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 200; i++) {
            char name[32];
            snprintf(name, sizeof name, "E%d", i);
            agg_note(a, "v1", "wk", name, "s", false, &l, NULL, ev, sizeof ev, now + round * 60);
        }
        run_ms(loop, 30);
    }
    agg_stats st;
    agg_get_stats(a, &st);
    CHECK(!st.ready);
    CHECK_INT(st.rows, 16);
    CHECK_INT(st.overflow, 10 * 200 * 2 - 16);
    CHECK_INT(st.publish_dropped, 2000);
    CHECK(st.examples_dropped > 0);
    CHECK(st.flushes_deferred > 0);
    CHECK_INT(st.flushes, 0);
    CHECK(agg_last_error(a)[0] != '\0');
    close_agg(a, loop);
}

static void test_redis_stuck(uv_loop_t *loop, redisContext *rc, redisproc *rp)
{
    agg_config cfg = {.port = rp->port, .prefix = "t5", .flush_ms = 20, .timeout_ms = 300};
    agg *a;
    CHECK_INT(agg_new(loop, &cfg, &a), 0);
    CHECK(ready(a, loop, 3000));
    time_t now = time(NULL);
    kill(rp->pid, SIGSTOP);
    agg_note(a, "v1", NULL, "Stuck", NULL, false, NULL, NULL, NULL, 0, now);
    run_ms(loop, 700);
    agg_stats st;
    agg_get_stats(a, &st);
    CHECK(st.timeouts >= 1);
    CHECK(st.commands_failed >= 1);
    CHECK_INT(st.inflight, 0);
    agg_note(a, "v1", NULL, "After", NULL, false, NULL, NULL, NULL, 0, now); /* kept while down */
    kill(rp->pid, SIGCONT);
    CHECK(ready(a, loop, 5000));
    CHECK(flushed(a, loop, 3000));
    agg_get_stats(a, &st);
    CHECK(st.reconnects >= 1);
    time_t minute = now / 60 * 60;
    CHECK_INT(rint_cmd(rc, "HGET t5:v1:vol:%lld %s", (long long)minute, "i:After"), 1);
    close_agg(a, loop);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_pure();
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        printf("SKIP: redis-server not installed\n");
        return 77;
    }
    char dir[] = "/tmp/sluice-test-agg-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char err[256];
    redisproc rp;
    if (redisproc_start(&rp, NULL, dir, 0, err, sizeof err) != 0) {
        fprintf(stderr, "redisproc_start: %s\n", err);
        return 1;
    }
    redisContext *rc = redisConnect("127.0.0.1", rp.port);
    if (!rc || rc->err) {
        fprintf(stderr, "cannot connect to redis on %d\n", rp.port);
        redisproc_stop(&rp);
        return 1;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    test_counts(&loop, rc, rp.port);
    test_window(&loop, rc, rp.port);
    test_overflow(&loop, rp.port);
    test_publish(&loop, rc, rp.port);
    test_redis_down(&loop);
    test_redis_stuck(&loop, rc, &rp);
    CHECK_INT(uv_loop_close(&loop), 0);
    redisFree(rc);
    redisproc_stop(&rp);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
