/* test_sink.c - the Redis Streams sink and the embedded redis-server, against a real redis-server
 * on a free loopback port: exact bytes read back with XRANGE, pipelining, AUTH, SELECT, a stopped
 * (SIGSTOP) Redis failing groups by deadline exactly once, a killed Redis and reconnects, close
 * with pending groups, URL parsing. Exits 77 (skipped) when redis-server is not installed. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "check.h"
#include "redisproc.h"
#include "sink.h"

typedef struct {
    int calls;
    int status;
} result;

static void on_closed(void *ud)
{
    *(bool *)ud = true;
}

static void on_done(void *ud, int status)
{
    result *r = ud;
    r->calls++;
    r->status = status;
}

/* Runs the loop until *flag becomes true or ms pass; returns whether it did. */
static bool run_until(uv_loop_t *loop, const volatile bool *flag, int ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (!*flag && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    return *flag;
}

static bool ready_flag(sink *s, uv_loop_t *loop, int ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (!sink_ready(s) && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    return sink_ready(s);
}

static bool wait_calls(uv_loop_t *loop, result *r, int n, int ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (r->calls < n && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    return r->calls >= n;
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

static long long xlen(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "XLEN %s", key);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

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
    sink_config d = {0};
    CHECK_INT(sink_parse_url("redis://:secret@127.0.0.1", &d, &store), 0);
    CHECK(d.username == NULL);
    CHECK_STR(d.password, "secret");
    CHECK_STR(d.host, "127.0.0.1");
    free(store);
    sink_config e = {0};
    CHECK_INT(sink_parse_url("http://x", &e, &store), SL_EUSAGE);
    CHECK_INT(sink_parse_url("redis://host:notaport", &e, &store), SL_EUSAGE);
    CHECK_INT(sink_parse_url("redis://host/abc", &e, &store), SL_EUSAGE);
    CHECK_INT(sink_parse_url("redis://", &e, &store), SL_EUSAGE);
}

int main(void)
{
    test_url();
    char err[256];
    redisproc bad;
    CHECK(redisproc_start(&bad, "/nonexistent/redis-server", "/tmp/sluice-test-sink-bad", 0, err,
                          sizeof err) != 0);
    CHECK(strstr(err, "not found") != NULL);
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        printf("SKIP: redis-server not installed (apt-get install redis-server)\n");
        return 77;
    }
    char dir[] = "/tmp/sluice-test-sink-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    redisproc rp;
    if (redisproc_start(&rp, NULL, dir, 0, err, sizeof err) != 0) {
        fprintf(stderr, "redisproc_start: %s\n", err);
        return 1;
    }
    CHECK(rp.port > 0 && rp.pid > 0);
    redisContext *rc = client(rp.port);

    uv_loop_t loop;
    uv_loop_init(&loop);
    sink_config cfg = {.host = "127.0.0.1", .port = rp.port, .timeout_ms = 400};
    sink *s = sink_new(&loop, &cfg);
    CHECK(s != NULL);
    CHECK(ready_flag(s, &loop, 3000));

    /* exact bytes, both streams, violations and message ids */
    const char *ev1 = "{\"type\":\"track\",\"event\":\"A \\\"q\\\" \xc3\xa9\",\"n\":1}";
    const char *ev2 = "{\"type\":\"track\",\"event\":\"B\"}";
    const char *vj = "[{\"kind\":\"Required-Missing\"}]";
    sink_entry es[2] = {
        {.event_json = ev1, .event_len = strlen(ev1), .message_id = "m1", .message_id_len = 2},
        {.invalid = true,
         .event_json = ev2,
         .event_len = strlen(ev2),
         .violations_json = vj,
         .violations_len = strlen(vj)}};
    result r = {0};
    CHECK_INT(sink_write(s, es, 2, on_done, &r), 0);
    CHECK_INT(r.calls, 0); /* never synchronous */
    CHECK(wait_calls(&loop, &r, 1, 3000));
    CHECK_INT(r.status, 0);
    redisReply *x = redisCommand(rc, "XRANGE sluice:events - +");
    CHECK(x && x->type == REDIS_REPLY_ARRAY && x->elements == 1);
    if (x && x->elements == 1) {
        redisReply *f = x->element[0]->element[1];
        CHECK_INT(f->elements, 4);
        CHECK_STR(f->element[0]->str, "event");
        CHECK_STR(f->element[1]->str, ev1);
        CHECK_STR(f->element[2]->str, "message_id");
        CHECK_STR(f->element[3]->str, "m1");
    }
    freeReplyObject(x);
    x = redisCommand(rc, "XRANGE sluice:invalid - +");
    CHECK(x && x->elements == 1);
    if (x && x->elements == 1) {
        redisReply *f = x->element[0]->element[1];
        CHECK_STR(f->element[1]->str, ev2);
        CHECK_STR(f->element[2]->str, "violations");
        CHECK_STR(f->element[3]->str, vj);
    }
    freeReplyObject(x);

    /* pipelining: many groups in flight at once */
    enum { G = 200, N = 5 };
    static result many[G];
    sink_entry batch[N];
    for (int i = 0; i < N; i++)
        batch[i] = es[0];
    for (int g = 0; g < G; g++)
        CHECK_INT(sink_write(s, batch, N, on_done, &many[g]), 0);
    sink_stats st;
    sink_get_stats(s, &st);
    CHECK(st.inflight > N); /* more than one group outstanding */
    bool all = false;
    for (uint64_t end = uv_hrtime() + 5000000000u; !all && uv_hrtime() < end;) {
        uv_run(&loop, UV_RUN_ONCE);
        all = true;
        for (int g = 0; g < G; g++)
            all = all && many[g].calls == 1;
    }
    CHECK(all);
    int ok = 0;
    for (int g = 0; g < G; g++)
        ok += many[g].calls == 1 && many[g].status == 0;
    CHECK_INT(ok, G);
    CHECK_INT(xlen(rc, "sluice:events"), 1 + G * N);

    /* a stopped Redis: the group fails by deadline, exactly once, within timeout + slack */
    kill(rp.pid, SIGSTOP);
    result slow = {0};
    uint64_t t0 = uv_hrtime();
    CHECK_INT(sink_write(s, es, 1, on_done, &slow), 0);
    CHECK(wait_calls(&loop, &slow, 1, 3000));
    uint64_t waited_ms = (uv_hrtime() - t0) / 1000000u;
    CHECK(slow.status < 0);
    CHECK(waited_ms >= 350 && waited_ms < 1500);
    kill(rp.pid, SIGCONT);
    uint64_t settle = uv_hrtime() + 300000000u;
    while (uv_hrtime() < settle)
        uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_INT(slow.calls, 1); /* a late reply never fires it again */
    CHECK(ready_flag(s, &loop, 4000));
    result again = {0};
    CHECK_INT(sink_write(s, es, 1, on_done, &again), 0);
    CHECK(wait_calls(&loop, &again, 1, 3000));
    CHECK_INT(again.status, 0);

    /* SELECT db and AUTH */
    sink_config dbc = cfg;
    dbc.db = 3;
    sink *sdb = sink_new(&loop, &dbc);
    CHECK(ready_flag(sdb, &loop, 3000));
    result dbr = {0};
    CHECK_INT(sink_write(sdb, es, 1, on_done, &dbr), 0);
    CHECK(wait_calls(&loop, &dbr, 1, 3000));
    CHECK_INT(dbr.status, 0);
    freeReplyObject(redisCommand(rc, "SELECT 3"));
    CHECK_INT(xlen(rc, "sluice:events"), 1);
    freeReplyObject(redisCommand(rc, "SELECT 0"));

    freeReplyObject(redisCommand(rc, "CONFIG SET requirepass s3cret"));
    freeReplyObject(redisCommand(rc, "AUTH s3cret"));
    sink_config ac = cfg;
    ac.password = "s3cret";
    sink *sa = sink_new(&loop, &ac);
    CHECK(ready_flag(sa, &loop, 3000));
    result ar = {0};
    CHECK_INT(sink_write(sa, es, 1, on_done, &ar), 0);
    CHECK(wait_calls(&loop, &ar, 1, 3000));
    CHECK_INT(ar.status, 0);
    sink_config wc = cfg;
    wc.password = "wrong";
    sink *sw = sink_new(&loop, &wc);
    CHECK(ready_flag(sw, &loop, 3000));
    result wr = {0};
    if (sink_write(sw, es, 1, on_done, &wr) == 0) CHECK(wait_calls(&loop, &wr, 1, 3000));
    CHECK(wr.status < 0 || wr.calls == 0);
    freeReplyObject(redisCommand(rc, "CONFIG SET requirepass \"\""));

    /* close with a pending group: fails (or was acked) exactly once; done fires */
    result pend = {0};
    bool closed = false;
    CHECK_INT(sink_write(sdb, es, 1, on_done, &pend), 0);
    sink_close(sdb, on_closed, &closed);
    CHECK(run_until(&loop, &closed, 1000));
    CHECK_INT(pend.calls, 1);

    /* a killed Redis: groups fail, the sink is not ready; restarted on the same port: back */
    int port = rp.port;
    kill(rp.pid, SIGKILL);
    waitpid(rp.pid, NULL, 0);
    rp.pid = -1;
    uint64_t end = uv_hrtime() + 3000000000u;
    while (sink_ready(s) && uv_hrtime() < end)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK(!sink_ready(s));
    result down = {0};
    int wrc = sink_write(s, es, 1, on_done, &down);
    CHECK(wrc < 0); /* fails fast while disconnected: the server answers 503 */
    CHECK_INT(down.calls, 0);
    redisproc rp2;
    CHECK_INT(redisproc_start(&rp2, NULL, dir, port, err, sizeof err), 0);
    CHECK(ready_flag(s, &loop, 5000));
    result up = {0};
    CHECK_INT(sink_write(s, es, 1, on_done, &up), 0);
    CHECK(wait_calls(&loop, &up, 1, 3000));
    CHECK_INT(up.status, 0);

    sink_close(s, NULL, NULL);
    sink_close(sa, NULL, NULL);
    sink_close(sw, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
    redisFree(rc);
    redisproc_stop(&rp2);
    redisproc_stop(&rp2); /* twice is safe */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s /tmp/sluice-test-sink-bad", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return check_done();
}
