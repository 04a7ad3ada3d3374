/* redisproc.c - the embedded redis-server child (see redisproc.h). */
#include "redisproc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdbool.h>

#include <hiredis/hiredis.h>

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int mkdirs(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static bool pings(int port)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = false;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        freeReplyObject(r);
    }
    redisFree(c);
    return ok;
}

int redisproc_start(redisproc *rp, const char *redis_bin, const char *data_dir, int port,
                    char *errbuf, size_t errlen)
{
    memset(rp, 0, sizeof *rp);
    rp->pid = -1;
    const char *bin = redis_bin ? redis_bin : "redis-server";
    if (snprintf(rp->data_dir, sizeof rp->data_dir, "%s", data_dir) >= (int)sizeof rp->data_dir) {
        snprintf(errbuf, errlen, "data directory path too long");
        return SL_EUSAGE;
    }
    if (mkdirs(data_dir) != 0) {
        snprintf(errbuf, errlen, "cannot create %s: %s", data_dir, strerror(errno));
        return SL_EIO;
    }
    if (port == 0) port = free_port();
    if (port <= 0) {
        snprintf(errbuf, errlen, "no free port on 127.0.0.1");
        return SL_EIO;
    }
    /* exec failure is reported through a close-on-exec pipe. */
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
        return SL_EIO;
    }
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(errbuf, errlen, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return SL_EIO;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1);
        setpgid(0, 0); /* a terminal's ^C goes to sluice, which stops redis in order */
        char *argv[] = {(char *)bin,
                        "--port",
                        portstr,
                        "--bind",
                        "127.0.0.1",
                        "--dir",
                        (char *)data_dir,
                        "--appendonly",
                        "yes",
                        "--appendfsync",
                        "everysec",
                        "--daemonize",
                        "no",
                        "--logfile",
                        "redis.log",
                        "--save",
                        "",
                        "--protected-mode",
                        "yes",
                        NULL};
        execvp(bin, argv);
        int e = errno;
        if (write(pfd[1], &e, sizeof e) < 0) _exit(127);
        _exit(127);
    }
    close(pfd[1]);
    int child_errno = 0;
    ssize_t n = read(pfd[0], &child_errno, sizeof child_errno);
    close(pfd[0]);
    if (n == (ssize_t)sizeof child_errno) {
        waitpid(pid, NULL, 0);
        if (child_errno == ENOENT)
            snprintf(errbuf, errlen,
                     "%s not found (install it: apt-get install redis-server, or pass --redis "
                     "redis://host:port)",
                     bin);
        else
            snprintf(errbuf, errlen, "cannot run %s: %s", bin, strerror(child_errno));
        return SL_ENOTFOUND;
    }
    rp->pid = pid;
    rp->port = port;
    /* Wait (bounded) until it answers PING. */
    for (int i = 0; i < 100; i++) {
        if (pings(port)) return 0;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            rp->pid = -1;
            snprintf(errbuf, errlen, "%s exited during start-up (see %s/redis.log)", bin, data_dir);
            return SL_EIO;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    redisproc_stop(rp);
    snprintf(errbuf, errlen, "%s did not answer PING within 5 s (see %s/redis.log)", bin, data_dir);
    return SL_EIO;
}

void redisproc_stop(redisproc *rp)
{
    if (rp->pid <= 0) return;
    kill(rp->pid, SIGTERM);
    for (int i = 0; i < 100; i++) { /* redis flushes its AOF on SIGTERM: give it 5 s */
        if (waitpid(rp->pid, NULL, WNOHANG) == rp->pid) {
            rp->pid = -1;
            return;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(rp->pid, SIGKILL);
    waitpid(rp->pid, NULL, 0);
    rp->pid = -1;
}
