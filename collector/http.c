/* http.c - HTTP/1.1 connection handling on a libuv loop with llhttp (see http.h).
 *
 * A connection owns: a read buffer (bytes received, [rpos, rlen) not parsed yet), a header buffer
 * holding the URL and the interesting header values of the current request, a body buffer, and an
 * output buffer. While a request waits for its answer, received bytes accumulate in the read
 * buffer unparsed (pipelining); when the buffer is full, reading stops until the answer is out.
 * Memory: a connection is freed only when its socket is closed AND no answer is owed. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#include "sl_buf.h"

#define HTTP_RBUF 16384
#define HTTP_HNAME_MAX 40

struct http_conn {
    uv_tcp_t tcp; /* first: handle.data is not used */
    http_server *srv;
    http_conn *prev, *next;
    llhttp_t parser;

    char *hbuf; /* URL + captured header values, cap srv->lim.max_header_bytes */
    size_t hlen;
    size_t header_bytes; /* everything seen in the header block, for the limit */
    size_t url_off, url_len;
    struct {
        size_t off, len;
        bool set;
    } hdr[HTTP_H__COUNT];
    char hname[HTTP_HNAME_MAX];
    size_t hname_len;
    int cur_hdr;

    char *body;
    size_t blen, bcap;

    char *obuf;
    size_t olen, ocap;
    uv_write_t wreq;

    http_request req;
    uint64_t deadline;   /* loop ms, between requests (idle / first request); 0 = none */
    uint64_t msg_start;  /* loop ms: first byte of this request (accept for the first one) */
    uint64_t body_start; /* loop ms: headers complete */
    uint64_t nreq;       /* requests completed */
    bool headers_done;
    int reject_status;
    const char *reject_msg;
    const char *reject_limit;

    bool in_message; /* bytes of a request seen, answer not yet sent */
    bool pending;    /* handler called, http_respond not yet */
    bool writing;    /* a uv_write is in flight */
    bool reading;
    bool in_process;
    bool close_after; /* close once the current answer is written */
    bool closed;      /* uv_close called */
    bool handle_gone; /* close callback ran */

    /* Streaming (http_stream_start): obuf holds the bytes of the uv_write in flight, sbuf the
     * bytes queued behind it; stream_close fires once from the close callback unless ended. */
    bool streaming;
    bool stream_ended; /* http_stream_end called: close once sbuf is out, no callback */
    void (*stream_close)(void *ud);
    void *stream_ud;
    char *sbuf;
    size_t slen, scap;
    size_t inflight; /* bytes of the uv_write in flight */

    char peer_ip[INET6_ADDRSTRLEN];
    size_t rpos, rlen;
    char *rbuf; /* HTTP_RBUF bytes from the server's pool while input is buffered, else NULL */
};

struct http_server {
    uv_loop_t *loop;
    http_limits lim;
    http_handler handler;
    http_reject_hook reject;
    void *ud;
    llhttp_settings_t settings;
    uv_tcp_t listener;
    bool listening, listener_closed;
    uv_timer_t sweep;
    http_conn *conns;
    bool draining;
    void (*drain_done)(void *);
    void *drain_ud;
    bool drain_fired;
    http_stats stats;
    char date[64];
    uint64_t date_sec;
    /* Idle connections hold no buffers: read and header buffers come from these free lists
     * while a request is in progress (so memory follows active, not open, connections). */
    struct pool_buf *rpool, *hpool;
    size_t rpool_n, hpool_n;
};

/* ---- buffer pools ------------------------------------------------------------------------- */

typedef struct pool_buf {
    struct pool_buf *next;
} pool_buf;

#define HTTP_POOL_MAX 1024 /* buffers kept per list; beyond, freed */

static char *pool_get(pool_buf **head, size_t *n, size_t size)
{
    if (*head) {
        pool_buf *b = *head;
        *head = b->next;
        (*n)--;
        return (char *)b;
    }
    return malloc(size < sizeof(pool_buf) ? sizeof(pool_buf) : size);
}

static void pool_put(pool_buf **head, size_t *n, char *p)
{
    if (!p) return;
    if (*n >= HTTP_POOL_MAX) {
        free(p);
        return;
    }
    pool_buf *b = (pool_buf *)(void *)p;
    b->next = *head;
    *head = b;
    (*n)++;
}

static void pool_free(pool_buf *b)
{
    while (b) {
        pool_buf *next = b->next;
        free(b);
        b = next;
    }
}

static void conn_process(http_conn *c);
static void conn_close(http_conn *c);
static void conn_reject(http_conn *c, int status, const char *msg, const char *limit);

/* ---- helpers ---------------------------------------------------------------------------- */

const char *http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

size_t http_json_escape(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    if (!cap) return 0;
    for (size_t i = 0; i < n; i++) {
        char esc[6];
        size_t el = (size_t)(sl_json_escape(esc, s + i, 1) - esc);
        if (o + el >= cap) break;
        memcpy(dst + o, esc, el);
        o += el;
    }
    dst[o] = 0;
    return o;
}

static const char *server_date(http_server *s)
{
    uint64_t sec = uv_now(s->loop) / 1000;
    if (sec != s->date_sec || !s->date[0]) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_sec = sec;
    }
    return s->date;
}

/* put_str/put_uint: append to a buffer the caller sized; return the new end. */
static char *put_str(char *w, const char *s)
{
    size_t n = strlen(s);
    memcpy(w, s, n);
    return w + n;
}

static char *put_uint(char *w, size_t v)
{
    char d[24];
    size_t n = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while (v /= 10);
    while (n)
        *w++ = d[--n];
    return w;
}

static int obuf_reserve(http_conn *c, size_t extra)
{
    if (c->olen + extra <= c->ocap) return 0;
    size_t cap = c->ocap ? c->ocap : 1024;
    while (cap < c->olen + extra)
        cap *= 2;
    char *nb = realloc(c->obuf, cap);
    if (!nb) return -1;
    c->obuf = nb;
    c->ocap = cap;
    return 0;
}

static void fill_request(http_conn *c)
{
    http_request *r = &c->req;
    const char *url = c->hbuf + c->url_off;
    size_t ulen = c->url_len;
    const char *q = memchr(url, '?', ulen);
    r->path.p = url;
    r->path.n = q ? (size_t)(q - url) : ulen;
    r->query.p = q ? q + 1 : NULL;
    r->query.n = q ? ulen - r->path.n - 1 : 0;
    for (int i = 0; i < HTTP_H__COUNT; i++) {
        r->headers[i].p = c->hdr[i].set ? c->hbuf + c->hdr[i].off : NULL;
        r->headers[i].n = c->hdr[i].set ? c->hdr[i].len : 0;
    }
    r->method = llhttp_get_method(&c->parser);
    r->body = c->body;
    r->body_len = c->blen;
    r->peer_ip = c->peer_ip;
}

/* ---- llhttp callbacks ------------------------------------------------------------------- */

static int hbuf_append(http_conn *c, const char *at, size_t len)
{
    if (c->hlen + len > c->srv->lim.max_header_bytes) return -1;
    memcpy(c->hbuf + c->hlen, at, len);
    c->hlen += len;
    return 0;
}

static int count_header(http_conn *c, size_t len)
{
    c->header_bytes += len;
    if (c->header_bytes > c->srv->lim.max_header_bytes) {
        c->reject_status = 431;
        c->reject_msg = "request line and headers exceed max-header-bytes";
        c->reject_limit = "max_header_bytes";
        return HPE_USER;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    http_conn *c = p->data;
    if (!c->hbuf) {
        http_server *s = c->srv;
        size_t cap = s->lim.max_header_bytes ? s->lim.max_header_bytes : 1;
        if (!(c->hbuf = pool_get(&s->hpool, &s->hpool_n, cap))) return -1;
    }
    c->in_message = true;
    c->hlen = c->header_bytes = 0;
    c->url_off = c->url_len = 0;
    c->blen = 0;
    c->hname_len = 0;
    c->cur_hdr = -1;
    for (int i = 0; i < HTTP_H__COUNT; i++)
        c->hdr[i].set = false;
    memset(&c->req, 0, sizeof c->req);
    c->headers_done = false;
    if (c->nreq && c->srv->loop) c->msg_start = uv_now(c->srv->loop);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (count_header(c, len)) return HPE_USER;
    if (c->url_len == 0) c->url_off = c->hlen;
    if (hbuf_append(c, at, len)) return count_header(c, SIZE_MAX / 2);
    c->url_len += len;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (count_header(c, len)) return HPE_USER;
    for (size_t i = 0; i < len && c->hname_len < HTTP_HNAME_MAX; i++) {
        char ch = at[i];
        if (ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
        c->hname[c->hname_len++] = ch;
    }
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    static const char *const names[] = {
#define HTTP_HDR_NAME(id, name) name,
        HTTP_HEADER_MAP(HTTP_HDR_NAME)
#undef HTTP_HDR_NAME
    };
    static const unsigned char lens[] = {
#define HTTP_HDR_LEN(id, name) sizeof(name) - 1,
        HTTP_HEADER_MAP(HTTP_HDR_LEN)
#undef HTTP_HDR_LEN
    };
    c->cur_hdr = -1;
    for (int i = 0; i < HTTP_H__COUNT; i++) {
        size_t n = lens[i];
        if (n == c->hname_len && !memcmp(names[i], c->hname, n)) {
            c->cur_hdr = i;
            c->hdr[i].off = c->hlen;
            c->hdr[i].len = 0;
            c->hdr[i].set = true;
            break;
        }
    }
    c->hname_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (count_header(c, len)) return HPE_USER;
    if (c->cur_hdr >= 0) {
        if (hbuf_append(c, at, len)) return count_header(c, SIZE_MAX / 2);
        c->hdr[c->cur_hdr].len += len;
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    ((http_conn *)p->data)->cur_hdr = -1;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->srv->lim.max_body_bytes) {
        c->reject_status = 413;
        c->reject_msg = "request body exceeds max-body-bytes";
        c->reject_limit = "max_body_bytes";
        return -1;
    }
    c->headers_done = true;
    if (!c->srv->loop) return 0; /* socket-free parsing */
    c->body_start = uv_now(c->srv->loop);
    if (c->hdr[HTTP_H_EXPECT].set && c->hdr[HTTP_H_EXPECT].len == 12 &&
        !strncasecmp(c->hbuf + c->hdr[HTTP_H_EXPECT].off, "100-continue", 12)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    size_t max = c->srv->lim.max_body_bytes;
    if (c->blen + len > max) {
        c->reject_status = 413;
        c->reject_msg = "request body exceeds max-body-bytes";
        c->reject_limit = "max_body_bytes";
        return HPE_USER;
    }
    if (c->blen + len > c->bcap) {
        /* llhttp counts content_length down to what is still to come (of the body, or of the
         * chunk): a Content-Length body gets its whole size at once, not a copy per doubling. */
        size_t need = c->blen + len, cap = c->bcap ? c->bcap : 4096;
        while (cap < need)
            cap *= 2;
        if (p->content_length <= max && need + p->content_length > cap)
            cap = need + (size_t)p->content_length;
        if (cap > max) cap = max;
        char *nb = realloc(c->body, cap);
        if (!nb) {
            c->reject_status = 503;
            c->reject_msg = "out of memory";
            return HPE_USER;
        }
        c->body = nb;
        c->bcap = cap;
    }
    memcpy(c->body + c->blen, at, len);
    c->blen += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    fill_request(c);
    c->req.keep_alive = llhttp_should_keep_alive(p) && !c->close_after;
    c->pending = true;
    c->nreq++;
    return HPE_PAUSED;
}

/* ---- connection lifecycle --------------------------------------------------------------- */

static void conn_free(http_conn *c)
{
    http_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->stats.open--;
    pool_put(&s->hpool, &s->hpool_n, c->hbuf);
    pool_put(&s->rpool, &s->rpool_n, c->rbuf);
    free(c->body);
    free(c->obuf);
    free(c->sbuf);
    free(c);
    if (s->draining && !s->conns && s->listener_closed && !s->drain_fired) {
        s->drain_fired = true;
        if (s->drain_done) s->drain_done(s->drain_ud);
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    http_conn *c = (http_conn *)h;
    c->handle_gone = true;
    if (c->streaming && !c->stream_ended && c->stream_close) {
        void (*cb)(void *) = c->stream_close;
        c->stream_close = NULL;
        cb(c->stream_ud);
    }
    if (!c->pending && !c->writing) conn_free(c);
}

static void conn_close(http_conn *c)
{
    if (c->closed) return;
    c->closed = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    http_conn *c = (http_conn *)h;
    if (!c->rbuf && !(c->rbuf = pool_get(&c->srv->rpool, &c->srv->rpool_n, HTTP_RBUF))) {
        *buf = uv_buf_init(NULL, 0); /* UV_ENOBUFS: read stops until an answer frees memory */
        return;
    }
    if (c->rpos == c->rlen)
        c->rpos = c->rlen = 0;
    else if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    buf->base = c->rbuf + c->rlen;
    buf->len = HTTP_RBUF - c->rlen;
}

static void conn_read_stop(http_conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void conn_read_start(http_conn *c)
{
    if (!c->reading && !c->closed) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = true;
        else
            conn_close(c);
    }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = (http_conn *)st;
    if (nread == UV_ENOBUFS) { /* buffer full of pipelined requests: wait for the answer */
        conn_read_stop(c);
        return;
    }
    if (nread < 0) {
        conn_read_stop(c);
        if (!c->streaming && (c->pending || c->writing))
            c->close_after = true; /* finish, then close */
        else
            conn_close(c);
        return;
    }
    if (nread == 0) return;
    if (c->streaming) { /* nothing more is parsed: reading only tells when the peer goes */
        c->srv->stats.bytes_in += (uint64_t)nread;
        c->rpos = c->rlen = 0;
        return;
    }
    c->rlen += (size_t)nread;
    c->srv->stats.bytes_in += (uint64_t)nread;
    if (c->rlen == HTTP_RBUF && c->rpos == 0 && (c->pending || c->writing)) conn_read_stop(c);
    conn_process(c);
}

/* Parses buffered bytes until a request is complete (then calls the handler) or data runs out. */
static void conn_process(http_conn *c)
{
    if (c->in_process || c->streaming) return;
    c->in_process = true;
    while (!c->closed && !c->pending && !c->writing && c->rpos < c->rlen) {
        if (c->close_after && !c->in_message) {
            conn_close(c);
            break;
        }
        const char *start = c->rbuf + c->rpos;
        llhttp_errno_t e = llhttp_execute(&c->parser, start, c->rlen - c->rpos);
        if (e == HPE_OK) {
            c->rpos = c->rlen;
            break;
        }
        if (e == HPE_PAUSED) {
            const char *pos = llhttp_get_error_pos(&c->parser);
            c->rpos = pos ? (size_t)(pos - c->rbuf) : c->rlen;
            llhttp_resume(&c->parser);
            c->srv->handler(c->srv->ud, c, &c->req);
            continue;
        }
        if (c->reject_status) {
            conn_reject(c, c->reject_status, c->reject_msg, c->reject_limit);
        } else {
            char msg[160];
            snprintf(msg, sizeof msg, "malformed HTTP request: %s",
                     llhttp_get_error_reason(&c->parser));
            conn_reject(c, 400, msg, NULL);
        }
        break;
    }
    c->in_process = false;
    if (c->closed || c->streaming) return;
    if (c->rpos == c->rlen) {
        c->rpos = c->rlen = 0;
        pool_put(&c->srv->rpool, &c->srv->rpool_n, c->rbuf); /* nothing buffered: give it back */
        c->rbuf = NULL;
    }
    if (c->close_after && !c->pending && !c->writing && !c->in_message) {
        conn_close(c);
        return;
    }
    if (!c->pending && !c->writing) {
        if (c->rlen < HTTP_RBUF) conn_read_start(c);
    } else if (c->rlen - c->rpos >= HTTP_RBUF / 2 || c->rlen == HTTP_RBUF) {
        conn_read_stop(c);
    }
}

static void conn_reject(http_conn *c, int status, const char *msg, const char *limit)
{
    if (!c->in_message) on_message_begin(&c->parser);
    fill_request(c);
    c->pending = true;
    c->close_after = true;
    c->rpos = c->rlen = 0;
    conn_read_stop(c);
    char hdrs[1024];
    size_t hl = 0;
    if (c->srv->reject) hl = c->srv->reject(c->srv->ud, &c->req, status, hdrs, sizeof hdrs - 1);
    hdrs[hl] = 0;
    http_respond_error(c, status, hl ? hdrs : NULL, msg, limit);
}

static void after_write(http_conn *c)
{
    c->in_message = false;
    c->deadline =
        c->srv->lim.idle_timeout_ms ? uv_now(c->srv->loop) + c->srv->lim.idle_timeout_ms : 0;
    /* The request is answered: its header and body buffers go (an idle connection holds
     * nothing but its struct); the next request takes pooled ones. */
    pool_put(&c->srv->hpool, &c->srv->hpool_n, c->hbuf);
    c->hbuf = NULL;
    free(c->body);
    c->body = NULL;
    c->bcap = 0;
    if (!c->streaming) {
        free(c->obuf);
        c->obuf = NULL;
        c->ocap = c->olen = 0;
    }
    if (c->handle_gone) {
        conn_free(c);
        return;
    }
    if (c->close_after || (c->srv->draining && c->rpos == c->rlen)) {
        conn_close(c);
        return;
    }
    conn_process(c);
}

static void stream_on_write(http_conn *c, int status);

static void on_write(uv_write_t *w, int status)
{
    http_conn *c = w->data;
    c->writing = false;
    if (c->streaming) {
        stream_on_write(c, status);
        return;
    }
    if (status < 0 && !c->closed) c->close_after = true;
    after_write(c);
}

void http_respond(http_conn *c, int status, const char *extra_headers, const char *content_type,
                  const char *body, size_t body_len)
{
    http_server *s = c->srv;
    c->pending = false;
    if (c->closed) {
        if (c->handle_gone && !c->writing) conn_free(c);
        return;
    }
    if (s->draining) c->close_after = true;
    bool keep = c->req.keep_alive && !c->close_after;
    if (!keep) c->close_after = true;
    size_t eh = extra_headers ? strlen(extra_headers) : 0;
    c->olen = 0;
    if (obuf_reserve(c, 256 + eh + body_len + (content_type ? strlen(content_type) : 0))) {
        conn_close(c);
        return;
    }
    /* Formatted by hand: this runs once per request. */
    char *w = c->obuf;
    w = put_str(w, "HTTP/1.1 ");
    w = put_uint(w, (unsigned)status);
    *w++ = ' ';
    w = put_str(w, http_status_text(status));
    w = put_str(w, "\r\nDate: ");
    w = put_str(w, server_date(s));
    w = put_str(w, "\r\n");
    if (content_type) {
        w = put_str(w, "Content-Type: ");
        w = put_str(w, content_type);
        w = put_str(w, "\r\nContent-Length: ");
        w = put_uint(w, body_len);
        w = put_str(w, "\r\n");
    }
    c->olen = (size_t)(w - c->obuf);
    if (!keep) {
        memcpy(c->obuf + c->olen, "Connection: close\r\n", 19);
        c->olen += 19;
    } else if (c->parser.http_major == 1 && c->parser.http_minor == 0) {
        memcpy(c->obuf + c->olen, "Connection: keep-alive\r\n", 24);
        c->olen += 24;
    }
    memcpy(c->obuf + c->olen, extra_headers ? extra_headers : "", eh);
    c->olen += eh;
    memcpy(c->obuf + c->olen, "\r\n", 2);
    c->olen += 2;
    if (content_type && body_len) {
        memcpy(c->obuf + c->olen, body, body_len);
        c->olen += body_len;
    }
    s->stats.bytes_out += c->olen;

    uv_buf_t b = uv_buf_init(c->obuf, (unsigned)c->olen);
    int wr = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (wr == (int)c->olen) {
        if (!c->in_process)
            after_write(c);
        else {
            c->in_message = false;
            if (c->close_after) conn_close(c);
            c->deadline = s->lim.idle_timeout_ms ? uv_now(s->loop) + s->lim.idle_timeout_ms : 0;
        }
        return;
    }
    if (wr < 0 && wr != UV_EAGAIN) {
        c->close_after = true;
        conn_close(c);
        return;
    }
    size_t done = wr > 0 ? (size_t)wr : 0;
    b = uv_buf_init(c->obuf + done, (unsigned)(c->olen - done));
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
        conn_close(c);
        return;
    }
    c->writing = true;
}

void http_respond_error(http_conn *c, int status, const char *extra_headers, const char *message,
                        const char *limit)
{
    char body[1400], esc[1200];
    http_json_escape(esc, sizeof esc, message, strlen(message));
    int n = snprintf(body, sizeof body, "{\"success\":false,\"error\":\"%s\"", esc);
    if (limit) n += snprintf(body + n, sizeof body - (size_t)n, ",\"limit\":\"%s\"", limit);
    n += snprintf(body + n, sizeof body - (size_t)n, "}");
    http_respond(c, status, extra_headers, "application/json", body, (size_t)n);
}

const http_request *http_conn_request(const http_conn *c)
{
    return c->pending ? &c->req : NULL;
}

void http_conn_set_close(http_conn *c)
{
    c->close_after = true;
}

/* ---- streaming responses ---------------------------------------------------------------- */

/* Hands sbuf to libuv when no write is in flight: what the socket takes at once is done, the rest
 * moves to obuf (buffers swapped, no copy) under one uv_write. Closes the connection on error. */
static void stream_flush(http_conn *c)
{
    if (c->writing || c->closed || !c->slen) return;
    uv_buf_t b = uv_buf_init(c->sbuf, (unsigned)c->slen);
    int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (w < 0 && w != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    size_t done = w > 0 ? (size_t)w : 0;
    if (done == c->slen) {
        c->slen = 0;
        return;
    }
    char *t = c->obuf;
    size_t tcap = c->ocap;
    c->obuf = c->sbuf, c->ocap = c->scap, c->olen = c->slen;
    c->sbuf = t, c->scap = tcap, c->slen = 0;
    c->inflight = c->olen - done;
    b = uv_buf_init(c->obuf + done, (unsigned)c->inflight);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
        conn_close(c);
        return;
    }
    c->writing = true;
}

static void stream_on_write(http_conn *c, int status)
{
    c->inflight = 0;
    if (c->handle_gone) {
        conn_free(c);
        return;
    }
    if (status < 0 || c->closed) {
        conn_close(c);
        return;
    }
    stream_flush(c);
    if (c->stream_ended && !c->writing && !c->slen) conn_close(c);
}

/* Appends to sbuf within HTTP_STREAM_MAX_QUEUE (counting the write in flight). */
static int stream_queue(http_conn *c, const char *data, size_t n)
{
    if (c->slen + c->inflight + n > HTTP_STREAM_MAX_QUEUE) return UV_ENOBUFS;
    if (c->slen + n > c->scap) {
        size_t cap = c->scap ? c->scap : 4096;
        while (cap < c->slen + n)
            cap *= 2;
        char *nb = realloc(c->sbuf, cap);
        if (!nb) return UV_ENOMEM;
        c->sbuf = nb;
        c->scap = cap;
    }
    memcpy(c->sbuf + c->slen, data, n);
    c->slen += n;
    return 0;
}

int http_stream_start(http_conn *c, const char *extra_headers, const char *content_type,
                      void (*on_close)(void *ud), void *ud)
{
    http_server *s = c->srv;
    if (!c->pending || c->streaming) return UV_EINVAL;
    if (s->draining) {
        http_respond_error(c, 503, extra_headers, "shutting down", NULL);
        return UV_ECANCELED;
    }
    c->pending = false;
    if (c->closed) {
        if (c->handle_gone && !c->writing) conn_free(c);
        return UV_ECONNRESET;
    }
    c->streaming = true;
    c->stream_close = on_close;
    c->stream_ud = ud;
    c->in_message = false;
    c->deadline = 0;
    c->rpos = c->rlen = 0; /* pipelined bytes after the request are dropped */
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Type: %s\r\n"
                     "Cache-Control: no-cache\r\nConnection: close\r\n",
                     server_date(s), content_type ? content_type : "application/octet-stream");
    size_t eh = extra_headers ? strlen(extra_headers) : 0;
    if (n < 0 || (size_t)n >= sizeof head || stream_queue(c, head, (size_t)n) ||
        stream_queue(c, extra_headers ? extra_headers : "", eh) || stream_queue(c, "\r\n", 2)) {
        conn_close(c); /* on_close comes from the close callback */
        return 0;
    }
    s->stats.bytes_out += c->slen;
    if (c->close_after) { /* the peer already went (EOF while the request was pending) */
        conn_close(c);
        return 0;
    }
    conn_read_start(c);
    stream_flush(c);
    return 0;
}

int http_stream_write(http_conn *c, const char *data, size_t n)
{
    if (!c->streaming || c->stream_ended) return UV_EINVAL;
    if (c->closed) return UV_ECONNRESET;
    if (!n) return 0;
    if (!c->writing && !c->slen) { /* the common case: straight to the socket */
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
        int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (w < 0 && w != UV_EAGAIN) {
            conn_close(c);
            return w;
        }
        size_t done = w > 0 ? (size_t)w : 0;
        c->srv->stats.bytes_out += done;
        data += done;
        n -= done;
        if (!n) return 0;
    }
    int rc = stream_queue(c, data, n);
    if (rc) {
        conn_close(c); /* a consumer this far behind is dropped */
        return rc;
    }
    c->srv->stats.bytes_out += n;
    stream_flush(c);
    return c->closed ? UV_ECONNRESET : 0;
}

void http_stream_end(http_conn *c)
{
    if (!c->streaming || c->stream_ended) return;
    c->stream_ended = true;
    c->stream_close = NULL;
    if (!c->closed && !c->writing && !c->slen) conn_close(c);
}

size_t http_stream_queued(const http_conn *c)
{
    return c->slen + c->inflight;
}

/* ---- server ----------------------------------------------------------------------------- */

typedef struct {
    uint64_t at; /* loop ms; UINT64_MAX = never */
    const char *msg, *limit;
} due;

static void due_min(due *d, uint64_t at, const char *msg, const char *limit)
{
    if (at < d->at) *d = (due){at, msg, limit};
}

/* When the current phase of a connection that is receiving a request runs out, and why. */
static due request_due(const http_conn *c, const http_limits *l)
{
    due d = {UINT64_MAX, NULL, NULL};
    if (l->request_timeout_ms)
        due_min(&d, c->msg_start + l->request_timeout_ms,
                "request not received within request-timeout-ms", "request_timeout_ms");
    if (!c->headers_done) {
        if (l->header_timeout_ms)
            due_min(&d, c->msg_start + l->header_timeout_ms,
                    "request line and headers not received within header-timeout-ms",
                    "header_timeout_ms");
    } else if (l->body_timeout_ms) {
        /* Every body byte received buys 1/min_body_rate s: a client keeping up the minimum rate
         * stays ahead of the deadline, a trickling one falls behind within the grace. */
        uint64_t at = c->body_start + l->body_timeout_ms;
        if (l->min_body_rate) at += (uint64_t)c->blen * 1000 / l->min_body_rate;
        due_min(&d, at, "request body not received within body-timeout-ms at min-body-rate bytes/s",
                "body_timeout_ms");
    }
    return d;
}

/* Every connection waiting for bytes is checked against its deadline; the ones out of time get
 * 408 (mid-request) or are closed (between requests). O(connections) once per interval. */
static void on_sweep(uv_timer_t *t)
{
    http_server *s = t->data;
    uint64_t now = uv_now(s->loop);
    http_conn *next;
    for (http_conn *c = s->conns; c; c = next) {
        next = c->next;
        if (c->closed || c->pending || c->writing || c->streaming) continue;
        if (c->in_message) {
            due d = request_due(c, &s->lim);
            if (now >= d.at) conn_reject(c, 408, d.msg, d.limit);
        } else if (c->deadline && now >= c->deadline) {
            conn_close(c);
        }
    }
}

static void on_connection(uv_stream_t *ls, int status)
{
    http_server *s = ls->data;
    if (status < 0) return;
    http_conn *c = calloc(1, sizeof *c);
    if (!c) return; /* out of memory: the connection stays in the backlog */
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->stats.open++;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    s->stats.accepted++;
    if (s->stats.open > s->lim.max_connections || s->draining) {
        s->stats.refused++;
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    strcpy(c->peer_ip, "unknown");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)&ss, c->peer_ip, sizeof c->peer_ip);
        else if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer_ip, sizeof c->peer_ip);
    }
    llhttp_init(&c->parser, HTTP_REQUEST, &s->settings);
    c->parser.data = c;
    c->cur_hdr = -1;
    c->msg_start = uv_now(s->loop);
    /* A new connection gets header-timeout-ms for its first request line + headers. */
    uint64_t first = s->lim.header_timeout_ms ? s->lim.header_timeout_ms : s->lim.idle_timeout_ms;
    if (s->lim.request_timeout_ms && (!first || s->lim.request_timeout_ms < first))
        first = s->lim.request_timeout_ms;
    c->deadline = first ? c->msg_start + first : 0;
    conn_read_start(c);
}

http_server *http_server_new(uv_loop_t *loop, const http_limits *lim, http_handler h,
                             http_reject_hook reject, void *ud)
{
    http_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->loop = loop;
    s->lim = *lim;
    s->handler = h;
    s->reject = reject;
    s->ud = ud;
    llhttp_settings_init(&s->settings);
    s->settings.on_message_begin = on_message_begin;
    s->settings.on_url = on_url;
    s->settings.on_header_field = on_header_field;
    s->settings.on_header_field_complete = on_header_field_complete;
    s->settings.on_header_value = on_header_value;
    s->settings.on_header_value_complete = on_header_value_complete;
    s->settings.on_headers_complete = on_headers_complete;
    s->settings.on_body = on_body;
    s->settings.on_message_complete = on_message_complete;
    uv_timer_init(loop, &s->sweep);
    s->sweep.data = s;
    uint64_t iv = 1000;
    const uint64_t tos[] = {lim->request_timeout_ms, lim->idle_timeout_ms, lim->header_timeout_ms,
                            lim->body_timeout_ms};
    for (size_t i = 0; i < sizeof tos / sizeof tos[0]; i++)
        if (tos[i] && tos[i] / 4 < iv) iv = tos[i] / 4;
    if (iv < 10) iv = 10;
    uv_timer_start(&s->sweep, on_sweep, iv, iv);
    uv_unref((uv_handle_t *)&s->sweep);
    s->listener_closed = true;
    return s;
}

int http_server_listen_fd(http_server *s, int fd, int backlog)
{
    int rc = uv_tcp_init(s->loop, &s->listener);
    if (rc) {
        close(fd);
        return rc;
    }
    s->listener.data = s;
    s->listener_closed = false;
    s->listening = true;
    if ((rc = uv_tcp_open(&s->listener, fd)) == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, backlog, on_connection);
    return rc;
}

static void on_listener_closed(uv_handle_t *h)
{
    http_server *s = h->data;
    s->listener_closed = true;
    if (s->draining && !s->conns && !s->drain_fired) {
        s->drain_fired = true;
        if (s->drain_done) s->drain_done(s->drain_ud);
    }
}

static void on_sweep_closed(uv_handle_t *h)
{
    http_server *s = h->data;
    pool_free(s->rpool);
    pool_free(s->hpool);
    free(s);
}

void http_server_drain(http_server *s, void (*done)(void *ud), void *ud)
{
    s->draining = true;
    s->drain_done = done;
    s->drain_ud = ud;
    if (s->listening) {
        s->listening = false;
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    }
    http_conn *next;
    for (http_conn *c = s->conns; c; c = next) {
        next = c->next;
        if (c->streaming || (!c->in_message && !c->pending && !c->writing && c->rpos == c->rlen))
            conn_close(c); /* a stream has no end to wait for: its owner hears of it (on_close) */
        else
            c->close_after = true;
    }
    if (!s->conns && s->listener_closed && !s->drain_fired) {
        s->drain_fired = true;
        if (done) done(ud);
    }
}

void http_server_close_all(http_server *s)
{
    for (http_conn *c = s->conns; c; c = c->next)
        conn_close(c);
}

void http_server_free(http_server *s)
{
    if (!s) return;
    uv_close((uv_handle_t *)&s->sweep, on_sweep_closed); /* frees s */
}

void http_server_get_stats(const http_server *s, http_stats *out)
{
    *out = s->stats;
}

int http_listen_socket(const char *host, int *port_inout, int backlog, int *fd_out, char *err,
                       size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", *port_inout);
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g) {
        snprintf(err, errlen, "listen address '%s': %s", host, gai_strerror(g));
        return -EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = 0;
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "socket: %s", strerror(errno));
        goto out;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        rc = -errno;
        snprintf(err, errlen, "listen on %s:%d: %s", host, *port_inout, strerror(errno));
        close(fd);
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *port_inout = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
out:
    freeaddrinfo(ai);
    return rc;
}

/* ---- socket-free parsing (fuzzing, tests) ------------------------------------------------ */

size_t http_parse_requests(const http_limits *lim, const char *data, size_t n, size_t step,
                           void (*on_req)(void *ud, const http_request *req), void *ud,
                           int *reject_status, char *msg, size_t msglen)
{
    *reject_status = 0;
    if (msglen) msg[0] = 0;
    http_server srv;
    memset(&srv, 0, sizeof srv);
    srv.lim = *lim; /* srv.loop == NULL: the callbacks touch no socket and no clock */
    llhttp_settings_init(&srv.settings);
    srv.settings.on_message_begin = on_message_begin;
    srv.settings.on_url = on_url;
    srv.settings.on_header_field = on_header_field;
    srv.settings.on_header_field_complete = on_header_field_complete;
    srv.settings.on_header_value = on_header_value;
    srv.settings.on_header_value_complete = on_header_value_complete;
    srv.settings.on_headers_complete = on_headers_complete;
    srv.settings.on_body = on_body;
    srv.settings.on_message_complete = on_message_complete;
    http_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->hbuf = malloc(lim->max_header_bytes ? lim->max_header_bytes : 1))) {
        free(c);
        *reject_status = 503;
        snprintf(msg, msglen, "out of memory");
        return 0;
    }
    c->srv = &srv;
    c->cur_hdr = -1;
    strcpy(c->peer_ip, "127.0.0.1");
    llhttp_init(&c->parser, HTTP_REQUEST, &srv.settings);
    c->parser.data = c;
    size_t count = 0, pos = 0;
    while (pos < n) {
        size_t len = step && n - pos > step ? step : n - pos;
        llhttp_errno_t e = llhttp_execute(&c->parser, data + pos, len);
        if (e == HPE_PAUSED) {
            const char *at = llhttp_get_error_pos(&c->parser);
            pos = at ? (size_t)(at - data) : pos + len;
            llhttp_resume(&c->parser);
            c->pending = false;
            count++;
            if (on_req) on_req(ud, &c->req);
            continue;
        }
        if (e != HPE_OK) {
            if (c->reject_status) {
                *reject_status = c->reject_status;
                snprintf(msg, msglen, "%s", c->reject_msg);
            } else {
                *reject_status = 400;
                snprintf(msg, msglen, "malformed HTTP request: %s",
                         llhttp_get_error_reason(&c->parser));
            }
            break;
        }
        pos += len;
    }
    free(c->hbuf);
    free(c->body);
    free(c);
    return count;
}

/* ---- query strings ------------------------------------------------------------------------- */

/* Percent-decodes src[0..n) ('+' is a space, as in forms) into dst[cap]; returns the length, or
 * -1 when it does not fit or an escape is malformed. dst is not NUL-terminated. */
long http_pct_decode(const char *src, size_t n, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)src[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (i + 2 >= n) return -1;
            int hi = src[i + 1], lo = src[i + 2], v = 0;
            for (int k = 0; k < 2; k++) {
                int d = k ? lo : hi;
                d = d >= '0' && d <= '9'   ? d - '0'
                    : d >= 'a' && d <= 'f' ? d - 'a' + 10
                    : d >= 'A' && d <= 'F' ? d - 'A' + 10
                                           : -1;
                if (d < 0) return -1;
                v = v * 16 + d;
            }
            ch = v;
            i += 2;
        }
        if (o >= cap) return -1;
        dst[o++] = (char)ch;
    }
    return (long)o;
}

/* The decoded value of query parameter `name` into dst[cap]: its length, -1 when absent or
 * undecodable. */
long http_query_get(http_slice q, const char *name, char *dst, size_t cap)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < q.n;) {
        size_t e = i;
        while (e < q.n && q.p[e] != '&')
            e++;
        if (e - i > nl && !memcmp(q.p + i, name, nl) && q.p[i + nl] == '=')
            return http_pct_decode(q.p + i + nl + 1, e - i - nl - 1, dst, cap);
        i = e + 1;
    }
    return -1;
}
