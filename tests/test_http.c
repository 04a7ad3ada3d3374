/* test_http.c - the HTTP layer over real loopback sockets: keep-alive, pipelining with
 * asynchronous answers kept in order, header capture, body/header limits (413/431), malformed
 * requests (400), Expect: 100-continue, request and idle timeouts, and drain. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <llhttp.h>
#include <uv.h>

#include "check.h"
#include "http.h"

typedef struct {
    uv_loop_t loop;
    http_server *srv;
    uv_async_t stop;
    uv_timer_t later;
    http_conn *later_conn;
    int port;
    int rejects;
    int drained;
} fixture;

static void answer(http_conn *c, const http_request *rq)
{
    char body[1024];
    int n = snprintf(body, sizeof body, "%.*s|%.*s|%zu|%.*s|%.*s|%s", (int)rq->path.n, rq->path.p,
                     (int)rq->query.n, rq->query.p ? rq->query.p : "", rq->body_len,
                     (int)rq->headers[HTTP_H_CONTENT_TYPE].n,
                     rq->headers[HTTP_H_CONTENT_TYPE].p ? rq->headers[HTTP_H_CONTENT_TYPE].p : "",
                     (int)rq->headers[HTTP_H_AUTHORIZATION].n,
                     rq->headers[HTTP_H_AUTHORIZATION].p ? rq->headers[HTTP_H_AUTHORIZATION].p : "",
                     rq->peer_ip);
    http_respond(c, 200, "X-Test: 1\r\n", "text/plain", body, (size_t)n);
}

static void on_later(uv_timer_t *t)
{
    fixture *f = t->data;
    http_conn *c = f->later_conn;
    f->later_conn = NULL;
    answer(c, http_conn_request(c));
}

static void handler(void *ud, http_conn *c, const http_request *rq)
{
    fixture *f = ud;
    if (rq->path.n == 6 && !memcmp(rq->path.p, "/async", 6)) {
        f->later_conn = c;
        uv_timer_start(&f->later, on_later, 50, 0);
        return;
    }
    answer(c, rq);
}

static size_t on_reject(void *ud, const http_request *rq, int status, char *hdrs, size_t cap)
{
    ((fixture *)ud)->rejects++;
    return (size_t)snprintf(hdrs, cap, "X-Rejected: %d\r\n", status);
}

static void on_drained(void *ud)
{
    fixture *f = ud;
    f->drained = 1;
    http_server_free(f->srv);
    uv_close((uv_handle_t *)&f->stop, NULL);
    uv_close((uv_handle_t *)&f->later, NULL);
}

static void on_stop(uv_async_t *a)
{
    fixture *f = a->data;
    http_server_drain(f->srv, on_drained, f);
}

static void run_loop(void *arg)
{
    uv_run(&((fixture *)arg)->loop, UV_RUN_DEFAULT);
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Reads until `count` complete responses (by Content-Length) arrived, EOF, or timeout. */
static size_t read_responses(int fd, char *buf, size_t cap, int count, int *eof)
{
    size_t n = 0;
    *eof = 0;
    for (;;) {
        int done = 0;
        const char *p = buf;
        buf[n] = 0;
        while ((p = strstr(p, "HTTP/1.1 ")) != NULL) {
            const char *he = strstr(p, "\r\n\r\n");
            if (!he) break;
            if (!strncmp(p, "HTTP/1.1 100 ", 13)) {
                p = he + 4;
                continue;
            }
            const char *cl = strstr(p, "Content-Length: ");
            size_t len = (cl && cl < he) ? (size_t)atol(cl + 16) : 0;
            if ((size_t)(he + 4 - buf) + len > n) break;
            done++;
            p = he + 4 + len;
        }
        if (done >= count) return n;
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) {
            *eof = r == 0;
            return n;
        }
        n += (size_t)r;
    }
}

static int is_closed(int fd)
{
    char c;
    ssize_t r = recv(fd, &c, 1, 0);
    return r == 0;
}

/* Query strings: percent and '+' decoding, bounds, malformed escapes, absent names. */
static void test_query(void)
{
    char v[16];
    http_slice q = {"a=1&writeKey=k%20ey+x&flag&b=%zz&c=%4", 0};
    q.n = strlen(q.p);
    long n = http_query_get(q, "writeKey", v, sizeof v);
    CHECK_INT(n, 6);
    CHECK(n == 6 && !memcmp(v, "k ey x", 6)); /* %20 and '+' are spaces */
    CHECK_INT(http_query_get(q, "a", v, sizeof v), 1);
    CHECK_INT(http_query_get(q, "flag", v, sizeof v), -1); /* no '=': not a value */
    CHECK_INT(http_query_get(q, "b", v, sizeof v), -1);    /* %zz */
    CHECK_INT(http_query_get(q, "c", v, sizeof v), -1);    /* truncated escape */
    CHECK_INT(http_query_get(q, "writ", v, sizeof v), -1); /* a prefix is not a name */
    CHECK_INT(http_query_get(q, "writeKey", v, 4), -1);    /* does not fit */
    CHECK_INT(http_pct_decode("%41%42", 6, v, sizeof v), 2);
    CHECK(v[0] == 'A' && v[1] == 'B');
}

int main(void)
{
    test_query();
    char buf[65536];
    int eof;
    fixture f;
    memset(&f, 0, sizeof f);
    uv_loop_init(&f.loop);
    http_limits lim = {.max_header_bytes = 1024,
                       .max_body_bytes = 2048,
                       .max_connections = 64,
                       .idle_timeout_ms = 400,
                       .request_timeout_ms = 300};
    f.srv = http_server_new(&f.loop, &lim, handler, on_reject, &f);
    CHECK(f.srv != NULL);
    int fd = -1, port = 0;
    char err[256];
    CHECK_INT(http_listen_socket("127.0.0.1", &port, 64, &fd, err, sizeof err), 0);
    CHECK(port > 0);
    int fd2 = -1, port2 = port;
    CHECK_INT(http_listen_socket("127.0.0.1", &port2, 64, &fd2, err, sizeof err), 0);
    CHECK_INT(port2, port); /* SO_REUSEPORT: a second socket on the same port */
    close(fd2);
    CHECK_INT(http_server_listen_fd(f.srv, fd, 64), 0);
    uv_async_init(&f.loop, &f.stop, on_stop);
    f.stop.data = &f;
    uv_timer_init(&f.loop, &f.later);
    f.later.data = &f;
    uv_thread_t th;
    uv_thread_create(&th, run_loop, &f);

    /* 1. keep-alive, header capture, query, body */
    int c = connect_to(port);
    CHECK(c >= 0);
    const char r1[] = "POST /v1/x?dry_run=1 HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
                      "AUTHORIZATION: Basic abc=\r\nContent-Length: 5\r\n\r\nhello";
    send(c, r1, sizeof r1 - 1, 0);
    size_t n = read_responses(c, buf, sizeof buf, 1, &eof);
    CHECK(n > 0 && !strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    CHECK(strstr(buf, "/v1/x|dry_run=1|5|text/plain|Basic abc=|127.0.0.1") != NULL);
    CHECK(strstr(buf, "X-Test: 1\r\n") != NULL);
    CHECK(strstr(buf, "Date: ") != NULL);
    CHECK(strstr(buf, "Connection: close") == NULL);
    const char r2[] = "GET /second HTTP/1.1\r\nHost: h\r\n\r\n";
    send(c, r2, sizeof r2 - 1, 0);
    n = read_responses(c, buf, sizeof buf, 1, &eof);
    CHECK(strstr(buf, "/second||0||") != NULL);

    /* 2. pipelining with an asynchronous answer in the middle: order kept */
    const char r3[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                      "GET /async HTTP/1.1\r\nHost: h\r\n\r\n"
                      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n0\r\n\r\n";
    send(c, r3, sizeof r3 - 1, 0);
    n = read_responses(c, buf, sizeof buf, 3, &eof);
    const char *pa = strstr(buf, "/a||0"), *pb = strstr(buf, "/async||0"),
               *pc = strstr(buf, "/c||3");
    CHECK(pa && pb && pc && pa < pb && pb < pc);
    close(c);

    /* 3. HTTP/1.0 and Connection: close */
    c = connect_to(port);
    const char r4[] = "GET /old HTTP/1.0\r\n\r\n";
    send(c, r4, sizeof r4 - 1, 0);
    n = read_responses(c, buf, sizeof buf, 1, &eof);
    CHECK(strstr(buf, "Connection: close") != NULL);
    CHECK(is_closed(c));
    close(c);

    /* 4. body over the limit (Content-Length): 413 JSON, then close */
    c = connect_to(port);
    const char r5[] = "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n";
    send(c, r5, sizeof r5 - 1, 0);
    n = read_responses(c, buf, sizeof buf, 1, &eof);
    CHECK(!strncmp(buf, "HTTP/1.1 413 ", 13));
    CHECK(strstr(buf, "\"limit\":\"max_body_bytes\"") != NULL);
    CHECK(strstr(buf, "X-Rejected: 413") != NULL);
    CHECK(strstr(buf, "Content-Type: application/json") != NULL);
    CHECK(is_closed(c));
    close(c);

    /* 5. chunked body over the limit */
    c = connect_to(port);
    char r6[4096];
    int l6 = snprintf(r6, sizeof r6,
                      "POST /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked"
                      "\r\n\r\n900\r\n");
    memset(r6 + l6, 'z', 2304);
    send(c, r6, (size_t)l6 + 2304, 0);
    n = read_responses(c, buf, sizeof buf, 1, &eof);
    CHECK(!strncmp(buf, "HTTP/1.1 413 ", 13));
    close(c);

    /* 6. header block over the limit: 431 */
    c = connect_to(port);
    char r7[3000];
    int l7 = snprintf(r7, sizeof r7, "GET / HTTP/1.1\r\nX-Pad: ");
    memset(r7 + l7, 'p', 1500);
    memcpy(r7 + l7 + 1500, "\r\n\r\n", 4);
    send(c, r7, (size_t)l7 + 1504, 0);
    n = read_responses(c, buf, sizeof buf, 1, &eof);
    CHECK(!strncmp(buf, "HTTP/1.1 431 ", 13));
    CHECK(strstr(buf, "max_header_bytes") != NULL);
    close(c);

    /* 7. malformed request line: 400 JSON */
    c = connect_to(port);
    send(c, "GARBAGE\r\n\r\n", 11, 0);
    n = read_responses(c, buf, sizeof buf, 1, &eof);
    CHECK(!strncmp(buf, "HTTP/1.1 400 ", 13));
    CHECK(strstr(buf, "{\"success\":false,\"error\":\"malformed HTTP request") != NULL);
    close(c);

    /* 8. Expect: 100-continue */
    c = connect_to(port);
    const char r8[] = "POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2"
                      "\r\n\r\n";
    send(c, r8, sizeof r8 - 1, 0);
    n = (size_t)recv(c, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    CHECK(!strncmp(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25));
    send(c, "ok", 2, 0);
    n = read_responses(c, buf, sizeof buf, 1, &eof);
    CHECK(strstr(buf, "/e||2") != NULL);
    close(c);

    /* 9. request timeout (partial request): 408; idle timeout: closed */
    c = connect_to(port);
    send(c, "GET /slow HTTP/1.1\r\nHost:", 25, 0);
    n = read_responses(c, buf, sizeof buf, 1, &eof);
    CHECK(!strncmp(buf, "HTTP/1.1 408 ", 13));
    close(c);
    c = connect_to(port);
    CHECK(is_closed(c)); /* after ~400 ms idle */
    close(c);
    CHECK_INT(f.rejects, 5);

    /* 10. drain: an idle keep-alive connection is closed, new ones are refused */
    c = connect_to(port);
    send(c, r2, sizeof r2 - 1, 0);
    read_responses(c, buf, sizeof buf, 1, &eof);
    uv_async_send(&f.stop);
    CHECK(is_closed(c));
    close(c);
    uv_thread_join(&th);
    CHECK_INT(f.drained, 1);
    CHECK(connect_to(port) < 0);
    CHECK_INT(uv_loop_close(&f.loop), 0);

    /* helpers */
    char esc[64];
    http_json_escape(esc, sizeof esc, "a\"b\\c\n\x01\t", 8); /* sl_json_escape's form */
    CHECK_STR(esc, "a\\\"b\\\\c\\n\\u0001\\t");
    char small[8]; /* an escape that does not fit is left out whole */
    CHECK_INT(http_json_escape(small, sizeof small, "abcde\x01", 6), 5);
    CHECK_STR(small, "abcde");
    CHECK_STR(http_status_text(413), "Payload Too Large");
    return check_done();
}
