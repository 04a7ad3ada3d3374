/* redisproc.c - the embedded redis-server child (see redisproc.h).
 *
 * Start: the data directory is created (mkdir -p, 0700); with port 0 a free port is found by
 * binding 127.0.0.1:0 and releasing it (if redis then loses that race it exits, and another port
 * is tried). The child resets its signal mask and handlers, asks the kernel for SIGTERM when the
 * thread that forked it dies (PR_SET_PDEATHSIG; call redisproc_start from a long-lived thread),
 * moves to its own process group (a terminal's ^C reaches sluice, which stops redis in order),
 * sends stdout/stderr to DATA/redis.log and execs redis-server. exec failures come back through a
 * close-on-exec pipe. Readiness = a PING answered by *our* child: INFO's process_id must match,
 * so a foreign server already on the port is never mistaken for it. While Redis answers LOADING
 * (a big AOF), the wait goes on up to REDISPROC_LOAD_MS.
 * Only async-signal-safe calls run between fork and exec. No global state. */
#include "redisproc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
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

#include <hiredis/hiredis.h>

#define REDISPROC_START_MS 5000 /* until the first answer */
#define REDISPROC_LOAD_MS 60000 /* while it answers LOADING */
#define REDISPROC_STOP_MS 5000  /* SIGTERM -> SIGKILL */
#define REDISPROC_PORT_TRIES 3  /* port 0: fresh ports tried when one was taken meanwhile */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

/* Whether 127.0.0.1:port can be bound right now. */
static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return true;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* as redis does */
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* mkdir -p; 0 or -1 with errno. */
static int mkdirs(const char *path)
{
    char tmp[512];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
    struct stat st;
    if (stat(tmp, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

typedef enum { PROBE_DOWN, PROBE_LOADING, PROBE_OURS, PROBE_FOREIGN } probe_result;

/* Asks 127.0.0.1:port whether it is our child and whether it is ready. */
static probe_result probe(int port, pid_t pid)
{
    struct timeval tv = {0, 300000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    probe_result res = PROBE_DOWN;
    if (!c || c->err) goto out;
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "INFO server");
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "process_id:");
        res = p && atol(p + 11) == (long)pid ? PROBE_OURS : PROBE_FOREIGN;
    } else if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "LOADING", 7) == 0) {
        res = PROBE_LOADING; /* cannot tell whose yet; our child is alive, so most likely ours */
    } else if (r && r->type == REDIS_REPLY_ERROR) {
        res = PROBE_FOREIGN; /* e.g. NOAUTH: ours never has a password */
    }
    freeReplyObject(r);
    if (res == PROBE_OURS) {
        r = redisCommand(c, "PING");
        if (!(r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0)) res = PROBE_DOWN;
        freeReplyObject(r);
    }
out:
    redisFree(c);
    return res;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Explains a failed start from what this run appended to DATA/redis.log (after offset `from`):
 * the main process's first warning ("pid:M date # text" -> "text"), else the last line (e.g. of a
 * FATAL CONFIG error on stderr); "" if none. */
static void log_reason(const char *logpath, long from, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(logpath, "r");
    if (!f) return;
    if (fseek(f, from, SEEK_SET) != 0) {
        fclose(f);
        return;
    }
    char line[512];
    bool warning = false;
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        const char *hash = strstr(line, " # ");
        if (hash && strstr(line, ":M ") && !warning) { /* the main process, past the banner */
            snprintf(buf, cap, "%s", hash + 3);
            warning = true;
        } else if (n && !warning) {
            snprintf(buf, cap, "%.*s", (int)(cap > 1 ? cap - 1 : 0), line);
        }
    }
    fclose(f);
}

/* Reaps pid if it exited; true when it did. */
static bool reaped(pid_t pid)
{
    int status;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR) {
    }
    return r == pid || (r < 0 && errno == ECHILD);
}

/* Forks and execs redis-server on `port`. Returns the pid, or -errno of a failed exec/fork. */
static pid_t spawn(const char *bin, const char *logpath, const char *data_dir, int port,
                   const char *sock)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
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
                    sock[0] ? "--unixsocket" : NULL,
                    (char *)sock,
                    "--unixsocketperm",
                    "700",
                    NULL};
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) return -errno;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        return -e;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* the parent may block SIGTERM for a signalfd */
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1); /* the parent died before prctl */
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull >= 0) dup2(devnull, 0); /* dup2 clears close-on-exec on the copy */
        int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        execvp(bin, argv);
        int e = errno;
        if (write(pfd[1], &e, sizeof e) < 0) _exit(127);
        _exit(127);
    }
    close(pfd[1]);
    int child_errno = 0;
    ssize_t n;
    while ((n = read(pfd[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
    }
    close(pfd[0]);
    if (n == (ssize_t)sizeof child_errno) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        return -(child_errno ? child_errno : EIO);
    }
    return pid;
}

int redisproc_start(redisproc *rp, const char *redis_bin, const char *data_dir, int port,
                    char *errbuf, size_t errlen)
{
    memset(rp, 0, sizeof *rp);
    rp->pid = -1;
    const char *bin = redis_bin && *redis_bin ? redis_bin : "redis-server";
    if (!data_dir || !*data_dir) {
        snprintf(errbuf, errlen, "no data directory given for the embedded redis-server");
        return SL_EUSAGE;
    }
    if (snprintf(rp->data_dir, sizeof rp->data_dir, "%s", data_dir) >= (int)sizeof rp->data_dir) {
        snprintf(errbuf, errlen, "data directory path too long (max %zu bytes)",
                 sizeof rp->data_dir - 1);
        return SL_EUSAGE;
    }
    if (port < 0 || port > 65535) {
        snprintf(errbuf, errlen, "bad port %d for the embedded redis-server", port);
        return SL_EUSAGE;
    }
    if (mkdirs(data_dir) != 0) {
        snprintf(errbuf, errlen, "cannot create data directory %s: %s", data_dir, strerror(errno));
        return SL_EIO;
    }
    /* The socket path must be absolute (redis-server changes into --dir first) and fit sun_path;
     * when it does not, the collector uses TCP only. */
    char abs[PATH_MAX];
    if (realpath(data_dir, abs) &&
        (size_t)snprintf(rp->sock, sizeof rp->sock, "%s/redis.sock", abs) >= sizeof rp->sock)
        rp->sock[0] = '\0';
    bool pick = port == 0;
    for (int attempt = 0; attempt < (pick ? REDISPROC_PORT_TRIES : 1); attempt++) {
        if (pick && (port = free_port()) <= 0) {
            snprintf(errbuf, errlen, "no free port on 127.0.0.1: %s", strerror(errno));
            return SL_EIO;
        }
        char logpath[600];
        snprintf(logpath, sizeof logpath, "%s/redis.log", data_dir);
        long log_from = file_size(logpath);
        pid_t pid = spawn(bin, logpath, data_dir, port, rp->sock);
        if (pid < 0) {
            int e = (int)-pid;
            if (e == ENOENT) {
                snprintf(errbuf, errlen,
                         "%s not found (install it: apt-get install redis-server; or pass --redis "
                         "redis://host:port)",
                         bin);
                return SL_ENOTFOUND;
            }
            snprintf(errbuf, errlen, "cannot run %s: %s", bin, strerror(e));
            return SL_EIO;
        }
        rp->pid = pid;
        rp->port = port;
        uint64_t start = now_ms();
        bool exited = false, loading = false;
        for (;;) {
            probe_result pr = probe(port, pid);
            if (pr == PROBE_OURS) return 0;
            if (reaped(pid)) {
                exited = true;
                break;
            }
            loading = loading || pr == PROBE_LOADING;
            int limit = loading ? REDISPROC_LOAD_MS : REDISPROC_START_MS;
            if (now_ms() - start > (uint64_t)limit) {
                redisproc_stop(rp);
                snprintf(errbuf, errlen,
                         "%s did not answer PING on 127.0.0.1:%d within %d s%s (see %s/redis.log)",
                         bin, port, limit / 1000, loading ? " (still loading its data)" : "",
                         data_dir);
                return SL_EIO;
            }
            sleep_ms(pr == PROBE_FOREIGN ? 50 : 20);
        }
        rp->pid = -1;
        rp->port = 0;
        char tail[300];
        log_reason(logpath, log_from, tail, sizeof tail);
        bool port_taken = !port_free(port);
        if (exited && pick && port_taken) continue; /* lost the race for the port: try another */
        snprintf(errbuf, errlen, "%s exited during start-up%s%s (see %s/redis.log)", bin,
                 tail[0] ? ": " : "", tail, data_dir);
        return SL_EIO;
    }
    snprintf(errbuf, errlen, "%s could not bind a free port on 127.0.0.1 in %d tries", bin,
             REDISPROC_PORT_TRIES);
    return SL_EIO;
}

void redisproc_stop(redisproc *rp)
{
    if (rp->pid <= 0) return;
    kill(rp->pid, SIGTERM);
    uint64_t start = now_ms();
    while (now_ms() - start < REDISPROC_STOP_MS) { /* redis flushes its AOF on SIGTERM */
        if (reaped(rp->pid)) goto out;
        sleep_ms(10);
    }
    kill(rp->pid, SIGKILL);
    while (waitpid(rp->pid, NULL, 0) < 0 && errno == EINTR) {
    }
out:
    rp->pid = -1;
}
