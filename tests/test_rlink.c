/* test_rlink.c - the reconnecting Redis link against a real redis-server (redisproc, loopback):
 * up after the handshake and on connect, the owner cut loose from a dropped context, backoff that
 * doubles up to its cap against a refused port, the connect deadline against a socket that never
 * answers, a start hook that cannot queue, a wrong password, and the reconnect count after a drop.
 * Exit 77 (skipped) without redis-server. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "check.h"
#include "redisproc.h"
#include "rlink.h"

static uv_loop_t loop;

typedef struct {
    rlink link;
    int ups, downs;
    uint64_t backoffs[8]; /* next_connect_ms - now at each down */
    bool start_fails;
    bool handshake; /* start queues rlink_handshake (with PING) */
    int owner_seen; /* 1 = a reply callback found the owner, -1 = found NULL */
} owner;

static bool start(void *o, redisAsyncContext *ac)
{
    owner *w = o;
    if (w->start_fails) return false;
    return !w->handshake || rlink_handshake(&w->link, ac, true);
}

static void up(void *o)
{
    ((owner *)o)->ups++;
}

static void down(void *o)
{
    owner *w = o;
    if (w->downs < 8) w->backoffs[w->downs] = w->link.next_connect_ms - uv_now(&loop);
    w->downs++;
}

static void setup(owner *w, const char *host, int port, const char *password)
{
    rlink_init(&w->link, &loop,
               &(rlink_config){.host = host,
                               .port = port,
                               .password = password,
                               .timeout_ms = 200,
                               .backoff_min_ms = 10,
                               .backoff_max_ms = 40,
                               .owner = w,
                               .start = start,
                               .up = up,
                               .down = down});
}

/* Runs the loop (ticking the link like an owner's timer would) until pred or ms pass. */
static bool run_until(owner *w, bool (*pred)(owner *), int ms)
{
    uint64_t t0 = uv_hrtime();
    while (!pred(w) && (uv_hrtime() - t0) / 1000000u < (uint64_t)ms) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_update_time(&loop);
        rlink_tick(&w->link, uv_now(&loop));
        usleep(1000);
    }
    return pred(w);
}

static bool is_up(owner *w)
{
    return w->link.up;
}
static bool four_downs(owner *w)
{
    return w->downs >= 4;
}
static bool one_down(owner *w)
{
    return w->downs >= 1;
}
static bool never(owner *w)
{
    (void)w;
    return false;
}

static void on_ping(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)r;
    owner *w = privdata;
    w->owner_seen = rlink_owner(ac) ? 1 : -1;
}

static void test_up_and_drop(int port)
{
    owner w = {.handshake = true};
    setup(&w, "127.0.0.1", port, NULL);
    CHECK(rlink_due(&w.link) == 0); /* down, first connect due at once */
    rlink_connect(&w.link);
    CHECK(w.link.ac != NULL);
    CHECK(!w.link.up);
    CHECK(rlink_due(&w.link) == w.link.deadline_ms);
    CHECK(run_until(&w, is_up, 2000));
    CHECK_INT(w.ups, 1);
    CHECK_INT(w.link.reconnects, 0);
    CHECK(rlink_due(&w.link) == UINT64_MAX);

    /* a reply callback still to come when the link drops the context: it runs (NULL reply) with
     * no owner, and the owner hears of the drop once */
    CHECK(redisAsyncCommand(w.link.ac, on_ping, &w, "PING") == REDIS_OK);
    rlink_drop(&w.link);
    CHECK_INT(w.owner_seen, -1);
    CHECK_INT(w.downs, 1);
    CHECK(w.link.ac == NULL && !w.link.up);
    CHECK_INT(w.backoffs[0], 10);

    /* it comes back by itself: a reconnect, backoff reset */
    CHECK(run_until(&w, is_up, 2000));
    CHECK_INT(w.ups, 2);
    CHECK_INT(w.link.reconnects, 1);
    CHECK_INT(w.link.backoff_ms, 10);
    w.owner_seen = 0;
    CHECK(redisAsyncCommand(w.link.ac, on_ping, &w, "PING") == REDIS_OK);
    run_until(&w, never, 100);
    CHECK_INT(w.owner_seen, 1);
    rlink_close(&w.link);
    CHECK(w.link.ac == NULL);
    CHECK_INT(w.downs, 1); /* closing is not a down */
    CHECK(rlink_due(&w.link) == UINT64_MAX);
    rlink_connect(&w.link); /* a no-op once closed */
    CHECK(w.link.ac == NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static void test_up_on_connect(int port)
{
    owner w = {0};
    setup(&w, "127.0.0.1", port, NULL);
    w.link.cfg.up_on_connect = true;
    rlink_connect(&w.link);
    CHECK(run_until(&w, is_up, 2000));
    CHECK_INT(w.ups, 1);
    rlink_close(&w.link);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &n);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_backoff_refused(void)
{
    owner w = {.handshake = true};
    setup(&w, "127.0.0.1", free_port(), NULL);
    rlink_connect(&w.link);
    CHECK(run_until(&w, four_downs, 3000));
    CHECK(!w.link.up);
    CHECK_INT(w.ups, 0);
    /* 10, 20, 40, then capped at 40 */
    CHECK_INT(w.backoffs[0], 10);
    CHECK_INT(w.backoffs[1], 20);
    CHECK_INT(w.backoffs[2], 40);
    CHECK_INT(w.backoffs[3], 40);
    CHECK(strstr(w.link.last_error, "127.0.0.1:") != NULL);
    rlink_close(&w.link);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static void test_deadline(void)
{
    /* a listening socket nobody accepts from: the kernel completes the TCP connect, no reply
     * ever comes */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 8) == 0);
    getsockname(fd, (struct sockaddr *)&a, &n);
    owner w = {.handshake = true};
    setup(&w, "127.0.0.1", ntohs(a.sin_port), NULL);
    uint64_t t0 = uv_hrtime();
    rlink_connect(&w.link);
    CHECK(run_until(&w, one_down, 3000));
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    CHECK(ms >= 190 && ms < 2000); /* the 200 ms deadline, not earlier */
    CHECK(strstr(w.link.last_error, "no answer within 200 ms") != NULL);
    CHECK_INT(w.ups, 0);
    rlink_close(&w.link);
    uv_run(&loop, UV_RUN_NOWAIT);
    close(fd);
}

static void test_start_fails(int port)
{
    owner w = {.start_fails = true};
    setup(&w, "127.0.0.1", port, NULL);
    rlink_connect(&w.link);
    CHECK(w.link.ac == NULL);
    CHECK_INT(w.downs, 1);
    CHECK(strstr(w.link.last_error, "cannot queue the handshake") != NULL);
    rlink_close(&w.link);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static void test_wrong_password(int port, redisContext *rc)
{
    redisReply *r = redisCommand(rc, "CONFIG SET requirepass %s", "right");
    freeReplyObject(r);
    owner w = {.handshake = true};
    setup(&w, "127.0.0.1", port, "wrong");
    rlink_connect(&w.link);
    CHECK(run_until(&w, one_down, 2000));
    CHECK_INT(w.ups, 0);
    CHECK(strncmp(w.link.last_error, "AUTH: ", 6) == 0);
    CHECK(strstr(w.link.last_error, "wrong") == NULL); /* never the password */
    rlink_close(&w.link);
    uv_run(&loop, UV_RUN_NOWAIT);
    r = redisCommand(rc, "AUTH right");
    freeReplyObject(r);
    r = redisCommand(rc, "CONFIG SET requirepass %s", "");
    freeReplyObject(r);
}

int main(void)
{
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        printf("SKIP: redis-server not installed (apt-get install redis-server)\n");
        return 77;
    }
    char tmpdir[] = "/tmp/sluice-test-rlink-XXXXXX";
    if (!mkdtemp(tmpdir)) return 1;
    char err[512];
    redisproc rp;
    if (redisproc_start(&rp, NULL, tmpdir, 0, err, sizeof err) != 0) {
        fprintf(stderr, "redisproc_start: %s\n", err);
        return 1;
    }
    redisContext *rc = redisConnect("127.0.0.1", rp.port);
    uv_loop_init(&loop);

    test_up_and_drop(rp.port);
    test_up_on_connect(rp.port);
    test_backoff_refused();
    test_deadline();
    test_start_fails(rp.port);
    test_wrong_password(rp.port, rc);

    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    redisFree(rc);
    redisproc_stop(&rp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done();
}
