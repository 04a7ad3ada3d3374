/* test_sink.c - the Redis Streams sink against a real redis-server (started with redisproc on a
 * free loopback port, data in a mkdtemp dir): exact bytes read back with XRANGE, custom keys,
 * pipelining and order, linger (held below SINK_LINGER_BYTES, at once above), usage errors and
 * max_inflight, AUTH (password and ACL user), a wrong password never turning ready, SELECT, Redis
 * error replies (WRONGTYPE, NOPERM), the idle heartbeat noticing a hung Redis, a stopped (SIGSTOP)
 * Redis failing groups by deadline exactly once, close with pending groups and from a callback, a
 * killed Redis failing in-flight groups and the reconnect after a restart, a server that is not
 * there, URL parsing. Exits 77 (skipped) when redis-server is not installed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "check.h"
#include "redisproc.h"
#include "sink.h"

#define TIMEOUT_MS 300

typedef struct {
    int calls;
    int status;
} result;

static void on_done(void *ud, int status)
{
    result *r = ud;
    r->calls++;
    r->status = status;
}

static void on_closed(void *ud)
{
    (*(int *)ud)++;
}

static uv_loop_t loop;
static char tmpdir[] = "/tmp/sluice-test-sink-XXXXXX";

static uint64_t ms_since(uint64_t t0)
{
    return (uv_hrtime() - t0) / 1000000u;
}

/* Runs the loop until pred(arg) holds or ms pass; returns pred's final value. */
static bool run_until(bool (*pred)(void *), void *arg, int ms)
{
    uint64_t t0 = uv_hrtime();
    while (!pred(arg) && ms_since(t0) < (uint64_t)ms)
        uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
    return pred(arg);
}

/* Runs the loop for ms, whatever happens. */
static void run_for(int ms)
{
    uint64_t t0 = uv_hrtime();
    while (ms_since(t0) < (uint64_t)ms)
        uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
}

static bool is_ready(void *s)
{
    return sink_ready(s);
}
static bool not_ready(void *s)
{
    return !sink_ready(s);
}
static bool called(void *r)
{
    return ((result *)r)->calls > 0;
}

typedef struct {
    result *v;
    int n;
} results;
static bool all_called(void *a)
{
    results *rs = a;
    for (int i = 0; i < rs->n; i++)
        if (!rs->v[i].calls) return false;
    return true;
}

static redisContext *client(int port)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) {
        fprintf(stderr, "cannot connect to redis on %d\n", port);
        exit(1);
    }
    return c;
}

static void cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r || r->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "setup command %s failed: %s\n", fmt, r ? r->str : c->errstr);
    freeReplyObject(r);
}

static long long xlen(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "XLEN %s", key);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

static bool bytes_eq(const redisReply *r, const char *p, size_t n)
{
    return r && r->type == REDIS_REPLY_STRING && r->len == n && memcmp(r->str, p, n) == 0;
}

static sink *new_sink(sink_config cfg)
{
    sink *s = sink_new(&loop, &cfg);
    CHECK(s != NULL);
    if (!s) exit(1);
    return s;
}

/* Closes s and runs the loop until done fired. */
static void close_sink(sink *s)
{
    int closed = 0;
    sink_close(s, on_closed, &closed);
    for (int i = 0; i < 1000 && !closed; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_INT(closed, 1);
}

/* One write, waited for; returns the status (or 1 when cb never fired, 2 when refused). */
static int write_wait(sink *s, const sink_entry *es, size_t n)
{
    result r = {0};
    int rc = sink_write(s, es, n, on_done, &r);
    if (rc) return rc;
    if (!run_until(called, &r, 3000)) return 1;
    CHECK_INT(r.calls, 1);
    return r.status;
}

static const char ev_simple[] = "{\"type\":\"track\",\"event\":\"Signed Up\"}";
static const sink_entry e_simple = {.event_json = ev_simple, .event_len = sizeof ev_simple - 1};

/* ---- URL ------------------------------------------------------------------------------------- */

static void test_url(void)
{
    sink_config c = {0};
    char *store;
    CHECK_INT(sink_parse_url("redis://user:pw@example.com:6380/2", &c, &store), 0);
    CHECK_STR(c.host, "example.com");
    CHECK_STR(c.username, "user");
    CHECK_STR(c.password, "pw");
    CHECK_INT(c.port, 6380);
    CHECK_INT(c.db, 2);
    free(store);

    sink_config d = {.port = 7000, .db = 5};
    CHECK_INT(sink_parse_url("redis://:se%40cr%3At@127.0.0.1", &d, &store), 0);
    CHECK(d.username == NULL);
    CHECK_STR(d.password, "se@cr:t");
    CHECK_STR(d.host, "127.0.0.1");
    CHECK_INT(d.port, 7000); /* absent: left alone */
    CHECK_INT(d.db, 5);
    free(store);

    sink_config e = {0};
    CHECK_INT(sink_parse_url("redis://p@ss@host/", &e, &store), 0); /* last @ splits */
    CHECK_STR(e.password, "p@ss");
    CHECK(e.username == NULL);
    CHECK_STR(e.host, "host");
    free(store);

    sink_config v6 = {0};
    CHECK_INT(sink_parse_url("redis://[::1]:6390/1", &v6, &store), 0);
    CHECK_STR(v6.host, "::1");
    CHECK_INT(v6.port, 6390);
    CHECK_INT(v6.db, 1);
    free(store);

    const char *bad[] = {"http://x",
                         "rediss://host",
                         "redis://",
                         "redis://host:notaport",
                         "redis://host:0",
                         "redis://host:65536",
                         "redis://host:",
                         "redis://host/abc",
                         "redis://host/-1",
                         "redis://host?db=1",
                         "redis://user:@host",
                         "redis://:pw%zz@host",
                         "redis://:pw%00@host",
                         "redis://[::1",
                         "redis://[]:1",
                         "redis://[::1]x",
                         "redis://a:b:c@host:1:2",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        sink_config u = {.host = "keep", .port = 1};
        char *st = (char *)1;
        int rc = sink_parse_url(bad[i], &u, &st);
        CHECK_INT(rc, SL_EUSAGE);
        if (rc != SL_EUSAGE) fprintf(stderr, "  accepted %s\n", bad[i]);
        CHECK(st == NULL);
        CHECK_STR(u.host, "keep"); /* untouched on error */
        CHECK_INT(u.port, 1);
        CHECK(u.password == NULL);
        if (rc == 0) free(st);
    }
    CHECK_INT(sink_parse_url(NULL, &c, &store), SL_EUSAGE);

    /* Unix sockets: the host is the path; the port is left alone */
    sink_config u1 = {.port = 7000};
    CHECK_INT(sink_parse_url("unix:///run/redis/redis.sock", &u1, &store), 0);
    CHECK_STR(u1.host, "/run/redis/redis.sock");
    CHECK_INT(u1.port, 7000);
    CHECK(u1.password == NULL);
    CHECK_INT(u1.db, 0);
    free(store);
    sink_config u2 = {0};
    CHECK_INT(sink_parse_url("unix://us:p%40ss@/tmp/r@x.sock?db=3", &u2, &store), 0);
    CHECK_STR(u2.host, "/tmp/r@x.sock");
    CHECK_STR(u2.username, "us");
    CHECK_STR(u2.password, "p@ss");
    CHECK_INT(u2.db, 3);
    free(store);
    sink_config u3 = {0};
    CHECK_INT(sink_parse_url("unix://secret@/r.sock", &u3, &store), 0);
    CHECK_STR(u3.password, "secret");
    CHECK(u3.username == NULL);
    CHECK_STR(u3.host, "/r.sock");
    free(store);
    const char *ubad[] = {"unix://",
                          "unix:///",
                          "unix://r.sock",
                          "unix://pw@r.sock",
                          "unix:///r.sock?db=",
                          "unix:///r.sock?db=x",
                          "unix:///r.sock?x=1",
                          "unix:///r.sock#f",
                          "unix://:@/r.sock",
                          NULL};
    for (int i = 0; ubad[i]; i++) {
        sink_config u = {.host = "keep", .port = 1};
        char *st = (char *)1;
        int rc = sink_parse_url(ubad[i], &u, &st);
        CHECK_INT(rc, SL_EUSAGE);
        if (rc != SL_EUSAGE) fprintf(stderr, "  accepted %s\n", ubad[i]);
        CHECK(st == NULL);
        CHECK_STR(u.host, "keep");
        if (rc == 0) free(st);
    }
}

/* ---- writes ---------------------------------------------------------------------------------- */

static void test_bytes(int port, redisContext *rc)
{
    cmd(rc, "FLUSHALL");
    sink *s = new_sink((sink_config){.port = port, .timeout_ms = 2000});
    CHECK(run_until(is_ready, s, 3000));
    CHECK_STR(sink_last_error(s), "");

    /* quotes, escapes, 2-, 3- and 4-byte UTF-8, U+2028, and a big one */
    const char *ev1 = "{\"type\":\"track\",\"event\":\"A \\\"q\\\" \\\\ \xc3\xa9 \xe2\x80\xa8 "
                      "\xf0\x9f\x8e\x89\",\"n\":1}";
    size_t bigl = 200000;
    char *big = malloc(bigl);
    memcpy(big, "{\"p\":\"", 6);
    for (size_t i = 6; i < bigl - 2; i++)
        big[i] = (char)('a' + i % 26);
    memcpy(big + bigl - 2, "\"}", 2);
    /* event_len shorter than the buffer: the tail must not be stored */
    const char *ev3 = "{\"type\":\"page\"}TRAILING-GARBAGE";
    size_t ev3l = strlen("{\"type\":\"page\"}");
    const char *vj = "[{\"kind\":\"Required-Missing\",\"path\":\"/properties/\xc3\xa9\"}]";
    const char *mid = "msg-\xc3\xa9-1";
    sink_entry es[4] = {
        {.event_json = ev1,
         .event_len = strlen(ev1),
         .message_id = mid,
         .message_id_len = strlen(mid)},
        {.invalid = true,
         .event_json = ev_simple,
         .event_len = sizeof ev_simple - 1,
         .violations_json = vj,
         .violations_len = strlen(vj)},
        {.event_json = big, .event_len = bigl},
        {.event_json = ev3, .event_len = ev3l},
    };
    result r = {0};
    CHECK_INT(sink_write(s, es, 4, on_done, &r), 0);
    CHECK_INT(r.calls, 0); /* never synchronous */
    free(big);             /* the sink copied what it needs */
    big = NULL;
    CHECK(run_until(called, &r, 3000));
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.status, 0);

    redisReply *x = redisCommand(rc, "XRANGE sluice:events - +");
    CHECK(x && x->type == REDIS_REPLY_ARRAY && x->elements == 3);
    if (x && x->type == REDIS_REPLY_ARRAY && x->elements == 3) {
        redisReply *f = x->element[0]->element[1];
        CHECK_INT(f->elements, 4);
        CHECK(bytes_eq(f->element[0], "event", 5));
        CHECK(bytes_eq(f->element[1], ev1, strlen(ev1)));
        CHECK(bytes_eq(f->element[2], "message_id", 10));
        CHECK(bytes_eq(f->element[3], mid, strlen(mid)));
        f = x->element[1]->element[1];
        CHECK_INT(f->elements, 2);
        CHECK_INT(f->element[1]->len, bigl);
        CHECK(f->element[1]->len == bigl && f->element[1]->str[6] == 'g' &&
              memcmp(f->element[1]->str + bigl - 2, "\"}", 2) == 0);
        f = x->element[2]->element[1];
        CHECK(bytes_eq(f->element[1], ev3, ev3l));
    }
    freeReplyObject(x);
    x = redisCommand(rc, "XRANGE sluice:invalid - +");
    CHECK(x && x->type == REDIS_REPLY_ARRAY && x->elements == 1);
    if (x && x->type == REDIS_REPLY_ARRAY && x->elements == 1) {
        redisReply *f = x->element[0]->element[1];
        CHECK_INT(f->elements, 4);
        CHECK(bytes_eq(f->element[1], ev_simple, sizeof ev_simple - 1));
        CHECK(bytes_eq(f->element[2], "violations", 10));
        CHECK(bytes_eq(f->element[3], vj, strlen(vj)));
    }
    freeReplyObject(x);

    sink_stats st;
    sink_get_stats(s, &st);
    CHECK_INT(st.commands_ok, 4);
    CHECK_INT(st.commands_failed, 0);
    CHECK_INT(st.groups_ok, 1);
    CHECK_INT(st.latency_count, 1);
    CHECK_INT(st.inflight, 0);
    close_sink(s);

    /* configured keys */
    sink *k = new_sink((sink_config){
        .port = port, .events_key = "app:ok", .invalid_key = "app:bad", .timeout_ms = 2000});
    CHECK(run_until(is_ready, k, 3000));
    sink_entry two[2] = {e_simple, e_simple};
    two[1].invalid = true;
    CHECK_INT(write_wait(k, two, 2), 0);
    CHECK_INT(xlen(rc, "app:ok"), 1);
    CHECK_INT(xlen(rc, "app:bad"), 1);
    close_sink(k);
}

enum { G = 200, N = 5 };

static void test_pipelining(int port, redisContext *rc)
{
    cmd(rc, "FLUSHALL");
    sink *s = new_sink((sink_config){.port = port, .timeout_ms = 3000});
    CHECK(run_until(is_ready, s, 3000));
    static result many[G];
    static char ids[G][N][16];
    memset(many, 0, sizeof many);
    for (int g = 0; g < G; g++) {
        sink_entry batch[N];
        for (int i = 0; i < N; i++) {
            batch[i] = e_simple;
            snprintf(ids[g][i], sizeof ids[g][i], "%d-%d", g, i);
            batch[i].message_id = ids[g][i];
            batch[i].message_id_len = strlen(ids[g][i]);
        }
        CHECK_INT(sink_write(s, batch, N, on_done, &many[g]), 0);
    }
    sink_stats st;
    sink_get_stats(s, &st);
    CHECK_INT(st.inflight, G * N); /* all queued at once, no round trip per group */
    results rs = {many, G};
    CHECK(run_until(all_called, &rs, 5000));
    int ok = 0, once = 0;
    for (int g = 0; g < G; g++) {
        ok += many[g].status == 0;
        once += many[g].calls == 1;
    }
    CHECK_INT(ok, G);
    CHECK_INT(once, G);
    CHECK_INT(xlen(rc, "sluice:events"), G * N);
    /* order kept: entry k carries message id k/N-k%N */
    redisReply *x = redisCommand(rc, "XRANGE sluice:events - +");
    int in_order = 0;
    if (x && x->type == REDIS_REPLY_ARRAY)
        for (size_t k = 0; k < x->elements; k++) {
            redisReply *f = x->element[k]->element[1];
            const char *want = ids[k / N][k % N];
            in_order += f->elements == 4 && bytes_eq(f->element[3], want, strlen(want));
        }
    CHECK_INT(in_order, G * N);
    freeReplyObject(x);
    sink_get_stats(s, &st);
    CHECK_INT(st.commands_ok, G * N);
    CHECK_INT(st.groups_ok, G);
    CHECK_INT(st.latency_count, G);
    CHECK(st.latency_us_sum > 0);
    CHECK_INT(st.inflight, 0);
    close_sink(s);
}

/* Linger: a write below SINK_LINGER_BYTES waits for the timer (never answered sooner than
 * linger_us: a lower bound, which a slow machine cannot break); one that brings the queued output
 * to SINK_LINGER_BYTES goes at once and takes the lingering one with it, in order. */
static void test_linger(int port, redisContext *rc)
{
    cmd(rc, "FLUSHALL");
    sink *s = new_sink((sink_config){.port = port, .timeout_ms = 20000, .linger_us = 300000});
    CHECK(run_until(is_ready, s, 3000));
    uint64_t t0 = uv_hrtime();
    CHECK_INT(write_wait(s, &e_simple, 1), 0);
    CHECK(ms_since(t0) >= 300);
    CHECK_INT(xlen(rc, "sluice:events"), 1);
    close_sink(s);

    /* 10 s: the small write must not go by the timer during this test */
    sink *l = new_sink((sink_config){.port = port, .timeout_ms = 30000, .linger_us = 10000000});
    CHECK(run_until(is_ready, l, 3000));
    result small = {0}, big = {0};
    sink_entry first = e_simple;
    first.message_id = "first";
    first.message_id_len = 5;
    CHECK_INT(sink_write(l, &first, 1, on_done, &small), 0);
    run_for(300);
    CHECK_INT(small.calls, 0); /* held back */
    CHECK_INT(xlen(rc, "sluice:events"), 1);
    static char body[700];
    memset(body, ' ', sizeof body);
    memcpy(body, "{\"pad\":\"", 8);
    memcpy(body + sizeof body - 2, "\"}", 2);
    sink_entry many[8];
    for (int i = 0; i < 8; i++)
        many[i] = (sink_entry){.event_json = body, .event_len = sizeof body};
    CHECK(8 * sizeof body >= SINK_LINGER_BYTES);
    CHECK_INT(sink_write(l, many, 8, on_done, &big), 0);
    CHECK(run_until(called, &big, 5000)); /* long before the 10 s timer */
    CHECK_INT(small.calls, 1);
    CHECK_INT(small.status, 0);
    CHECK_INT(big.status, 0);
    CHECK_INT(xlen(rc, "sluice:events"), 10);
    redisReply *x = redisCommand(rc, "XRANGE sluice:events - + COUNT 2");
    CHECK(x && x->type == REDIS_REPLY_ARRAY && x->elements == 2);
    if (x && x->type == REDIS_REPLY_ARRAY && x->elements == 2) {
        redisReply *f = x->element[1]->element[1]; /* the lingering write is stored first */
        CHECK(f->elements == 4 && bytes_eq(f->element[3], "first", 5));
    }
    freeReplyObject(x);
    close_sink(l);
}

static void test_usage(int port)
{
    sink *s = new_sink((sink_config){.port = port, .max_inflight = 10, .timeout_ms = 2000});
    CHECK(run_until(is_ready, s, 3000));
    result r = {0};
    CHECK_INT(sink_write(s, &e_simple, 0, on_done, &r), SL_EUSAGE);
    sink_entry noev = {.event_json = NULL};
    CHECK_INT(sink_write(s, &noev, 1, on_done, &r), SL_EUSAGE);
    CHECK_INT(sink_write(s, &e_simple, 1, NULL, NULL), SL_EUSAGE);

    sink_entry eight[8], three[3], eleven[11];
    for (int i = 0; i < 11; i++) {
        if (i < 8) eight[i] = e_simple;
        if (i < 3) three[i] = e_simple;
        eleven[i] = e_simple;
    }
    CHECK_INT(sink_write(s, eleven, 11, on_done, &r), SL_ELIMIT); /* can never fit */
    result a = {0}, b = {0};
    CHECK_INT(sink_write(s, eight, 8, on_done, &a), 0);
    CHECK_INT(sink_write(s, three, 3, on_done, &b), SL_ELIMIT);
    CHECK(run_until(called, &a, 3000));
    CHECK_INT(a.status, 0);
    CHECK_INT(b.calls, 0); /* refused writes never call back */
    CHECK_INT(r.calls, 0);
    CHECK_INT(sink_write(s, three, 3, on_done, &b), 0);
    CHECK(run_until(called, &b, 3000));
    CHECK_INT(b.status, 0);
    close_sink(s);
}

/* A callback that writes again (chained), and one that closes the sink. */
typedef struct {
    sink *s;
    result first, second;
    int closed;
} chain;

static void on_chain_second(void *ud, int status)
{
    chain *c = ud;
    c->second.calls++;
    c->second.status = status;
}
static void on_chain_first(void *ud, int status)
{
    chain *c = ud;
    c->first.calls++;
    c->first.status = status;
    CHECK_INT(sink_write(c->s, &e_simple, 1, on_chain_second, c), 0);
}
static void on_then_close(void *ud, int status)
{
    chain *c = ud;
    c->first.calls++;
    c->first.status = status;
    sink_close(c->s, on_closed, &c->closed);
}
static bool chain_second(void *ud)
{
    return ((chain *)ud)->second.calls > 0;
}
static bool chain_closed(void *ud)
{
    return ((chain *)ud)->closed > 0;
}

static void test_reentrant(int port)
{
    chain c = {0};
    c.s = new_sink((sink_config){.port = port, .timeout_ms = 2000});
    CHECK(run_until(is_ready, c.s, 3000));
    CHECK_INT(sink_write(c.s, &e_simple, 1, on_chain_first, &c), 0);
    CHECK(run_until(chain_second, &c, 3000));
    CHECK_INT(c.first.status, 0);
    CHECK_INT(c.second.calls, 1);
    CHECK_INT(c.second.status, 0);
    close_sink(c.s);

    /* close from inside a callback while other groups are still in flight */
    chain d = {0};
    d.s = new_sink((sink_config){.port = port, .timeout_ms = 2000});
    CHECK(run_until(is_ready, d.s, 3000));
    result rest[20] = {{0}};
    CHECK_INT(sink_write(d.s, &e_simple, 1, on_then_close, &d), 0);
    for (int i = 0; i < 20; i++)
        CHECK_INT(sink_write(d.s, &e_simple, 1, on_done, &rest[i]), 0);
    CHECK(run_until(chain_closed, &d, 3000));
    CHECK_INT(d.first.calls, 1);
    int once = 0;
    for (int i = 0; i < 20; i++)
        once += rest[i].calls == 1;
    CHECK_INT(once, 20);
}

/* ---- AUTH, SELECT, error replies ------------------------------------------------------------- */

static void test_auth_select(int port, redisContext *rc)
{
    cmd(rc, "FLUSHALL");
    /* SELECT */
    sink *sdb = new_sink((sink_config){.port = port, .db = 3, .timeout_ms = 2000});
    CHECK(run_until(is_ready, sdb, 3000));
    CHECK_INT(write_wait(sdb, &e_simple, 1), 0);
    cmd(rc, "SELECT 3");
    CHECK_INT(xlen(rc, "sluice:events"), 1);
    cmd(rc, "SELECT 0");
    CHECK_INT(xlen(rc, "sluice:events"), 0);
    close_sink(sdb);

    /* a db that does not exist: never ready, says why */
    sink *sbad = new_sink((sink_config){.port = port, .db = 99999, .timeout_ms = 2000});
    run_for(200);
    CHECK(!sink_ready(sbad));
    CHECK(strstr(sink_last_error(sbad), "SELECT") != NULL);
    CHECK_INT(sink_write(sbad, &e_simple, 1, on_done, &(result){0}), SL_EIO);
    close_sink(sbad);

    /* password */
    cmd(rc, "CONFIG SET requirepass %s", "s3cret pw");
    cmd(rc, "AUTH %s", "s3cret pw");
    sink *sa =
        new_sink((sink_config){.port = port, .password = "s3cret pw", .db = 2, .timeout_ms = 2000});
    CHECK(run_until(is_ready, sa, 3000));
    CHECK_INT(write_wait(sa, &e_simple, 1), 0);
    cmd(rc, "SELECT 2");
    CHECK_INT(xlen(rc, "sluice:events"), 1);
    cmd(rc, "SELECT 0");
    close_sink(sa);

    /* wrong password: never ready, fails fast, the reason names AUTH but not the password */
    sink *sw = new_sink((sink_config){.port = port, .password = "hunter2", .timeout_ms = 2000});
    run_for(300);
    CHECK(!sink_ready(sw));
    result wr = {0};
    CHECK_INT(sink_write(sw, &e_simple, 1, on_done, &wr), SL_EIO);
    CHECK_INT(wr.calls, 0);
    CHECK(strstr(sink_last_error(sw), "AUTH") != NULL);
    CHECK(strstr(sink_last_error(sw), "hunter2") == NULL);
    close_sink(sw);

    /* no password while one is required: the handshake (PING) fails */
    sink *sn = new_sink((sink_config){.port = port, .timeout_ms = 2000});
    run_for(200);
    CHECK(!sink_ready(sn));
    CHECK(strstr(sink_last_error(sn), "NOAUTH") != NULL);
    close_sink(sn);

    /* ACL user, and one that may not XADD: the group fails with the Redis error, once */
    cmd(rc, "ACL SETUSER writer on >wpass ~* +@all");
    cmd(rc, "ACL SETUSER reader on >rpass ~* +@all -xadd");
    sink *su = new_sink(
        (sink_config){.port = port, .username = "writer", .password = "wpass", .timeout_ms = 2000});
    CHECK(run_until(is_ready, su, 3000));
    CHECK_INT(write_wait(su, &e_simple, 1), 0);
    close_sink(su);
    sink *sr = new_sink(
        (sink_config){.port = port, .username = "reader", .password = "rpass", .timeout_ms = 2000});
    CHECK(run_until(is_ready, sr, 3000));
    sink_entry three[3] = {e_simple, e_simple, e_simple};
    CHECK_INT(write_wait(sr, three, 3), SL_EIO);
    CHECK(strstr(sink_last_error(sr), "NOPERM") != NULL);
    run_for(50); /* the other replies arrive; the callback does not fire again (checked above) */
    sink_stats st;
    sink_get_stats(sr, &st);
    CHECK_INT(st.commands_failed, 3);
    CHECK_INT(st.groups_failed, 1);
    CHECK_INT(st.inflight, 0);
    CHECK(sink_ready(sr)); /* an error reply does not cost the connection */
    close_sink(sr);
    sink *sx = new_sink(
        (sink_config){.port = port, .username = "writer", .password = "nope", .timeout_ms = 2000});
    run_for(200);
    CHECK(!sink_ready(sx));
    close_sink(sx);
    cmd(rc, "ACL DELUSER writer reader");
    cmd(rc, "CONFIG SET requirepass %s", "");

    /* WRONGTYPE: the invalid key is a string; its group fails, the connection stays usable */
    cmd(rc, "SET sluice:invalid notastream");
    sink *s = new_sink((sink_config){.port = port, .timeout_ms = 2000});
    CHECK(run_until(is_ready, s, 3000));
    sink_entry mixed[2] = {e_simple, e_simple};
    mixed[1].invalid = true;
    CHECK_INT(write_wait(s, mixed, 2), SL_EIO);
    CHECK(strstr(sink_last_error(s), "WRONGTYPE") != NULL);
    CHECK_INT(write_wait(s, &e_simple, 1), 0);
    close_sink(s);
}

/* ---- failures -------------------------------------------------------------------------------- */

static void test_stopped_redis(redisproc *rp)
{
    sink *s = new_sink((sink_config){.port = rp->port, .timeout_ms = TIMEOUT_MS});
    CHECK(run_until(is_ready, s, 3000));

    /* idle: heartbeats keep it ready and stay out of the stats */
    CHECK_INT(write_wait(s, &e_simple, 1), 0);
    run_for(1300);
    CHECK(sink_ready(s));
    sink_stats st;
    sink_get_stats(s, &st);
    CHECK_INT(st.commands_ok, 1);
    CHECK_INT(st.groups_ok, 1);
    CHECK_INT(st.inflight, 0);
    /* idle and Redis hangs: the heartbeat notices within its period + the deadline */
    kill(rp->pid, SIGSTOP);
    uint64_t t0 = uv_hrtime();
    CHECK(run_until(not_ready, s, 1000 + TIMEOUT_MS + 700));
    CHECK(ms_since(t0) <= 1000 + TIMEOUT_MS + 700);
    CHECK(strstr(sink_last_error(s), "no reply") != NULL);
    kill(rp->pid, SIGCONT);
    CHECK(run_until(is_ready, s, 3000));
    sink_get_stats(s, &st);
    CHECK_INT(st.timeouts, 1);
    CHECK_INT(st.groups_failed, 0); /* no user group was involved */
    CHECK(st.reconnects >= 1);

    kill(rp->pid, SIGSTOP);
    enum { K = 20 };
    result rs[K] = {{0}};
    t0 = uv_hrtime();
    CHECK_INT(sink_write(s, &e_simple, 1, on_done, &rs[0]), 0);
    run_for(50); /* later groups get later deadlines */
    for (int i = 1; i < K; i++)
        CHECK_INT(sink_write(s, &e_simple, 1, on_done, &rs[i]), 0);
    CHECK(run_until(called, &rs[0], 3000));
    uint64_t waited = ms_since(t0);
    CHECK_INT(rs[0].status, SL_ELIMIT);
    /* Never before the deadline; the upper bound only says it fired at all (valgrind on a busy
     * machine delays timers by seconds: no tight timing here). */
    CHECK(waited >= TIMEOUT_MS - 5 && waited < TIMEOUT_MS + 2500);
    if (!(waited >= TIMEOUT_MS - 5 && waited < TIMEOUT_MS + 2500))
        fprintf(stderr, "  deadline after %llu ms\n", (unsigned long long)waited);
    /* the connection was dropped: every other group failed too, at the same moment */
    int failed = 0;
    for (int i = 0; i < K; i++)
        failed += rs[i].calls == 1 && rs[i].status < 0;
    CHECK_INT(failed, K);
    CHECK(!sink_ready(s));
    CHECK(strstr(sink_last_error(s), "no reply") != NULL);
    CHECK_INT(sink_write(s, &e_simple, 1, on_done, &(result){0}), SL_EIO);
    /* reconnects reach the kernel's backlog but the handshake cannot finish: still not ready */
    run_for(TIMEOUT_MS + 200);
    CHECK(!sink_ready(s));
    sink_get_stats(s, &st);
    CHECK_INT(st.timeouts, 2);
    CHECK_INT(st.groups_failed, K);
    CHECK_INT(st.inflight, 0);

    kill(rp->pid, SIGCONT);
    run_for(200); /* late replies, if any, go nowhere */
    int once = 0;
    for (int i = 0; i < K; i++)
        once += rs[i].calls == 1;
    CHECK_INT(once, K);
    CHECK(run_until(is_ready, s, 4000));
    CHECK_INT(write_wait(s, &e_simple, 1), 0);
    sink_get_stats(s, &st);
    CHECK(st.reconnects >= 2);

    /* close with groups pending on a stopped Redis: they fail with SL_EIO exactly once */
    kill(rp->pid, SIGSTOP);
    result p1 = {0}, p2 = {0};
    CHECK_INT(sink_write(s, &e_simple, 1, on_done, &p1), 0);
    CHECK_INT(sink_write(s, &e_simple, 1, on_done, &p2), 0);
    run_for(20);
    close_sink(s);
    CHECK_INT(p1.calls, 1);
    CHECK_INT(p1.status, SL_EIO);
    CHECK_INT(p2.calls, 1);
    CHECK_INT(p2.status, SL_EIO);
    kill(rp->pid, SIGCONT);
}

static void test_killed_redis(const char *dir)
{
    char err[512];
    redisproc rp;
    if (redisproc_start(&rp, NULL, dir, 0, err, sizeof err) != 0) {
        fprintf(stderr, "redisproc_start: %s\n", err);
        CHECK(0);
        return;
    }
    int port = rp.port;
    sink *s = new_sink((sink_config){.port = port, .timeout_ms = 1000});
    CHECK(run_until(is_ready, s, 3000));

    /* in flight (sent, unanswered) when Redis dies */
    kill(rp.pid, SIGSTOP);
    enum { K = 10 };
    result rs[K] = {{0}};
    for (int i = 0; i < K; i++)
        CHECK_INT(sink_write(s, &e_simple, 1, on_done, &rs[i]), 0);
    run_for(30);
    kill(rp.pid, SIGKILL);
    waitpid(rp.pid, NULL, 0);
    rp.pid = -1;
    uint64_t t0 = uv_hrtime();
    results all = {rs, K};
    CHECK(run_until(all_called, &all, 3000));
    CHECK(ms_since(t0) < 900); /* the lost connection is noticed, no need for the deadline */
    int failed = 0;
    for (int i = 0; i < K; i++)
        failed += rs[i].calls == 1 && rs[i].status == SL_EIO;
    CHECK_INT(failed, K);
    CHECK(run_until(not_ready, s, 1000));
    CHECK_INT(sink_write(s, &e_simple, 1, on_done, &(result){0}), SL_EIO);
    CHECK(sink_last_error(s)[0] != '\0');
    run_for(300); /* a few refused reconnects */
    CHECK(!sink_ready(s));
    CHECK(strstr(sink_last_error(s), "refused") != NULL);

    /* back on the same port: the sink reconnects by itself (backoff is at most 2 s) */
    redisproc rp2;
    int rc = redisproc_start(&rp2, NULL, dir, port, err, sizeof err);
    CHECK_INT(rc, 0);
    if (rc) fprintf(stderr, "restart: %s\n", err);
    t0 = uv_hrtime();
    CHECK(run_until(is_ready, s, 3000));
    CHECK(ms_since(t0) < 2500);
    CHECK_INT(write_wait(s, &e_simple, 1), 0);
    sink_stats st;
    sink_get_stats(s, &st);
    CHECK_INT(st.reconnects, 1);
    close_sink(s);
    redisproc_stop(&rp2);
}

static void test_nobody_home(void)
{
    /* a port with nothing on it (taken and released) */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    int port = ntohs(a.sin_port);
    close(fd);
    sink *s = new_sink((sink_config){.port = port, .timeout_ms = 200});
    run_for(150);
    CHECK(!sink_ready(s));
    CHECK(strstr(sink_last_error(s), "refused") != NULL);
    CHECK_INT(sink_write(s, &e_simple, 1, on_done, &(result){0}), SL_EIO);
    close_sink(s);
    /* a name that does not resolve: fails the same way, and close still works */
    sink *n =
        new_sink((sink_config){.host = "nonexistent.invalid", .port = 6379, .timeout_ms = 200});
    run_for(50);
    CHECK(!sink_ready(n));
    CHECK(sink_last_error(n)[0] != '\0');
    close_sink(n);
}

/* The embedded Redis also listens on DIR/redis.sock; a sink given that path (host "/...") writes
 * through it, and a path with nothing behind it fails like a refused port, naming the path. */
static void test_unix_socket(const redisproc *rp, redisContext *rc)
{
    CHECK(rp->sock[0] == '/');
    CHECK(strstr(rp->sock, "/main/redis.sock") != NULL);
    cmd(rc, "FLUSHALL");
    sink *s = new_sink((sink_config){.host = rp->sock, .timeout_ms = 2000});
    CHECK(run_until(is_ready, s, 3000));
    result r = {0};
    CHECK_INT(sink_write(s, &e_simple, 1, on_done, &r), 0);
    CHECK(run_until(called, &r, 3000));
    CHECK_INT(r.status, 0);
    CHECK_INT(xlen(rc, "sluice:events"), 1); /* seen over TCP: the same server */
    close_sink(s);

    char gone[700];
    snprintf(gone, sizeof gone, "%s/nothing-here.sock", tmpdir);
    sink *n = new_sink((sink_config){.host = gone, .timeout_ms = 200});
    run_for(100);
    CHECK(!sink_ready(n));
    CHECK(strstr(sink_last_error(n), gone) != NULL);
    CHECK_INT(sink_write(n, &e_simple, 1, on_done, &(result){0}), SL_EIO);
    close_sink(n);
}

int main(void)
{
    test_url();
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        printf("SKIP: redis-server not installed (apt-get install redis-server)\n");
        return 77;
    }
    if (!mkdtemp(tmpdir)) return 1;
    char dir[600], err[512];
    snprintf(dir, sizeof dir, "%s/main", tmpdir);
    redisproc rp;
    if (redisproc_start(&rp, NULL, dir, 0, err, sizeof err) != 0) {
        fprintf(stderr, "redisproc_start: %s\n", err);
        return 1;
    }
    redisContext *rc = client(rp.port);
    uv_loop_init(&loop);

    test_bytes(rp.port, rc);
    test_pipelining(rp.port, rc);
    test_linger(rp.port, rc);
    test_unix_socket(&rp, rc);
    test_usage(rp.port);
    test_reentrant(rp.port);
    test_auth_select(rp.port, rc);
    test_stopped_redis(&rp);
    snprintf(dir, sizeof dir, "%s/killed", tmpdir);
    test_killed_redis(dir);
    test_nobody_home();

    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
    redisFree(rc);
    redisproc_stop(&rp);
    char cmdline[100];
    snprintf(cmdline, sizeof cmdline, "rm -rf %s", tmpdir);
    if (system(cmdline) != 0) fprintf(stderr, "cleanup of %s failed\n", tmpdir);
    return check_done();
}
