/* test_alert.c - alerts on broken tags, end to end on 127.0.0.1: scripted traffic driven through
 * alert_note/alert_health + alert_tick with a fake clock, delivered to a real HTTP receiver that
 * runs inside this test on the same libuv loop; the webhook client's retries (500, 500, 200),
 * give-up on a closed port and on a receiver that never answers, its queue bound; PUBLISH seen by
 * a real subscriber on a real redis-server (skipped with a note when redis-server is missing);
 * rules files (defaults, a full example, bad files with line:col); the counter table's bound and
 * concurrent alert_note from several threads. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <llhttp.h>
#include <uv.h>

#include "alert.h"
#include "check.h"
#include "redisproc.h"
#include "webhook.h"

static uv_loop_t loop;

/* ---- loop helpers ------------------------------------------------------------------------- */

static bool never(void *ud)
{
    return false;
}

/* Runs the loop until pred(ud) holds or ms of real time pass; returns pred's final value. */
static bool run_until(bool (*pred)(void *), void *ud, unsigned ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (!pred(ud) && uv_hrtime() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    return pred(ud);
}

static void run_for(unsigned ms)
{
    run_until(never, NULL, ms);
}

/* ---- the webhook receiver: a tiny HTTP/1.1 server on the test's loop ---------------------- */

#define RV_MAX 64

typedef struct {
    uv_tcp_t srv;
    int port;
    int script[16]; /* status per request, in order; 0 = never answer; past the end: 200 */
    int nscript;
    int nreq;
    cJSON *ok[RV_MAX]; /* bodies answered with 2xx */
    int nok;
    int open_conns;
} receiver;

typedef struct {
    uv_tcp_t tcp;
    receiver *rv;
    llhttp_t p;
    llhttp_settings_t s;
    char body[65536];
    char rbuf[16384];
    size_t blen;
    bool complete;
    uv_write_t wr;
    char resp[256];
} rconn;

static void rconn_closed(uv_handle_t *h)
{
    rconn *c = h->data;
    c->rv->open_conns--;
    free(c);
}

static void rconn_close(rconn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, rconn_closed);
}

static int rv_on_body(llhttp_t *p, const char *at, size_t len)
{
    rconn *c = p->data;
    if (c->blen + len < sizeof c->body) {
        memcpy(c->body + c->blen, at, len);
        c->blen += len;
    }
    return 0;
}

static int rv_on_complete(llhttp_t *p)
{
    ((rconn *)p->data)->complete = true;
    return HPE_PAUSED;
}

static void rv_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    rconn *c = h->data;
    b->base = c->rbuf;
    b->len = sizeof c->rbuf;
}

static void rv_written(uv_write_t *w, int status)
{
    rconn_close(w->data);
}

static void rv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    rconn *c = s->data;
    if (n < 0) {
        rconn_close(c);
        return;
    }
    if (n == 0 || c->complete) return;
    llhttp_errno_t e = llhttp_execute(&c->p, b->base, (size_t)n);
    if (!c->complete) {
        if (e != HPE_OK) rconn_close(c);
        return;
    }
    receiver *rv = c->rv;
    int idx = rv->nreq++;
    int status = idx < rv->nscript ? rv->script[idx] : 200;
    if (status == 0) return; /* hang: the client's deadline closes it */
    if (status >= 200 && status < 300 && rv->nok < RV_MAX) {
        c->body[c->blen] = '\0';
        rv->ok[rv->nok++] = cJSON_Parse(c->body);
    }
    int len = snprintf(c->resp, sizeof c->resp,
                       "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", status);
    uv_buf_t out = uv_buf_init(c->resp, (unsigned)len);
    c->wr.data = c;
    if (uv_write(&c->wr, s, &out, 1, rv_written) < 0) rconn_close(c);
}

static void rv_on_conn(uv_stream_t *srv, int status)
{
    receiver *rv = srv->data;
    if (status < 0) return;
    rconn *c = calloc(1, sizeof *c);
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    c->rv = rv;
    rv->open_conns++;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
        rconn_close(c);
        return;
    }
    llhttp_settings_init(&c->s);
    c->s.on_body = rv_on_body;
    c->s.on_message_complete = rv_on_complete;
    llhttp_init(&c->p, HTTP_REQUEST, &c->s);
    c->p.data = c;
    uv_read_start((uv_stream_t *)&c->tcp, rv_alloc, rv_read);
}

static void rv_start(receiver *rv)
{
    memset(rv, 0, sizeof *rv);
    uv_tcp_init(&loop, &rv->srv);
    rv->srv.data = rv;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_bind(&rv->srv, (const struct sockaddr *)&sa, 0);
    uv_listen((uv_stream_t *)&rv->srv, 64, rv_on_conn);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&rv->srv, (struct sockaddr *)&ss, &len);
    rv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void rv_reset(receiver *rv)
{
    for (int i = 0; i < rv->nok; i++)
        cJSON_Delete(rv->ok[i]);
    rv->nok = rv->nreq = rv->nscript = 0;
}

static void rv_stop(receiver *rv)
{
    rv_reset(rv);
    uv_close((uv_handle_t *)&rv->srv, NULL);
}

static void rv_url(const receiver *rv, char *buf, size_t cap)
{
    snprintf(buf, cap, "http://127.0.0.1:%d/hooks/sluice?x=1", rv->port);
}

static const char *ok_str(const receiver *rv, int i, const char *key)
{
    if (i >= rv->nok || !rv->ok[i]) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rv->ok[i], key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double ok_num(const receiver *rv, int i, const char *key)
{
    if (i >= rv->nok || !rv->ok[i]) return -1;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rv->ok[i], key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* A port with nothing listening. */
static int closed_port(void)
{
    uv_tcp_t t;
    uv_tcp_init(&loop, &t);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_bind(&t, (const struct sockaddr *)&sa, 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return port;
}

/* ---- log capture and engine helpers ------------------------------------------------------- */

typedef struct {
    char lines[64][512];
    int n;
} logbuf;

static void on_log(void *ud, const char *line)
{
    logbuf *l = ud;
    if (l->n < 64) snprintf(l->lines[l->n++], sizeof l->lines[0], "%s", line);
}

static bool log_has(const logbuf *l, const char *needle)
{
    for (int i = 0; i < l->n; i++)
        if (strstr(l->lines[i], needle)) return true;
    return false;
}

static void on_closed(void *ud)
{
    (*(int *)ud)++;
}

static void close_alert(alert *a)
{
    int closed = 0;
    alert_close(a, on_closed, &closed);
    for (int i = 0; i < 2000 && !closed; i++)
        uv_run(&loop, UV_RUN_NOWAIT), usleep(500);
    CHECK_INT(closed, 1);
}

/* Defaults + our receiver + fast retries; no Redis. */
static alert *new_engine(const receiver *rv, logbuf *lg, const char *yaml)
{
    alert_rules r;
    sl_diags d;
    sl_diags_init(&d, "inline");
    int rc = yaml ? alert_rules_parse(&r, yaml, strlen(yaml), &d) : alert_rules_defaults(&r);
    if (rc) sl_diags_print(&d, stderr);
    sl_diags_cleanup(&d);
    if (rc) return NULL;
    char url[128];
    rv_url(rv, url, sizeof url);
    alert_rules_add_webhook(&r, url, NULL, 0);
    r.webhook_backoff_ms = 20;
    r.webhook_timeout_ms = 1000;
    alert_config cfg = {.manual_tick = true, .log = on_log, .log_ud = lg};
    alert *a = NULL;
    rc = alert_new(&loop, &r, &cfg, &a);
    alert_rules_cleanup(&r);
    return rc ? NULL : a;
}

/* Ends a scenario: the engine closed, the receiver emptied for the next one. */
static void finish(alert *a, receiver *rv)
{
    close_alert(a);
    rv_reset(rv);
}

static void traffic(alert *a, time_t t, const char *ev, int n, int invalid, bool planned)
{
    for (int i = 0; i < n; i++)
        alert_note(a, ev, planned, i >= invalid, t);
}

static bool got_n(void *ud)
{
    receiver *rv = ((void **)ud)[0];
    int want = *(int *)((void **)ud)[1];
    return rv->nok >= want;
}

/* Waits until the receiver holds `want` alerts, then a little longer to catch extra ones. */
static int settle(receiver *rv, int want)
{
    void *args[2] = {rv, &want};
    run_until(got_n, args, 3000);
    run_for(150);
    return rv->nok;
}

#define T0 ((time_t)1700000000) /* 2023-11-14T22:13:20Z */

/* Steady traffic: per minute 30 Order Completed, 20 Product Viewed, 25 Checkout Started. */
static void steady(alert *a, time_t t, bool with_checkout)
{
    traffic(a, t, "Order Completed", 30, 0, true);
    traffic(a, t, "Product Viewed", 20, 0, true);
    if (with_checkout) traffic(a, t, "Checkout Started", 25, 0, true);
    alert_health(a, true, 0.05, t);
}

/* ---- scenarios ---------------------------------------------------------------------------- */

static void test_clean(receiver *rv)
{
    logbuf lg = {0};
    alert *a = new_engine(rv, &lg, NULL);
    CHECK(a != NULL);
    if (!a) return;
    int fired = 0;
    for (int m = 0; m < 90; m++) {
        steady(a, T0 + m * 60, true);
        fired += alert_tick(a, T0 + m * 60 + 5);
    }
    CHECK_INT(fired, 0);
    run_for(200);
    CHECK_INT(rv->nreq, 0);
    CHECK_INT(lg.n, 0);
    alert_stats st;
    alert_get_stats(a, &st);
    CHECK_INT(st.fired, 0);
    CHECK_INT(st.events_tracked, 3);
    finish(a, rv);
}

/* A spike just before a bucket boundary: with a one-bucket window (10 s), the tick at the end of
 * the bucket sees 30 of 60 invalid (not above 50%) and the ticks after the boundary see a new,
 * nearly empty bucket. The window keeps the previous bucket, so the alert still fires. */
static void test_spike_at_boundary(receiver *rv)
{
    logbuf lg = {0};
    alert *a = new_engine(rv, &lg,
                          "interval: 200ms\nrules:\n  - alert: violation_rate\n    event: \"*\"\n"
                          "    above: 50%\n    window: 10s\n    min_events: 10\n");
    CHECK(a != NULL);
    if (!a) return;
    time_t b = T0 - T0 % 10 + 100; /* a bucket boundary */
    traffic(a, b - 8, "Product Viewed", 30, 0, true);
    traffic(a, b - 2, "Product Viewed", 30, 30, true);
    CHECK_INT(alert_tick(a, b - 1), 0); /* 30 of 60: not above 50% */
    traffic(a, b - 1, "Product Viewed", 5, 5, true);
    CHECK_INT(alert_tick(a, b + 1), 1); /* 35 of 65, though the new bucket holds nothing */
    CHECK_INT(settle(rv, 1), 1);
    CHECK_STR(ok_str(rv, 0, "alert"), "violation_rate");
    finish(a, rv);
}

static void test_violation_spike(receiver *rv)
{
    logbuf lg = {0};
    alert *a = new_engine(rv, &lg, NULL);
    CHECK(a != NULL);
    if (!a) return;
    int m = 0;
    for (; m < 15; m++) {
        steady(a, T0 + m * 60, true);
        CHECK_INT(alert_tick(a, T0 + m * 60 + 5), 0);
    }
    /* A release breaks Order Completed: half of it invalid from now on, for 9 minutes (inside
     * the 10 minute cooldown). The 5-minute window is the current bucket and the 30 before it,
     * so it holds 6 of the per-minute batches: 15/180 = 8.3%, 16.7%, then 25% > 20%. */
    int fired = 0, first = -1;
    for (int k = 0; k < 9; k++, m++) {
        time_t t = T0 + m * 60;
        traffic(a, t, "Order Completed", 30, 15, true);
        traffic(a, t, "Product Viewed", 20, 0, true);
        traffic(a, t, "Checkout Started", 25, 0, true);
        int f = alert_tick(a, t + 5);
        if (f && first < 0) first = k;
        fired += f;
    }
    CHECK_INT(fired, 1);
    CHECK_INT(first, 2);
    CHECK_INT(settle(rv, 1), 1);
    CHECK_STR(ok_str(rv, 0, "alert"), "violation_rate");
    CHECK_STR(ok_str(rv, 0, "event"), "Order Completed");
    CHECK(ok_num(rv, 0, "value") == 25);
    CHECK(ok_num(rv, 0, "threshold") == 20);
    CHECK(ok_num(rv, 0, "window") == 300);
    CHECK_STR(ok_str(rv, 0, "fired_at"), "2023-11-14T22:30:25Z");
    const char *text = ok_str(rv, 0, "text");
    CHECK(text && strstr(text, "25.0% of \"Order Completed\" events") &&
          strstr(text, "45 of 180 invalid") && !strchr(text, '\n'));
    alert_stats st;
    alert_get_stats(a, &st);
    CHECK_INT(st.fired, 1);
    CHECK(st.suppressed >= 6);
    CHECK_INT(st.webhook_delivered, 1);
    CHECK_INT(lg.n, 1);
    CHECK(log_has(&lg, "alert violation_rate: "));
    /* Past the cooldown the still-broken event alerts again. */
    for (int k = 0; k < 5; k++, m++) {
        time_t t = T0 + m * 60;
        traffic(a, t, "Order Completed", 30, 15, true);
        traffic(a, t, "Product Viewed", 20, 0, true);
        traffic(a, t, "Checkout Started", 25, 0, true);
        fired += alert_tick(a, t + 5);
    }
    CHECK_INT(fired, 2);
    CHECK_INT(settle(rv, 2), 2);
    finish(a, rv);
}

static void test_unplanned(receiver *rv)
{
    logbuf lg = {0};
    alert *a = new_engine(rv, &lg, NULL);
    CHECK(a != NULL);
    if (!a) return;
    int fired = 0;
    for (int m = 0; m < 30; m++) {
        time_t t = T0 + m * 60;
        steady(a, t, true);
        /* A typo'd tag ships at minute 10 and keeps sending (invalid: Unplanned-Event). */
        if (m >= 10) traffic(a, t, "Order Complete", 3, 3, false);
        if (m >= 10) traffic(a, t, "Ordr <Completed> & co", 1, 1, false);
        fired += alert_tick(a, t + 5);
    }
    CHECK_INT(fired, 2);
    CHECK_INT(settle(rv, 2), 2);
    int i = ok_str(rv, 0, "event") && strcmp(ok_str(rv, 0, "event"), "Order Complete") == 0 ? 0 : 1;
    CHECK_STR(ok_str(rv, i, "alert"), "unplanned_event");
    CHECK_STR(ok_str(rv, i, "event"), "Order Complete");
    CHECK(ok_num(rv, i, "value") == 3);
    const char *text = ok_str(rv, i, "text");
    CHECK(text && strstr(text, "new unplanned event \"Order Complete\""));
    CHECK_STR(ok_str(rv, 1 - i, "event"), "Ordr <Completed> & co");
    text = ok_str(rv, 1 - i, "text");
    CHECK(text && strstr(text, "\"Ordr &lt;Completed&gt; &amp; co\"")); /* Slack escaping */
    CHECK(rv->nok == 2 && cJSON_IsNull(cJSON_GetObjectItem(rv->ok[i], "threshold")));
    finish(a, rv);
}

static void test_silence(receiver *rv)
{
    logbuf lg = {0};
    alert *a = new_engine(rv, &lg, NULL);
    CHECK(a != NULL);
    if (!a) return;
    int m = 0, fired = 0;
    for (; m < 70; m++) {
        steady(a, T0 + m * 60, true);
        fired += alert_tick(a, T0 + m * 60 + 5);
    }
    CHECK_INT(fired, 0);
    /* Checkout Started goes silent after a release; the rest keeps flowing. */
    int first = -1;
    for (int k = 0; k < 9; k++, m++) {
        steady(a, T0 + m * 60, false);
        int f = alert_tick(a, T0 + m * 60 + 5);
        if (f && first < 0) first = k;
        fired += f;
    }
    CHECK_INT(fired, 1);
    CHECK_INT(first, 4); /* the whole 5-minute window is empty */
    CHECK_INT(settle(rv, 1), 1);
    CHECK_STR(ok_str(rv, 0, "alert"), "silence");
    CHECK_STR(ok_str(rv, 0, "event"), "Checkout Started");
    CHECK(ok_num(rv, 0, "value") == 0);
    CHECK(ok_num(rv, 0, "threshold") == 10);
    CHECK(ok_num(rv, 0, "window") == 300);
    const char *text = ok_str(rv, 0, "text");
    CHECK(text && strstr(text, "went quiet: 0 events in the last 5m vs 125.0 per 5m over the "
                               "previous 1h"));
    finish(a, rv);
}

static void test_health(receiver *rv)
{
    logbuf lg = {0};
    alert *a = new_engine(rv, &lg, NULL);
    CHECK(a != NULL);
    if (!a) return;
    int fired = 0;
    alert_health(a, true, 0.1, T0);
    CHECK_INT(alert_tick(a, T0 + 1), 0);
    /* Redis goes down at T0+10; reported every 5 s; > 30 s down fires once. */
    int first = -1;
    for (int s = 10; s <= 120; s += 5) {
        alert_health(a, false, 0.5, T0 + s);
        int f = alert_tick(a, T0 + s);
        if (f && first < 0) first = s;
        fired += f;
    }
    CHECK_INT(fired, 1);
    CHECK_INT(first, 45);
    /* Redis back; the spool fills past 80%. */
    alert_health(a, true, 0.85, T0 + 125);
    fired += alert_tick(a, T0 + 125);
    CHECK_INT(fired, 2);
    CHECK_INT(settle(rv, 2), 2);
    CHECK_STR(ok_str(rv, 0, "alert"), "health");
    CHECK_STR(ok_str(rv, 0, "event"), "redis");
    CHECK(ok_num(rv, 0, "value") == 35);
    CHECK(ok_num(rv, 0, "threshold") == 30);
    CHECK_STR(ok_str(rv, 1, "event"), "spool");
    CHECK(ok_num(rv, 1, "value") == 85);
    CHECK(ok_num(rv, 1, "threshold") == 80);
    finish(a, rv);
}

/* Custom rules: a total rate over all events, notes from several threads at once. */
typedef struct {
    alert *a;
    int id;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof name, "Event %d", i % 8);
        alert_note(w->a, name, true, i % 4 != 0, T0 + (i % 60));
    }
    return NULL;
}

static void test_threads_and_total(receiver *rv)
{
    logbuf lg = {0};
    alert *a = new_engine(rv, &lg,
                          "rules:\n"
                          "  - alert: violation_rate\n"
                          "    total: true\n"
                          "    above: 24.5%\n"
                          "    window: 5m\n"
                          "    min_events: 100\n");
    CHECK(a != NULL);
    if (!a) return;
    pthread_t th[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){a, i};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(alert_tick(a, T0 + 60), 1);
    CHECK_INT(settle(rv, 1), 1);
    CHECK_STR(ok_str(rv, 0, "event"), "*");
    const char *text = ok_str(rv, 0, "text");
    CHECK(text && strstr(text, "25.0% of all events") && strstr(text, "10000 of 40000 invalid"));
    finish(a, rv);
}

static void test_table_bound(receiver *rv)
{
    logbuf lg = {0};
    alert *a = new_engine(rv, &lg, "max_events: 32\nrules: []\n");
    CHECK(a != NULL);
    if (!a) return;
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "junk-%d", i);
        alert_note(a, name, false, false, T0);
    }
    char longname[1000];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    alert_note(a, longname, true, true, T0);
    alert_note(a, NULL, true, true, T0);
    alert_stats st;
    alert_get_stats(a, &st);
    CHECK(st.events_tracked <= 32);
    CHECK(st.events_tracked >= 16);
    CHECK_INT(st.events_tracked + st.notes_dropped, 1001);
    CHECK_INT(alert_tick(a, T0 + 1), 0); /* no rules */
    /* Entries idle past the horizon are forgotten. */
    alert_tick(a, T0 + 7200);
    alert_get_stats(a, &st);
    CHECK_INT(st.events_tracked, 0);
    finish(a, rv);
}

static void test_per_tick_bound(receiver *rv)
{
    logbuf lg = {0};
    alert *a = new_engine(rv, &lg, "max_alerts_per_tick: 3\nrules:\n  - alert: unplanned_event\n");
    CHECK(a != NULL);
    if (!a) return;
    char name[32];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "new-%d", i);
        alert_note(a, name, false, false, T0);
    }
    CHECK_INT(alert_tick(a, T0 + 5), 3);
    CHECK_INT(alert_tick(a, T0 + 10), 2); /* deferred ones come next */
    CHECK_INT(alert_tick(a, T0 + 15), 0);
    alert_stats st;
    alert_get_stats(a, &st);
    CHECK_INT(st.deferred, 2);
    CHECK_INT(settle(rv, 5), 5);
    finish(a, rv);
}

/* ---- the webhook client on its own -------------------------------------------------------- */

typedef struct {
    int calls;
    bool ok;
    unsigned attempts;
    int status, err;
} result;

static void on_result(void *ud, const char *url, bool ok, unsigned attempts, int status, int err)
{
    result *r = ud;
    r->calls++;
    r->ok = ok;
    r->attempts = attempts;
    r->status = status;
    r->err = err;
}

static bool result_in(void *ud)
{
    return ((result *)ud)->calls > 0;
}

static void close_webhook(webhook *w)
{
    int closed = 0;
    webhook_close(w, on_closed, &closed);
    for (int i = 0; i < 2000 && !closed; i++)
        uv_run(&loop, UV_RUN_NOWAIT), usleep(500);
    CHECK_INT(closed, 1);
}

static void test_webhook_retry(receiver *rv)
{
    result res = {0};
    webhook_config wc = {.backoff_ms = 20,
                         .max_attempts = 4,
                         .timeout_ms = 1000,
                         .on_result = on_result,
                         .ud = &res};
    webhook *w = webhook_new(&loop, &wc);
    char url[128];
    rv_url(rv, url, sizeof url);
    CHECK_INT(webhook_add_url(w, url, NULL, 0), 0);
    rv->script[0] = 500;
    rv->script[1] = 500;
    rv->script[2] = 200;
    rv->nscript = 3;
    uint64_t t0 = uv_hrtime();
    CHECK_INT(webhook_post(w, "{\"alert\":\"x\"}", 13), 0);
    CHECK_INT(res.calls, 0); /* never synchronous */
    CHECK(run_until(result_in, &res, 3000));
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    CHECK(ms >= 55); /* 20 + 40 ms of backoff */
    CHECK_INT(res.calls, 1);
    CHECK(res.ok);
    CHECK_INT(res.attempts, 3);
    CHECK_INT(res.status, 200);
    CHECK_INT(rv->nreq, 3);
    CHECK_INT(settle(rv, 1), 1);
    CHECK_STR(ok_str(rv, 0, "alert"), "x");
    webhook_stats st;
    webhook_get_stats(w, &st);
    CHECK_INT(st.delivered, 1);
    CHECK_INT(st.failed, 0);
    CHECK_INT(st.attempts, 3);
    CHECK_INT(st.retries, 2);
    CHECK_INT(st.pending, 0);
    close_webhook(w);
    rv_reset(rv);

    /* Always 503: given up after max_attempts, counted. */
    res = (result){0};
    w = webhook_new(&loop, &wc);
    webhook_add_url(w, url, NULL, 0);
    for (int i = 0; i < 8; i++)
        rv->script[i] = 503;
    rv->nscript = 8;
    webhook_post(w, "{}", 2);
    CHECK(run_until(result_in, &res, 3000));
    CHECK(!res.ok);
    CHECK_INT(res.attempts, 4);
    CHECK_INT(res.status, 503);
    CHECK_INT(res.err, 0);
    CHECK_INT(rv->nreq, 4);
    webhook_get_stats(w, &st);
    CHECK_INT(st.failed, 1);
    close_webhook(w);
    rv_reset(rv);
}

static void test_webhook_down(void)
{
    result res = {0};
    webhook_config wc = {
        .backoff_ms = 10, .max_attempts = 3, .timeout_ms = 500, .on_result = on_result, .ud = &res};
    webhook *w = webhook_new(&loop, &wc);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", closed_port());
    webhook_add_url(w, url, NULL, 0);
    webhook_post(w, "{}", 2);
    CHECK(run_until(result_in, &res, 3000));
    CHECK(!res.ok);
    CHECK_INT(res.attempts, 3);
    CHECK_INT(res.err, UV_ECONNREFUSED);
    webhook_stats st;
    webhook_get_stats(w, &st);
    CHECK_INT(st.failed, 1);
    CHECK_INT(st.attempts, 3);
    CHECK_INT(st.delivered, 0);
    close_webhook(w);
}

static void test_webhook_hang_and_bound(receiver *rv)
{
    /* A receiver that accepts and never answers: each attempt ends at its deadline. */
    result res = {0};
    webhook_config wc = {.backoff_ms = 10,
                         .max_attempts = 2,
                         .timeout_ms = 150,
                         .max_pending = 2,
                         .on_result = on_result,
                         .ud = &res};
    webhook *w = webhook_new(&loop, &wc);
    char url[128];
    rv_url(rv, url, sizeof url);
    webhook_add_url(w, url, NULL, 0);
    rv->script[0] = 0;
    rv->script[1] = 0;
    rv->nscript = 2;
    uint64_t t0 = uv_hrtime();
    CHECK_INT(webhook_post(w, "{}", 2), 0);
    CHECK(run_until(result_in, &res, 3000));
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    CHECK(ms >= 300 && ms < 2000);
    CHECK(!res.ok);
    CHECK_INT(res.err, UV_ETIMEDOUT);
    CHECK_INT(res.attempts, 2);
    CHECK_INT(rv->nreq, 2);
    /* Queue bound: the third concurrent delivery is refused and counted. */
    CHECK_INT(webhook_post(w, "{}", 2), 0);
    CHECK_INT(webhook_post(w, "{}", 2), 0);
    CHECK_INT(webhook_post(w, "{}", 2), SL_ELIMIT);
    webhook_stats st;
    webhook_get_stats(w, &st);
    CHECK_INT(st.dropped, 1);
    CHECK_INT(st.pending, 2);
    close_webhook(w); /* abandons the two in flight */
    run_for(100);
    rv_reset(rv);
}

static void test_alert_webhook_down(void)
{
    logbuf lg = {0};
    receiver fake;
    fake.port = closed_port();
    alert *a = new_engine(&fake, &lg, "webhook: {attempts: 2, backoff: 10ms}\n");
    CHECK(a != NULL);
    if (!a) return;
    alert_health(a, false, 0, T0);
    CHECK_INT(alert_tick(a, T0 + 60), 1);
    run_for(400);
    alert_stats st;
    alert_get_stats(a, &st);
    CHECK_INT(st.fired, 1);
    CHECK_INT(st.webhook_failed, 1);
    CHECK_INT(st.webhook_retries, 1);
    CHECK_INT(st.webhook_delivered, 0);
    CHECK(log_has(&lg, "given up after 2 attempts (last: connection refused)"));
    close_alert(a);
}

static void test_urls(void)
{
    webhook_url u;
    char err[256];
    CHECK_INT(webhook_url_parse("http://example.com", &u, err, sizeof err), 0);
    CHECK_STR(u.host, "example.com");
    CHECK_STR(u.path, "/");
    CHECK_INT(u.port, 80);
    webhook_url_cleanup(&u);
    CHECK_INT(webhook_url_parse("http://[::1]:8080/a/b?c=d#frag", &u, err, sizeof err), 0);
    CHECK_STR(u.host, "::1");
    CHECK_STR(u.hostport, "[::1]:8080");
    CHECK_STR(u.path, "/a/b?c=d");
    CHECK_INT(u.port, 8080);
    webhook_url_cleanup(&u);
    CHECK_INT(webhook_url_parse("http://h?q", &u, err, sizeof err), 0);
    CHECK_STR(u.path, "/?q");
    webhook_url_cleanup(&u);
    CHECK_INT(webhook_url_parse("https://hooks.slack.com/x", &u, err, sizeof err), SL_EUSAGE);
    CHECK(strstr(err, "https is not supported"));
    CHECK_INT(webhook_url_parse("http://u:p@h/", &u, err, sizeof err), SL_EUSAGE);
    CHECK_INT(webhook_url_parse("http://h:0/", &u, err, sizeof err), SL_EUSAGE);
    CHECK_INT(webhook_url_parse("http://h:99999/", &u, err, sizeof err), SL_EUSAGE);
    CHECK_INT(webhook_url_parse("http://:80/", &u, err, sizeof err), SL_EUSAGE);
    CHECK_INT(webhook_url_parse("http://h/a b", &u, err, sizeof err), SL_EUSAGE);
    CHECK_INT(webhook_url_parse("ftp://h/", &u, err, sizeof err), SL_EUSAGE);
}

/* ---- rules files -------------------------------------------------------------------------- */

static void expect_bad(const char *file, int line, int col, const char *needle)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/alerts/%s", file);
    alert_rules r;
    sl_diags d;
    sl_diags_init(&d, path);
    int rc = alert_rules_load(&r, path, &d);
    CHECK(rc < 0);
    CHECK(d.n >= 1);
    if (d.n >= 1) {
        CHECK_INT(d.v[0].line, line);
        CHECK_INT(d.v[0].col, col);
        if (!strstr(d.v[0].msg, needle)) {
            fprintf(stderr, "%s: message '%s' lacks '%s'\n", file, d.v[0].msg, needle);
            CHECK(0);
        }
    }
    CHECK(r.rules == NULL && r.nrules == 0);
    sl_diags_cleanup(&d);
}

static void test_rules(void)
{
    alert_rules r;
    CHECK_INT(alert_rules_defaults(&r), 0);
    CHECK_INT(r.nrules, 4);
    CHECK_INT(r.cooldown_s, 600);
    CHECK_STR(r.channel, "sluice:alerts");
    CHECK_INT(r.rules[0].kind, ALERT_VIOLATION_RATE);
    CHECK_STR(r.rules[0].event, "*");
    CHECK(r.rules[0].threshold_pct == 20);
    CHECK_INT(r.rules[0].window_s, 300);
    CHECK_INT(r.rules[0].min_events, 20);
    CHECK_INT(r.rules[2].kind, ALERT_SILENCE);
    CHECK(r.rules[2].threshold_pct == 10);
    CHECK_INT(r.rules[2].baseline_s, 3600);
    CHECK_INT(r.rules[3].redis_down_s, 30);
    char err[256];
    CHECK_INT(alert_rules_add_webhook(&r, "https://x/", err, sizeof err), SL_EUSAGE);
    CHECK_INT(alert_rules_add_webhook(&r, "http://x/", err, sizeof err), 0);
    CHECK_INT(r.nwebhooks, 1);
    alert_rules_cleanup(&r);

    sl_diags d;
    sl_diags_init(&d, "tests/data/alerts/example.yaml");
    CHECK_INT(alert_rules_load(&r, "tests/data/alerts/example.yaml", &d), 0);
    sl_diags_print(&d, stderr);
    CHECK_INT(r.nrules, 6);
    CHECK_INT(r.nwebhooks, 1);
    CHECK_INT(r.webhook_backoff_max_ms, 60000);
    CHECK_INT(r.eval_interval_ms, 5000);
    if (r.nrules == 6) {
        CHECK_STR(r.rules[1].event, "Order Completed");
        CHECK(r.rules[1].threshold_pct == 5);
        CHECK_INT(r.rules[1].window_s, 600);
        CHECK_INT(r.rules[1].min_events, 50);
        CHECK_INT(r.rules[1].line, 20);
        CHECK(r.rules[2].total);
        CHECK_INT(r.rules[2].window_s, 900);
        CHECK_INT(r.rules[3].kind, ALERT_UNPLANNED_EVENT);
        CHECK_INT(r.rules[5].redis_down_s, 30);
        CHECK(r.rules[5].spool_pct == 80);
    }
    /* The example is loadable by the engine too. */
    alert *a = NULL;
    alert_config cfg = {.manual_tick = true};
    CHECK_INT(alert_new(&loop, &r, &cfg, &a), 0);
    if (a) close_alert(a);
    alert_rules_cleanup(&r);
    sl_diags_cleanup(&d);

    /* An empty file means the defaults. */
    sl_diags_init(&d, "empty");
    CHECK_INT(alert_rules_parse(&r, "", 0, &d), 0);
    CHECK_INT(r.nrules, 4);
    alert_rules_cleanup(&r);
    CHECK_INT(alert_rules_parse(&r, "rules: []\ncooldown: 90\n", 22, &d), 0);
    CHECK_INT(r.nrules, 0);
    CHECK_INT(r.cooldown_s, 90);
    alert_rules_cleanup(&r);
    sl_diags_cleanup(&d);

    sl_diags_init(&d, "missing");
    CHECK_INT(alert_rules_load(&r, "tests/data/alerts/no-such-file.yaml", &d), SL_ENOTFOUND);
    sl_diags_cleanup(&d);

    expect_bad("bad-unknown-top.yaml", 2, 1, "unknown key 'webhoks'");
    expect_bad("bad-rule-key.yaml", 4, 5, "unknown key 'threshold' in a violation_rate rule");
    expect_bad("bad-kind.yaml", 3, 5, "'alert': expected violation_rate");
    expect_bad("bad-duration.yaml", 3, 5, "'window': expected a duration");
    expect_bad("bad-https.yaml", 3, 5, "https is not supported");
    expect_bad("bad-baseline.yaml", 4, 5, "must be at least 'window'");
    expect_bad("bad-percent.yaml", 3, 5, "'above': expected a percentage");

    /* The printed form is file:line:col: error: ... */
    sl_diags_init(&d, "tests/data/alerts/bad-rule-key.yaml");
    alert_rules_load(&r, "tests/data/alerts/bad-rule-key.yaml", &d);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    sl_diags_print(&d, mem);
    fclose(mem);
    CHECK(buf && strstr(buf, "tests/data/alerts/bad-rule-key.yaml:4:5: error: unknown key"));
    free(buf);
    sl_diags_cleanup(&d);
}

/* ---- pub/sub ------------------------------------------------------------------------------ */

typedef struct {
    int subscribed;
    int messages;
    cJSON *last;
} subscriber;

static void on_sub(redisAsyncContext *ac, void *r, void *privdata)
{
    subscriber *s = privdata;
    redisReply *reply = r;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
    if (strcmp(reply->element[0]->str, "subscribe") == 0) s->subscribed = 1;
    if (strcmp(reply->element[0]->str, "message") == 0) {
        s->messages++;
        cJSON_Delete(s->last);
        s->last = cJSON_Parse(reply->element[2]->str);
    }
}

static bool sub_ready(void *ud)
{
    return ((subscriber *)ud)->subscribed;
}

static bool sub_got(void *ud)
{
    return ((subscriber *)ud)->messages > 0;
}

static bool published(void *ud)
{
    alert_stats st;
    alert_get_stats(ud, &st);
    return st.published > 0;
}

static void test_pubsub(void)
{
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        printf("SKIP pub/sub: redis-server not installed\n");
        return;
    }
    char dir[] = "/tmp/sluice-test-alert-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    redisproc rp;
    char err[256];
    if (redisproc_start(&rp, NULL, dir, 0, err, sizeof err) != 0) {
        fprintf(stderr, "redisproc_start: %s\n", err);
        CHECK(0);
        return;
    }
    subscriber sub = {0};
    redisAsyncContext *ac = redisAsyncConnect("127.0.0.1", rp.port);
    CHECK(ac && !ac->err);
    redisLibuvAttach(ac, &loop);
    redisAsyncCommand(ac, on_sub, &sub, "SUBSCRIBE sluice:alerts");
    CHECK(run_until(sub_ready, &sub, 3000));

    alert_rules r;
    alert_rules_defaults(&r);
    logbuf lg = {0};
    alert_config cfg = {.redis_host = "127.0.0.1",
                        .redis_port = rp.port,
                        .manual_tick = true,
                        .redis_timeout_ms = 250,
                        .log = on_log,
                        .log_ud = &lg};
    alert *a = NULL;
    CHECK_INT(alert_new(&loop, &r, &cfg, &a), 0);
    alert_rules_cleanup(&r);
    if (a) {
        run_for(200); /* connect */
        alert_health(a, true, 0.95, T0);
        CHECK_INT(alert_tick(a, T0), 1);
        CHECK(run_until(sub_got, &sub, 3000));
        CHECK_INT(sub.messages, 1);
        const cJSON *k = cJSON_GetObjectItem(sub.last, "alert");
        CHECK_STR(cJSON_IsString(k) ? k->valuestring : NULL, "health");
        k = cJSON_GetObjectItem(sub.last, "event");
        CHECK_STR(cJSON_IsString(k) ? k->valuestring : NULL, "spool");
        CHECK(run_until(published, a, 1000));

        /* Redis stopped: PUBLISH fails (counted) at the latest by its deadline (a refused
         * reconnect is not always reported by hiredis' libuv adapter: uv_poll errors are
         * dropped), nothing hangs. */
        redisAsyncFree(ac);
        ac = NULL;
        redisproc_stop(&rp);
        run_for(100);
        alert_health(a, false, 0.95, T0 + 60);
        CHECK_INT(alert_tick(a, T0 + 700), 2); /* spool again (cooldown over), redis down */
        run_for(700);
        alert_stats st;
        alert_get_stats(a, &st);
        CHECK_INT(st.published, 1);
        CHECK_INT(st.publish_failed, 2);
        close_alert(a);
    }
    if (ac) redisAsyncFree(ac);
    redisproc_stop(&rp);
    cJSON_Delete(sub.last);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    uv_loop_init(&loop);
    receiver rv;
    rv_start(&rv);

    test_urls();
    test_rules();
    test_clean(&rv);
    test_violation_spike(&rv);
    test_spike_at_boundary(&rv);
    test_unplanned(&rv);
    test_silence(&rv);
    test_health(&rv);
    test_threads_and_total(&rv);
    test_table_bound(&rv);
    test_per_tick_bound(&rv);
    test_webhook_retry(&rv);
    test_webhook_down();
    test_webhook_hang_and_bound(&rv);
    test_alert_webhook_down();
    test_pubsub();

    rv_stop(&rv);
    run_for(100);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
    return check_done();
}
