/* test_redisproc.c - the embedded redis-server: start on a free port with a fresh (nested) data
 * directory, PING/INFO/CONFIG answered by our child, AOF persistence across a restart on the same
 * port, a port already taken by another Redis is an error (never mistaken for ours), stop twice,
 * the child dies with its parent, clear errors for a missing binary, a binary that exits and a
 * data directory that cannot be created. Exits 77 (skipped) when redis-server is not installed. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "check.h"
#include "redisproc.h"

static redisContext *connect_to(int port)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static bool pong(int port)
{
    redisContext *c = connect_to(port);
    if (!c) return false;
    redisReply *r = redisCommand(c, "PING");
    bool ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* CONFIG GET name -> value into buf ("" on failure). */
static const char *config_get(redisContext *c, const char *name, char *buf, size_t cap)
{
    buf[0] = '\0';
    redisReply *r = redisCommand(c, "CONFIG GET %s", name);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        snprintf(buf, cap, "%s", r->element[1]->str);
    freeReplyObject(r);
    return buf;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_errors(const char *tmp)
{
    char err[512] = "";
    redisproc rp;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/bad", tmp);
    CHECK_INT(redisproc_start(&rp, "/nonexistent/redis-server", dir, 0, err, sizeof err),
              SL_ENOTFOUND);
    CHECK(strstr(err, "/nonexistent/redis-server not found") != NULL);
    CHECK(strstr(err, "apt-get install redis-server") != NULL);
    CHECK(rp.pid <= 0);
    redisproc_stop(&rp); /* nothing to stop: harmless */

    /* a binary that runs but exits at once */
    CHECK_INT(redisproc_start(&rp, "false", dir, 0, err, sizeof err), SL_EIO);
    CHECK(strstr(err, "exited during start-up") != NULL);
    CHECK(rp.pid <= 0);

    /* the data directory cannot be created: a file is in the way */
    char file[600];
    snprintf(file, sizeof file, "%s/plainfile", tmp);
    FILE *f = fopen(file, "w");
    if (f) fclose(f);
    /* a binary that is not executable */
    CHECK_INT(redisproc_start(&rp, file, dir, 0, err, sizeof err), SL_EIO);
    CHECK(strstr(err, "cannot run") != NULL && strstr(err, "Permission denied") != NULL);
    char under[700];
    snprintf(under, sizeof under, "%s/sub", file);
    CHECK_INT(redisproc_start(&rp, NULL, under, 0, err, sizeof err), SL_EIO);
    CHECK(strstr(err, "cannot create data directory") != NULL);
    CHECK_INT(redisproc_start(&rp, NULL, file, 0, err, sizeof err), SL_EIO);
    CHECK(strstr(err, "Not a directory") != NULL);
    CHECK_INT(redisproc_start(&rp, NULL, "", 0, err, sizeof err), SL_EUSAGE);
    CHECK_INT(redisproc_start(&rp, NULL, dir, 70000, err, sizeof err), SL_EUSAGE);
}

int main(void)
{
    char tmp[] = "/tmp/sluice-test-redisproc-XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_errors(tmp);
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        printf("SKIP: redis-server not installed (apt-get install redis-server)\n");
        char cmd[100];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd) != 0) return 1;
        return 77;
    }

    /* start on a free port, in a data directory that does not exist yet */
    char data[600], err[512] = "";
    snprintf(data, sizeof data, "%s/a/b/data", tmp);
    redisproc rp;
    int rc = redisproc_start(&rp, NULL, data, 0, err, sizeof err);
    CHECK_INT(rc, 0);
    if (rc) fprintf(stderr, "redisproc_start: %s\n", err);
    CHECK(rp.pid > 0);
    CHECK(rp.port > 0 && rp.port < 65536);
    CHECK_STR(rp.data_dir, data);
    struct stat st;
    CHECK(stat(data, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(pong(rp.port));
    redisContext *c = connect_to(rp.port);
    CHECK(c != NULL);
    if (!c) return check_done();
    redisReply *r = redisCommand(c, "INFO server");
    char want[64];
    snprintf(want, sizeof want, "process_id:%d\r", (int)rp.pid);
    CHECK(r && r->type == REDIS_REPLY_STRING && strstr(r->str, want));
    freeReplyObject(r);
    char val[PATH_MAX + 1], real[PATH_MAX + 1];
    CHECK(realpath(data, real) != NULL);
    CHECK_STR(config_get(c, "dir", val, sizeof val), real);
    CHECK_STR(config_get(c, "appendonly", val, sizeof val), "yes");
    CHECK_STR(config_get(c, "appendfsync", val, sizeof val), "everysec");
    CHECK_STR(config_get(c, "bind", val, sizeof val), "127.0.0.1");
    CHECK_STR(config_get(c, "save", val, sizeof val), "");
    CHECK_STR(config_get(c, "logfile", val, sizeof val), "redis.log");
    /* the Unix socket: absolute, in the data directory, owner-only, answering */
    char want_sock[PATH_MAX + 20];
    snprintf(want_sock, sizeof want_sock, "%s/redis.sock", real);
    CHECK_STR(rp.sock, want_sock);
    CHECK_STR(config_get(c, "unixsocket", val, sizeof val), want_sock);
    CHECK(stat(rp.sock, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0700);
    struct timeval utv = {1, 0};
    redisContext *uc = redisConnectUnixWithTimeout(rp.sock, utv);
    CHECK(uc && !uc->err);
    redisReply *ur = uc && !uc->err ? redisCommand(uc, "PING") : NULL;
    CHECK(ur && ur->type == REDIS_REPLY_STATUS && !strcmp(ur->str, "PONG"));
    freeReplyObject(ur);
    redisFree(uc);
    r = redisCommand(c, "SET sluice:test persisted");
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
    char logpath[700];
    snprintf(logpath, sizeof logpath, "%s/redis.log", data);
    CHECK(stat(logpath, &st) == 0 && st.st_size > 0);

    /* stop: gone, reaped, port closed; twice is safe */
    pid_t old = rp.pid;
    int port = rp.port;
    redisproc_stop(&rp);
    CHECK(rp.pid <= 0);
    CHECK(kill(old, 0) != 0 && errno == ESRCH);
    CHECK(!pong(port));
    redisproc_stop(&rp);

    /* restart on the same port and directory: the AOF brings the key back */
    rc = redisproc_start(&rp, NULL, data, port, err, sizeof err);
    CHECK_INT(rc, 0);
    CHECK_INT(rp.port, port);
    c = connect_to(port);
    CHECK(c != NULL);
    if (c) {
        r = redisCommand(c, "GET sluice:test");
        CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "persisted") == 0);
        freeReplyObject(r);
        redisFree(c);
    }

    /* the port is taken by that server: a second one must fail, not adopt the foreign one */
    char data2[600];
    snprintf(data2, sizeof data2, "%s/second", tmp);
    redisproc rp2;
    CHECK_INT(redisproc_start(&rp2, NULL, data2, port, err, sizeof err), SL_EIO);
    CHECK(strstr(err, "exited during start-up") != NULL);
    CHECK(strstr(err, "Address already in use") != NULL); /* from its log, this run only */
    CHECK(rp2.pid <= 0);
    CHECK(pong(port)); /* the first one is untouched */
    redisproc_stop(&rp);

    /* a data directory whose socket path would not fit a sockaddr_un: TCP only, no socket */
    char deep[700];
    snprintf(deep, sizeof deep, "%s/%0120d", tmp, 0);
    CHECK_INT(redisproc_start(&rp, NULL, deep, 0, err, sizeof err), 0);
    CHECK_STR(rp.sock, "");
    CHECK(pong(rp.port));
    redisproc_stop(&rp);

    /* the child dies with its parent */
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    pid_t parent = fork();
    if (parent == 0) {
        close(pfd[0]);
        redisproc orphan;
        char oerr[512], odata[600];
        snprintf(odata, sizeof odata, "%s/orphan", tmp);
        int info[2] = {-1, -1};
        if (redisproc_start(&orphan, NULL, odata, 0, oerr, sizeof oerr) == 0) {
            info[0] = (int)orphan.pid;
            info[1] = orphan.port;
        }
        if (write(pfd[1], info, sizeof info) < 0) _exit(2);
        _exit(0); /* no redisproc_stop */
    }
    close(pfd[1]);
    int info[2] = {-1, -1};
    CHECK(read(pfd[0], info, sizeof info) == (ssize_t)sizeof info);
    close(pfd[0]);
    waitpid(parent, NULL, 0);
    CHECK(info[1] > 0);
    bool died = false;
    for (int i = 0; i < 150 && info[1] > 0 && !died; i++) {
        died = !pong(info[1]);
        if (!died) sleep_ms(20);
    }
    CHECK(died);

    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", tmp);
    return check_done();
}
