/* webhook.c - HTTP/1.1 POST client for alert webhooks (see webhook.h for the promises).
 *
 * Shape: a delivery (one body to one URL) owns a uv timer that is either its backoff delay (no
 * attempt running) or the deadline of its current attempt. An attempt owns the handles of one
 * try: a getaddrinfo request, a TCP handle, its connect/write requests and an llhttp response
 * parser. When an attempt ends (any outcome) it is detached from its delivery first, then its
 * handles are closed; callbacks that arrive afterwards see a detached attempt and only release
 * their reference. An attempt is freed when it is detached and its last handle/request is back,
 * a delivery when its timer is closed; the client when every delivery and attempt is gone.
 * A closed TCP handle cancels its pending connect/write before its close callback runs, and libuv
 * closes the fd inside uv_close, so the request bytes are never read after a detach. */
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "sl_err.h"

#define WEBHOOK_READ_BUF 4096

typedef struct attempt attempt;

typedef struct delivery {
    struct delivery *prev, *next; /* the client's live deliveries */
    webhook *w;
    size_t target;
    char *req; /* full request bytes, owned */
    size_t req_len;
    unsigned attempts;
    int last_status, last_err;
    uv_timer_t timer; /* backoff, or the current attempt's deadline */
    attempt *cur;     /* running attempt or NULL */
} delivery;

struct attempt {
    webhook *w;
    delivery *d; /* NULL once detached */
    int refs;    /* outstanding getaddrinfo + open TCP handle */
    bool resolving, tcp_open;
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    llhttp_t parser;
    int status;
    bool complete;
    char buf[WEBHOOK_READ_BUF];
};

typedef struct {
    webhook_url u;
    char *raw;
} target;

struct webhook {
    uv_loop_t *loop;
    webhook_config cfg;
    char *ua;
    target *targets;
    size_t ntargets;
    delivery *head;
    size_t live;      /* delivery timers not yet closed + live attempts + the close guard */
    uv_timer_t guard; /* closed by webhook_close, so `done` never runs synchronously */
    bool closing;
    void (*close_done)(void *);
    void *close_ud;
    llhttp_settings_t settings;
    webhook_stats st;
};

/* ---- URLs --------------------------------------------------------------------------------- */

static int url_fail(char *err, size_t errlen, const char *url, const char *why)
{
    if (err && errlen) snprintf(err, errlen, "webhook URL '%s': %s", url, why);
    return SL_EUSAGE;
}

int webhook_url_parse(const char *url, webhook_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *pfx = "http://";
    if (!url || strncmp(url, pfx, strlen(pfx)) != 0) {
        if (url && strncmp(url, "https://", 8) == 0)
            return url_fail(err, errlen, url, "https is not supported, use http://");
        return url_fail(err, errlen, url ? url : "(null)", "must start with http://");
    }
    const char *auth = url + strlen(pfx);
    size_t alen = strcspn(auth, "/?#");
    if (alen == 0) return url_fail(err, errlen, url, "empty host");
    if (memchr(auth, '@', alen))
        return url_fail(err, errlen, url, "user:password@ is not supported");
    const char *rest = auth + alen;
    if (*rest == '#') rest += strlen(rest);
    const char *hash = strchr(rest, '#');
    size_t plen = hash ? (size_t)(hash - rest) : strlen(rest);
    const char *host = auth, *hend;
    const char *portp = NULL;
    if (*auth == '[') {
        const char *rb = memchr(auth, ']', alen);
        if (!rb || rb == auth + 1) return url_fail(err, errlen, url, "bad IPv6 address");
        host = auth + 1;
        hend = rb;
        if (rb + 1 < auth + alen) {
            if (rb[1] != ':') return url_fail(err, errlen, url, "junk after ']'");
            portp = rb + 2;
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        hend = colon ? colon : auth + alen;
        if (colon) portp = colon + 1;
        if (hend == host) return url_fail(err, errlen, url, "empty host");
    }
    int port = 80;
    if (portp) {
        long p = 0;
        const char *q = portp;
        if (q == auth + alen) return url_fail(err, errlen, url, "empty port");
        for (; q < auth + alen; q++) {
            if (*q < '0' || *q > '9') return url_fail(err, errlen, url, "bad port");
            p = p * 10 + (*q - '0');
            if (p > 65535) break;
        }
        if (p <= 0 || p > 65535) return url_fail(err, errlen, url, "port out of range");
        port = (int)p;
    }
    out->port = port;
    out->host = strndup(host, (size_t)(hend - host));
    out->hostport = strndup(auth, alen);
    if (plen == 0 || rest[0] != '/') {
        out->path = malloc(plen + 2);
        if (out->path) {
            out->path[0] = '/';
            memcpy(out->path + 1, rest, plen);
            out->path[plen + 1] = '\0';
        }
    } else {
        out->path = strndup(rest, plen);
    }
    if (!out->host || !out->hostport || !out->path) {
        webhook_url_cleanup(out);
        return SL_ENOMEM;
    }
    for (const char *c = out->path; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            webhook_url_cleanup(out);
            return url_fail(err, errlen, url, "control character or space in path");
        }
    return 0;
}

void webhook_url_cleanup(webhook_url *u)
{
    free(u->host);
    free(u->hostport);
    free(u->path);
    memset(u, 0, sizeof *u);
}

/* ---- lifecycle helpers -------------------------------------------------------------------- */

static void maybe_finish_close(webhook *w)
{
    if (!w->closing || w->live) return;
    void (*done)(void *) = w->close_done;
    void *ud = w->close_ud;
    for (size_t i = 0; i < w->ntargets; i++) {
        webhook_url_cleanup(&w->targets[i].u);
        free(w->targets[i].raw);
    }
    free(w->targets);
    free(w->ua);
    free(w);
    if (done) done(ud);
}

static void attempt_check_free(attempt *at)
{
    if (at->d || at->refs) return;
    webhook *w = at->w;
    free(at);
    w->live--;
    maybe_finish_close(w);
}

static void on_tcp_closed(uv_handle_t *h)
{
    attempt *at = h->data;
    at->refs--;
    attempt_check_free(at);
}

/* Detaches the attempt from its delivery and starts closing its handles. May free `at`. */
static void attempt_detach(attempt *at)
{
    if (at->d) {
        at->d->cur = NULL;
        at->d = NULL;
    }
    if (at->resolving) uv_cancel((uv_req_t *)&at->gai); /* its callback still comes */
    if (at->tcp_open && !uv_is_closing((uv_handle_t *)&at->tcp))
        uv_close((uv_handle_t *)&at->tcp, on_tcp_closed);
    attempt_check_free(at);
}

static void on_delivery_timer_closed(uv_handle_t *h)
{
    delivery *d = h->data;
    webhook *w = d->w;
    free(d->req);
    free(d);
    w->live--;
    maybe_finish_close(w);
}

static void delivery_unlink(delivery *d)
{
    webhook *w = d->w;
    if (d->prev)
        d->prev->next = d->next;
    else
        w->head = d->next;
    if (d->next) d->next->prev = d->prev;
    d->prev = d->next = NULL;
    w->st.pending--;
}

/* Reports the outcome and frees the delivery (asynchronously, after its timer closes). */
static void delivery_end(delivery *d, bool ok)
{
    webhook *w = d->w;
    delivery_unlink(d);
    if (ok)
        w->st.delivered++;
    else
        w->st.failed++;
    uv_close((uv_handle_t *)&d->timer, on_delivery_timer_closed);
    if (w->cfg.on_result)
        w->cfg.on_result(w->cfg.ud, w->targets[d->target].raw, ok, d->attempts, d->last_status,
                         d->last_err);
}

static void on_delivery_timer(uv_timer_t *t);

/* Ends the running attempt of `at`'s delivery: status is the HTTP status (0 if none), err a
 * negative code when the attempt failed before a status was read. */
static void attempt_finish(attempt *at, int status, int err)
{
    delivery *d = at->d;
    if (!d) return;
    webhook *w = d->w;
    uv_timer_stop(&d->timer);
    attempt_detach(at); /* `at` may be gone from here on */
    d->last_status = status;
    d->last_err = err;
    if (!err && status >= 200 && status <= 299) {
        delivery_end(d, true);
        return;
    }
    if (d->attempts >= w->cfg.max_attempts) {
        delivery_end(d, false);
        return;
    }
    uint64_t delay = w->cfg.backoff_ms;
    for (unsigned i = 1; i < d->attempts && delay < w->cfg.backoff_max_ms; i++)
        delay *= 2;
    if (delay > w->cfg.backoff_max_ms) delay = w->cfg.backoff_max_ms;
    uv_timer_start(&d->timer, on_delivery_timer, delay, 0);
}

/* ---- one attempt -------------------------------------------------------------------------- */

static int on_message_complete(llhttp_t *p)
{
    attempt *at = p->data;
    at->complete = true;
    return HPE_PAUSED;
}

static int on_headers_complete(llhttp_t *p)
{
    attempt *at = p->data;
    at->status = p->status_code;
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    attempt *at = h->data;
    buf->base = at->buf;
    buf->len = sizeof at->buf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    attempt *at = s->data;
    if (!at->d) return;
    if (nread == 0) return;
    if (nread < 0) {
        if (nread == UV_EOF && at->status && !at->complete && llhttp_finish(&at->parser) == HPE_OK)
            at->complete = true;
        if (at->complete)
            attempt_finish(at, at->status, 0);
        else
            attempt_finish(at, at->status, (int)nread);
        return;
    }
    llhttp_errno_t e = llhttp_execute(&at->parser, buf->base, (size_t)nread);
    if (at->complete)
        attempt_finish(at, at->status, 0);
    else if (e != HPE_OK)
        attempt_finish(at, at->status, UV_EPROTO);
}

static void on_write(uv_write_t *req, int status)
{
    attempt *at = req->data;
    if (!at->d || status == 0) return;
    attempt_finish(at, 0, status);
}

static void on_connect(uv_connect_t *req, int status)
{
    attempt *at = req->data;
    if (!at->d) return;
    if (status < 0) {
        attempt_finish(at, 0, status);
        return;
    }
    delivery *d = at->d;
    uv_buf_t b = uv_buf_init(d->req, (unsigned)d->req_len);
    at->wr.data = at;
    int rc = uv_write(&at->wr, (uv_stream_t *)&at->tcp, &b, 1, on_write);
    if (rc == 0) rc = uv_read_start((uv_stream_t *)&at->tcp, on_alloc, on_read);
    if (rc < 0) attempt_finish(at, 0, rc);
}

static void attempt_connect(attempt *at, const struct sockaddr *addr)
{
    int rc = uv_tcp_init(at->w->loop, &at->tcp);
    if (rc < 0) {
        attempt_finish(at, 0, rc);
        return;
    }
    at->tcp.data = at;
    at->tcp_open = true;
    at->refs++;
    at->conn.data = at;
    rc = uv_tcp_connect(&at->conn, &at->tcp, addr, on_connect);
    if (rc < 0) attempt_finish(at, 0, rc);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    attempt *at = req->data;
    at->resolving = false;
    at->refs--;
    if (!at->d) {
        if (res) uv_freeaddrinfo(res);
        attempt_check_free(at);
        return;
    }
    if (status < 0 || !res) {
        if (res) uv_freeaddrinfo(res);
        attempt_finish(at, 0, status < 0 ? status : UV_EAI_NONAME);
        return;
    }
    attempt_connect(at, res->ai_addr);
    uv_freeaddrinfo(res);
}

static void attempt_start(delivery *d)
{
    webhook *w = d->w;
    const webhook_url *u = &w->targets[d->target].u;
    d->attempts++;
    w->st.attempts++;
    if (d->attempts > 1) w->st.retries++;
    attempt *at = calloc(1, sizeof *at);
    if (!at) {
        /* Counts as a failed attempt; retried like any other failure. */
        d->last_err = UV_ENOMEM;
        if (d->attempts >= w->cfg.max_attempts)
            delivery_end(d, false);
        else
            uv_timer_start(&d->timer, on_delivery_timer, w->cfg.backoff_ms, 0);
        return;
    }
    at->w = w;
    at->d = d;
    d->cur = at;
    w->live++;
    llhttp_init(&at->parser, HTTP_RESPONSE, &w->settings);
    at->parser.data = at;
    uv_timer_start(&d->timer, on_delivery_timer, w->cfg.timeout_ms, 0);

    struct sockaddr_storage ss;
    if (uv_ip4_addr(u->host, u->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(u->host, u->port, (struct sockaddr_in6 *)&ss) == 0) {
        attempt_connect(at, (const struct sockaddr *)&ss);
        return;
    }
    char port[8];
    snprintf(port, sizeof port, "%d", u->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    at->gai.data = at;
    int rc = uv_getaddrinfo(w->loop, &at->gai, on_resolved, u->host, port, &hints);
    if (rc < 0) {
        attempt_finish(at, 0, rc);
        return;
    }
    at->resolving = true;
    at->refs++;
}

static void on_delivery_timer(uv_timer_t *t)
{
    delivery *d = t->data;
    if (d->cur)
        attempt_finish(d->cur, 0, UV_ETIMEDOUT); /* the attempt's deadline */
    else
        attempt_start(d); /* the backoff (or the initial 0 ms delay) ended */
}

/* ---- public API --------------------------------------------------------------------------- */

webhook *webhook_new(uv_loop_t *loop, const webhook_config *cfg)
{
    webhook *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->loop = loop;
    if (cfg) w->cfg = *cfg;
    if (!w->cfg.timeout_ms) w->cfg.timeout_ms = 5000;
    if (!w->cfg.max_attempts) w->cfg.max_attempts = 5;
    if (!w->cfg.backoff_ms) w->cfg.backoff_ms = 1000;
    if (!w->cfg.backoff_max_ms) w->cfg.backoff_max_ms = 60000;
    if (w->cfg.backoff_max_ms < w->cfg.backoff_ms) w->cfg.backoff_max_ms = w->cfg.backoff_ms;
    if (!w->cfg.max_pending) w->cfg.max_pending = 1000;
    w->ua = strdup(w->cfg.user_agent ? w->cfg.user_agent : "sluice-alert/1");
    if (!w->ua) {
        free(w);
        return NULL;
    }
    w->cfg.user_agent = w->ua;
    llhttp_settings_init(&w->settings);
    w->settings.on_headers_complete = on_headers_complete;
    w->settings.on_message_complete = on_message_complete;
    uv_timer_init(loop, &w->guard);
    w->guard.data = w;
    w->live = 1;
    return w;
}

int webhook_add_url(webhook *w, const char *url, char *err, size_t errlen)
{
    webhook_url u;
    int rc = webhook_url_parse(url, &u, err, errlen);
    if (rc) return rc;
    target *t = realloc(w->targets, (w->ntargets + 1) * sizeof *t);
    char *raw = strdup(url);
    if (!t || !raw) {
        if (t) w->targets = t;
        free(raw);
        webhook_url_cleanup(&u);
        return SL_ENOMEM;
    }
    w->targets = t;
    t[w->ntargets].u = u;
    t[w->ntargets].raw = raw;
    w->ntargets++;
    return 0;
}

size_t webhook_url_count(const webhook *w)
{
    return w->ntargets;
}

int webhook_post(webhook *w, const char *body, size_t len)
{
    int result = 0;
    if (w->closing) return SL_EUSAGE;
    for (size_t i = 0; i < w->ntargets; i++) {
        if (w->st.pending >= w->cfg.max_pending) {
            w->st.dropped++;
            result = SL_ELIMIT;
            continue;
        }
        const webhook_url *u = &w->targets[i].u;
        char head[1024];
        int hl = snprintf(head, sizeof head,
                          "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                          "Connection: close\r\n\r\n",
                          u->path, u->hostport, w->ua, len);
        delivery *d = calloc(1, sizeof *d);
        char *req = NULL;
        if (hl > 0 && (size_t)hl < sizeof head) req = malloc((size_t)hl + len);
        if (!d || !req) {
            free(d);
            free(req);
            w->st.dropped++;
            result = hl > 0 && (size_t)hl < sizeof head ? SL_ENOMEM : SL_ELIMIT;
            continue;
        }
        memcpy(req, head, (size_t)hl);
        if (len) memcpy(req + hl, body, len);
        d->w = w;
        d->target = i;
        d->req = req;
        d->req_len = (size_t)hl + len;
        uv_timer_init(w->loop, &d->timer);
        d->timer.data = d;
        w->live++;
        d->next = w->head;
        if (w->head) w->head->prev = d;
        w->head = d;
        w->st.posted++;
        w->st.pending++;
        uv_timer_start(&d->timer, on_delivery_timer, 0, 0);
    }
    return result;
}

void webhook_get_stats(const webhook *w, webhook_stats *out)
{
    *out = w->st;
}

static void on_guard_closed(uv_handle_t *h)
{
    webhook *w = h->data;
    w->live--;
    maybe_finish_close(w);
}

void webhook_close(webhook *w, void (*done)(void *ud), void *ud)
{
    w->closing = true;
    w->close_done = done;
    w->close_ud = ud;
    while (w->head) {
        delivery *d = w->head;
        if (d->cur) attempt_detach(d->cur);
        delivery_unlink(d);
        w->st.abandoned++;
        uv_close((uv_handle_t *)&d->timer, on_delivery_timer_closed);
    }
    uv_close((uv_handle_t *)&w->guard, on_guard_closed);
}
