/* spool.c - durable per-worker disk spool (see spool.h for the promises and the file format).
 *
 * Shape: appends are framed (length + CRC placeholder + payload) into the `pend` batch on the loop
 * thread. A group write takes the whole batch (swapped into `jb`) to libuv's thread pool, which
 * fills in the CRCs, pwrites the frames into the active segment (rotating to a new segment file
 * when segment_bytes would be exceeded), fsyncs every file it wrote and the directory if it
 * created a file, and reports the segments it touched in `jt`. Back on the loop, the segment list
 * is updated and the batch's callbacks fire; appends that arrived meanwhile form the next batch,
 * started at once - so one fsync covers everything that queued up during the previous one.
 *
 * Thread rule: at most one group write is in flight (`inflight`). While it is, the worker alone
 * touches `jb`, `jt`, the j* results and the w* writer fields; the loop thread touches everything
 * else and the w* fields only while nothing is in flight. `segs` (loop thread only) lists the
 * segments oldest first with their *durable* sizes, so readers never see unsynced bytes.
 *
 * Errors inside a group write: the active segment is cut back to its last fsynced size and
 * retired (or deleted if it never held a durable record); the batch fails with SL_EIO; the next
 * batch starts a fresh segment file. */
#include "spool.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include <zlib.h>

#include "sl_buf.h"

#define SPOOL_MAGIC "SLSPOOL1"
#define SPOOL_HDR 16u  /* magic[8] + u64 seq */
#define SPOOL_FRAME 8u /* u32 len + u32 crc */
#define SPOOL_READ_CHUNK 65536u
#define SPOOL_NAME_MAX 40

typedef struct {
    uint64_t seq;
    uint64_t size; /* durable bytes, header included */
    uint64_t nrec;
    bool sealed; /* no more appends go to this file */
} seg_info;

typedef struct {
    spool_done_cb cb;
    void *ud;
} waiter;

typedef struct {
    unsigned char *buf; /* framed records, back to back */
    size_t len, cap;
    size_t nrec;
    waiter *w;
    size_t nw, wcap;
} batch;

/* A buffered window over one file, for sequential reads (recovery scan and readers). */
typedef struct {
    int fd;
    unsigned char *buf;
    size_t cap;
    uint64_t woff; /* file offset of buf[0] */
    size_t wlen;   /* valid bytes in buf */
} segbuf;

struct spool {
    uv_loop_t *loop;
    spool_config cfg;
    char *dir; /* owned */
    int dirfd, lockfd;
    uv_timer_t timer;

    /* loop-thread state */
    seg_info *segs; /* oldest first */
    size_t nsegs, segcap;
    uint64_t bytes_disk; /* sum of (size - header) over segs */
    batch pend;
    spool_pos commit;
    unsigned unlinks; /* uv_fs_unlink requests in flight */
    bool closing, close_started;
    void (*close_done)(void *);
    void *close_ud;
    spool_stats st;

    /* the group write (see the thread rule above) */
    bool inflight;
    uv_work_t work;
    batch jb;
    seg_info *jt; /* segments touched by the write, in order */
    size_t njt, jtcap;
    int jstatus;
    uint64_t jfsyncs;
    int wfd; /* active segment, -1 when none */
    uint64_t wseq, wsize, wnrec;
    uint64_t wdur_size, wdur_nrec; /* as of the last successful fsync */
    bool wdirty;
    uint64_t next_seq;
};

/* ---- Small helpers -------------------------------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const unsigned char *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void seg_name(char *buf, uint64_t seq)
{
    snprintf(buf, SPOOL_NAME_MAX, "seg-%020" PRIu64 ".log", seq);
}

static bool pos_lt(spool_pos a, spool_pos b)
{
    return a.seg < b.seg || (a.seg == b.seg && a.off < b.off);
}

static uint32_t frame_crc(const unsigned char *lenbytes, const unsigned char *payload, uint32_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, lenbytes, 4);
    c = crc32(c, payload, n);
    return (uint32_t)c;
}

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static void batch_free(batch *b)
{
    free(b->buf);
    free(b->w);
    memset(b, 0, sizeof *b);
}

/* ---- Buffered reads and frame checks -------------------------------------------------------- */

/* Points *p at file bytes [off, off+n). Returns 0; 1 when they do not lie wholly before `limit`
 * and the end of file; SL_EIO; SL_ENOMEM. *p is valid until the next call. */
static int segbuf_get(segbuf *b, uint64_t off, size_t n, uint64_t limit, const unsigned char **p)
{
    if (off > limit || n > limit - off) return 1;
    if (off >= b->woff && off - b->woff <= b->wlen && n <= b->wlen - (off - b->woff)) {
        *p = b->buf + (off - b->woff);
        return 0;
    }
    size_t want = n > SPOOL_READ_CHUNK ? n : SPOOL_READ_CHUNK;
    if (want > limit - off) want = (size_t)(limit - off);
    if (b->cap < want) {
        unsigned char *q = realloc(b->buf, want);
        if (!q) return SL_ENOMEM;
        b->buf = q;
        b->cap = want;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(b->fd, b->buf + got, want - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            b->wlen = 0;
            return SL_EIO;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    b->woff = off;
    b->wlen = got;
    if (got < n) return 1;
    *p = b->buf;
    return 0;
}

/* Checks the record at `off`. Returns 0 (payload in *payload, *len), 1 when it is torn or corrupt
 * (short, length past `limit`, CRC mismatch), or a negative SL_E* code. */
static int read_frame(segbuf *b, uint64_t off, uint64_t limit, const unsigned char **payload,
                      uint32_t *len)
{
    const unsigned char *h;
    int rc = segbuf_get(b, off, SPOOL_FRAME, limit, &h);
    if (rc) return rc;
    unsigned char lenbytes[4];
    memcpy(lenbytes, h, 4);
    uint32_t n = get32(h), crc = get32(h + 4);
    rc = segbuf_get(b, off + SPOOL_FRAME, n, limit, payload);
    if (rc) return rc;
    if (frame_crc(lenbytes, *payload, n) != crc) return 1;
    *len = n;
    return 0;
}

/* ---- The group write (thread pool) ---------------------------------------------------------- */

static void touch(spool *s, bool sealed, uint64_t size, uint64_t nrec)
{
    assert(s->njt < s->jtcap); /* capacity reserved by start_job */
    s->jt[s->njt++] = (seg_info){.seq = s->wseq, .size = size, .nrec = nrec, .sealed = sealed};
}

static int sync_active(spool *s)
{
    s->jfsyncs++;
    if (fsync(s->wfd) < 0) return -1;
    s->wdur_size = s->wsize;
    s->wdur_nrec = s->wnrec;
    s->wdirty = false;
    return 0;
}

static int seal_active(spool *s)
{
    if (s->wdirty && sync_active(s) < 0) return -1;
    touch(s, true, s->wsize, s->wnrec);
    close(s->wfd);
    s->wfd = -1;
    return 0;
}

static int create_seg(spool *s)
{
    char name[SPOOL_NAME_MAX];
    uint64_t seq = s->next_seq++;
    seg_name(name, seq);
    int fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    unsigned char hdr[SPOOL_HDR];
    memcpy(hdr, SPOOL_MAGIC, 8);
    put64(hdr + 8, seq);
    if (pwrite_all(fd, hdr, sizeof hdr, 0) < 0) {
        close(fd);
        unlinkat(s->dirfd, name, 0);
        return -1;
    }
    s->wfd = fd;
    s->wseq = seq;
    s->wsize = s->wdur_size = SPOOL_HDR;
    s->wnrec = s->wdur_nrec = 0;
    s->wdirty = true;
    return 0;
}

/* After an error: cut the active segment back to what was fsynced and retire it. */
static void abandon_active(spool *s)
{
    if (s->wfd < 0) return;
    if (s->wdur_nrec == 0) {
        /* created by this write, never reported: nothing durable in it */
        char name[SPOOL_NAME_MAX];
        seg_name(name, s->wseq);
        close(s->wfd);
        unlinkat(s->dirfd, name, 0);
    } else {
        if (ftruncate(s->wfd, (off_t)s->wdur_size) == 0) {
            s->jfsyncs++;
            (void)fsync(s->wfd);
        }
        touch(s, true, s->wdur_size, s->wdur_nrec);
        close(s->wfd);
    }
    s->wfd = -1;
}

static void job_work(uv_work_t *req)
{
    spool *s = req->data;
    batch *b = &s->jb;
    bool dir_dirty = false;
    size_t off = 0;
    s->njt = 0;
    s->jfsyncs = 0;
    s->jstatus = 0;
    while (off < b->len) {
        uint64_t first = SPOOL_FRAME + (uint64_t)get32(b->buf + off);
        if (s->wfd < 0 || (s->wnrec > 0 && s->wsize + first > s->cfg.segment_bytes)) {
            if (s->wfd >= 0 && seal_active(s) < 0) goto fail;
            if (create_seg(s) < 0) goto fail;
            dir_dirty = true;
        }
        /* the run of records that fits in this segment (at least one) */
        size_t start = off;
        uint64_t size = s->wsize, nrun = 0;
        while (off < b->len) {
            uint32_t n = get32(b->buf + off);
            uint64_t f = SPOOL_FRAME + (uint64_t)n;
            if (s->wnrec + nrun > 0 && size + f > s->cfg.segment_bytes) break;
            put32(b->buf + off + 4, frame_crc(b->buf + off, b->buf + off + SPOOL_FRAME, n));
            size += f;
            off += (size_t)f;
            nrun++;
        }
        if (pwrite_all(s->wfd, b->buf + start, off - start, s->wsize) < 0) goto fail;
        s->wsize = size;
        s->wnrec += nrun;
        s->wdirty = true;
    }
    if (s->wdirty && sync_active(s) < 0) goto fail;
    if (dir_dirty) {
        s->jfsyncs++;
        if (fsync(s->dirfd) < 0) goto fail;
    }
    if (s->wfd >= 0) touch(s, false, s->wsize, s->wnrec);
    return;
fail:
    s->jstatus = SL_EIO;
    abandon_active(s);
}

/* ---- Loop side of the group write ----------------------------------------------------------- */

static void maybe_finish_close(spool *s);
static void start_job(spool *s);

static void recount(spool *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->nsegs; i++)
        n += s->segs[i].size - SPOOL_HDR;
    s->bytes_disk = n;
}

static uint64_t held(const spool *s)
{
    return s->bytes_disk + s->pend.len + (s->inflight ? s->jb.len : 0);
}

static void apply_touched(spool *s)
{
    for (size_t i = 0; i < s->njt; i++) {
        const seg_info *t = &s->jt[i];
        size_t k = s->nsegs;
        while (k > 0 && s->segs[k - 1].seq > t->seq)
            k--;
        if (k > 0 && s->segs[k - 1].seq == t->seq) {
            s->segs[k - 1] = *t;
        } else {
            /* new segments always come last; capacity reserved by start_job */
            s->segs[s->nsegs++] = *t;
        }
    }
    s->njt = 0;
    recount(s);
}

static void job_after(uv_work_t *req, int status)
{
    spool *s = req->data;
    int st = status == 0 ? s->jstatus : SL_EIO;
    apply_touched(s);
    s->st.batches++;
    s->st.fsyncs += s->jfsyncs;
    s->st.pending -= s->jb.nrec;
    if (st == 0) {
        s->st.records_durable += s->jb.nrec;
    } else {
        s->st.io_errors++;
        s->st.records_failed += s->jb.nrec;
    }
    /* still `inflight`: appends made by callbacks queue in `pend`; the batch's bytes are in
     * bytes_disk now (or dropped), not in jb */
    s->jb.len = 0;
    for (size_t i = 0; i < s->jb.nw; i++)
        if (s->jb.w[i].cb) s->jb.w[i].cb(s->jb.w[i].ud, st);
    s->jb.len = s->jb.nrec = s->jb.nw = 0;
    if (s->jb.cap > 4 * s->cfg.batch_bytes) {
        /* a burst (e.g. a slow disk) grew it: give the memory back */
        free(s->jb.buf);
        s->jb.buf = NULL;
        s->jb.cap = 0;
    }
    s->inflight = false;
    if (s->pend.nw > 0) {
        start_job(s); /* these waited a whole fsync already: go now */
    }
    maybe_finish_close(s);
}

static void on_timer(uv_timer_t *t);

/* Starts the group write of `pend`. On out-of-memory, retries from the timer. */
static void start_job(spool *s)
{
    if (s->inflight || s->pend.nw == 0) return;
    uv_timer_stop(&s->timer);
    /* segments a write can touch (+2: the old active one, a retry entry after an error): each
     * new one holds a record and starts because the previous one was full, so two consecutive
     * ones hold more than segment_bytes - header >= segment_bytes / 2 (for >= 32) */
    size_t need = (size_t)(4 * s->pend.len / s->cfg.segment_bytes) + 2;
    if (need > s->pend.nrec) need = s->pend.nrec;
    need += 2;
    if (sl_grow(&s->jt, &s->jtcap, need, sizeof *s->jt) < 0 ||
        sl_grow(&s->segs, &s->segcap, s->nsegs + need, sizeof *s->segs) < 0) {
        uv_timer_start(&s->timer, on_timer, 10, 0);
        return;
    }
    batch tmp = s->jb;
    s->jb = s->pend;
    s->pend = tmp;
    s->pend.len = s->pend.nrec = s->pend.nw = 0;
    s->inflight = true;
    s->njt = 0;
    s->work.data = s;
    if (uv_queue_work(s->loop, &s->work, job_work, job_after) != 0) {
        /* cannot happen with a non-NULL work_cb; keep the batch for the timer */
        tmp = s->pend;
        s->pend = s->jb;
        s->jb = tmp;
        s->inflight = false;
        uv_timer_start(&s->timer, on_timer, 10, 0);
    }
}

static void on_timer(uv_timer_t *t)
{
    start_job(t->data);
}

static void schedule(spool *s)
{
    if (s->inflight || s->pend.nw == 0) return;
    if (s->pend.len >= s->cfg.batch_bytes || s->closing) {
        start_job(s);
    } else if (!uv_is_active((uv_handle_t *)&s->timer)) {
        uv_timer_start(&s->timer, on_timer, s->cfg.delay_ms, 0);
    }
}

/* ---- Appends -------------------------------------------------------------------------------- */

size_t spool_pack_size(const spool_buf *fields, size_t nfields)
{
    size_t n = 0;
    for (size_t i = 0; i < nfields; i++)
        n += 4 + fields[i].len;
    return n;
}

size_t spool_pack(const spool_buf *fields, size_t nfields, void *out)
{
    unsigned char *p = out;
    for (size_t i = 0; i < nfields; i++) {
        put32(p, (uint32_t)fields[i].len);
        if (fields[i].len) memcpy(p + 4, fields[i].data, fields[i].len);
        p += 4 + fields[i].len;
    }
    return (size_t)(p - (unsigned char *)out);
}

int spool_unpack(const void *rec, size_t len, spool_buf *fields, size_t max, size_t *n)
{
    const unsigned char *p = rec;
    size_t k = 0, off = 0;
    *n = 0;
    while (off < len) {
        if (len - off < 4 || k == max) return SL_ESYNTAX;
        size_t flen = get32(p + off);
        off += 4;
        if (flen > len - off) return SL_ESYNTAX;
        fields[k].data = p + off;
        fields[k].len = flen;
        k++;
        off += flen;
    }
    *n = k;
    return 0;
}

/* recs: nrecs raw records (nfields == 0) or nrecs x nfields fields packed per record */
static int append_common(spool *s, const spool_buf *v, size_t nrecs, size_t nfields,
                         spool_done_cb cb, void *ud)
{
    if (!s || s->closing || nrecs == 0) return SL_EUSAGE;
    size_t total = 0;
    for (size_t i = 0; i < nrecs; i++) {
        size_t plen = nfields ? spool_pack_size(v + i * nfields, nfields) : v[i].len;
        if (plen > s->cfg.max_record) return SL_EUSAGE;
        total += SPOOL_FRAME + plen;
    }
    if (held(s) + total > s->cfg.max_bytes) {
        s->st.appends_full += nrecs;
        return SPOOL_EFULL;
    }
    batch *b = &s->pend;
    if (sl_grow(&b->buf, &b->cap, b->len + total, 1) < 0 ||
        sl_grow(&b->w, &b->wcap, b->nw + 1, sizeof *b->w) < 0)
        return SL_ENOMEM;
    unsigned char *p = b->buf + b->len;
    for (size_t i = 0; i < nrecs; i++) {
        size_t plen;
        if (nfields) {
            plen = spool_pack(v + i * nfields, nfields, p + SPOOL_FRAME);
        } else {
            plen = v[i].len;
            if (plen) memcpy(p + SPOOL_FRAME, v[i].data, plen);
        }
        put32(p, (uint32_t)plen);
        put32(p + 4, 0); /* the CRC is computed by the writer, off the loop thread */
        p += SPOOL_FRAME + plen;
    }
    b->len += total;
    b->nrec += nrecs;
    b->w[b->nw++] = (waiter){cb, ud};
    s->st.appends += nrecs;
    s->st.pending += nrecs;
    schedule(s);
    return 0;
}

int spool_append(spool *s, const spool_buf *recs, size_t n, spool_done_cb cb, void *ud)
{
    return append_common(s, recs, n, 0, cb, ud);
}

int spool_append_fields(spool *s, const spool_buf *fields, size_t nrecs, size_t nfields,
                        spool_done_cb cb, void *ud)
{
    if (nfields == 0) return SL_EUSAGE;
    return append_common(s, fields, nrecs, nfields, cb, ud);
}

/* ---- Open and recovery ---------------------------------------------------------------------- */

static void seterr(char *err, size_t errcap, const char *fmt, const char *dir, int e)
{
    if (err && errcap) snprintf(err, errcap, fmt, dir, strerror(e));
}

static int mkdir_p(const char *path)
{
    char *p = strdup(path);
    if (!p) return SL_ENOMEM;
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            char c = *q;
            *q = '\0';
            if (mkdir(p, 0700) < 0 && errno != EEXIST) {
                rc = SL_EIO;
                break;
            }
            *q = c;
            if (c == '\0') break;
        }
    }
    free(p);
    return rc;
}

/* "seg-" + 20 digits; *is_seg when the name is exactly a segment file (".log"). */
static bool parse_seg_name(const char *name, uint64_t *seq, bool *is_seg)
{
    if (strncmp(name, "seg-", 4) != 0) return false;
    uint64_t v = 0;
    for (int i = 4; i < 24; i++) {
        if (name[i] < '0' || name[i] > '9') return false;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *seq = v;
    *is_seg = strcmp(name + 24, ".log") == 0;
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Scans one segment file; appends it to segs when it holds records. *changed when the directory
 * changed (file deleted or renamed). */
static int recover_seg(spool *s, uint64_t seq, segbuf *b, bool *changed)
{
    char name[SPOOL_NAME_MAX];
    seg_name(name, seq);
    int fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0) return SL_EIO;
    int rc = 0;
    struct stat stt;
    if (fstat(fd, &stt) < 0) {
        rc = SL_EIO;
        goto out;
    }
    uint64_t size = (uint64_t)stt.st_size;
    b->fd = fd;
    b->wlen = 0;
    const unsigned char *h;
    rc = segbuf_get(b, 0, SPOOL_HDR, size, &h);
    if (rc < 0) goto out;
    if (rc == 1 || memcmp(h, SPOOL_MAGIC, 8) != 0 || get64(h + 8) != seq) {
        /* no valid header: a file cut during creation is deleted; anything else is kept
         * aside as <name>.bad for inspection */
        s->st.torn_segments++;
        s->st.torn_bytes += size;
        s->st.last_torn_seg = seq;
        s->st.last_torn_off = 0;
        *changed = true;
        if (rc == 1) {
            rc = unlinkat(s->dirfd, name, 0) < 0 ? SL_EIO : 0;
        } else {
            char bad[SPOOL_NAME_MAX + 8];
            snprintf(bad, sizeof bad, "%s.bad", name);
            rc = renameat(s->dirfd, name, s->dirfd, bad) < 0 ? SL_EIO : 0;
        }
        goto out;
    }
    uint64_t off = SPOOL_HDR, nrec = 0;
    for (;;) {
        const unsigned char *payload;
        uint32_t n;
        rc = read_frame(b, off, size, &payload, &n);
        if (rc < 0) goto out;
        if (rc == 1) break;
        off += SPOOL_FRAME + (uint64_t)n;
        nrec++;
    }
    rc = 0;
    if (off < size) {
        /* torn or corrupt: nothing from here on is trusted; cut it off */
        s->st.torn_segments++;
        s->st.torn_bytes += size - off;
        s->st.last_torn_seg = seq;
        s->st.last_torn_off = off;
        s->st.fsyncs++;
        if (ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0) {
            rc = SL_EIO;
            goto out;
        }
    }
    if (nrec == 0) {
        *changed = true;
        rc = unlinkat(s->dirfd, name, 0) < 0 ? SL_EIO : 0;
        goto out;
    }
    if (sl_grow(&s->segs, &s->segcap, s->nsegs + 1, sizeof *s->segs) < 0) {
        rc = SL_ENOMEM;
        goto out;
    }
    s->segs[s->nsegs++] = (seg_info){.seq = seq, .size = off, .nrec = nrec, .sealed = true};
    s->st.recovered_segments++;
    s->st.recovered_records += nrec;
out:
    close(fd);
    b->fd = -1;
    return rc;
}

static int recover(spool *s, char *err, size_t errcap)
{
    int dfd = dup(s->dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0) close(dfd);
        seterr(err, errcap, "spool %s: cannot list: %s", s->dir, errno);
        return SL_EIO;
    }
    uint64_t *seqs = NULL, maxseq = 0;
    size_t n = 0, cap = 0;
    int rc = 0;
    segbuf b = {.fd = -1};
    bool changed = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t seq;
        bool is_seg;
        if (!parse_seg_name(de->d_name, &seq, &is_seg)) continue;
        if (seq > maxseq) maxseq = seq;
        if (!is_seg) continue;
        if (sl_grow(&seqs, &cap, n + 1, sizeof *seqs) < 0) {
            rc = SL_ENOMEM;
            goto out;
        }
        seqs[n++] = seq;
    }
    if (n) qsort(seqs, n, sizeof *seqs, cmp_u64);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = recover_seg(s, seqs[i], &b, &changed);
        if (rc < 0) {
            char name[SPOOL_NAME_MAX];
            seg_name(name, seqs[i]);
            if (err && errcap)
                snprintf(err, errcap, "spool %s: recovering %s: %s", s->dir, name,
                         rc == SL_EIO ? strerror(errno) : sl_strerror(rc));
        }
    }
    if (rc == 0 && changed) {
        s->st.fsyncs++;
        if (fsync(s->dirfd) < 0) {
            seterr(err, errcap, "spool %s: fsync: %s", s->dir, errno);
            rc = SL_EIO;
        }
    }
    s->next_seq = maxseq + 1;
    recount(s);
out:
    free(b.buf);
    free(seqs);
    closedir(d);
    return rc;
}

static void spool_free(spool *s)
{
    if (s->wfd >= 0) close(s->wfd);
    if (s->dirfd >= 0) close(s->dirfd);
    if (s->lockfd >= 0) close(s->lockfd); /* releases the flock */
    batch_free(&s->pend);
    batch_free(&s->jb);
    free(s->segs);
    free(s->jt);
    free(s->dir);
    free(s);
}

int spool_open(uv_loop_t *loop, const spool_config *cfg, spool **out, char *err, size_t errcap)
{
    *out = NULL;
    if (err && errcap) err[0] = '\0';
    if (!cfg || !cfg->dir || !cfg->dir[0]) {
        if (err && errcap) snprintf(err, errcap, "spool: no directory");
        return SL_EUSAGE;
    }
    spool *s = calloc(1, sizeof *s);
    if (!s) return SL_ENOMEM;
    s->loop = loop;
    s->cfg = *cfg;
    s->dirfd = s->lockfd = s->wfd = -1;
    if (!s->cfg.max_bytes) s->cfg.max_bytes = (uint64_t)256 << 20;
    if (!s->cfg.segment_bytes) s->cfg.segment_bytes = (uint64_t)8 << 20;
    if (!s->cfg.max_record) s->cfg.max_record = 4u << 20;
    if (!s->cfg.batch_bytes) s->cfg.batch_bytes = 1u << 20;
    if (s->cfg.max_bytes <= SPOOL_FRAME) {
        if (err && errcap) snprintf(err, errcap, "spool: max_bytes too small");
        spool_free(s);
        return SL_EUSAGE;
    }
    if (s->cfg.max_record > s->cfg.max_bytes - SPOOL_FRAME)
        s->cfg.max_record = (uint32_t)(s->cfg.max_bytes - SPOOL_FRAME);
    s->cfg.dir = NULL;
    s->st.max_bytes = s->cfg.max_bytes;
    int rc;
    s->dir = strdup(cfg->dir);
    if (!s->dir) {
        rc = SL_ENOMEM;
        goto fail;
    }
    rc = mkdir_p(s->dir);
    if (rc < 0) {
        seterr(err, errcap, "spool %s: cannot create: %s", s->dir, errno);
        goto fail;
    }
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        seterr(err, errcap, "spool %s: %s", s->dir, errno);
        rc = SL_EIO;
        goto fail;
    }
    s->lockfd = openat(s->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lockfd < 0) {
        seterr(err, errcap, "spool %s: LOCK: %s", s->dir, errno);
        rc = SL_EIO;
        goto fail;
    }
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        seterr(err, errcap,
               e == EWOULDBLOCK ? "spool %s: in use by another worker or process (%s)"
                                : "spool %s: LOCK: %s",
               s->dir, e);
        rc = e == EWOULDBLOCK ? SL_EUSAGE : SL_EIO;
        goto fail;
    }
    rc = recover(s, err, errcap);
    if (rc < 0) goto fail;
    if (s->nsegs) s->commit = (spool_pos){s->segs[0].seq, 0};
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    *out = s;
    return 0;
fail:
    spool_free(s);
    return rc;
}

/* ---- Replay --------------------------------------------------------------------------------- */

struct spool_reader {
    spool *s;
    spool_pos cur;
    uint64_t fdseq;
    segbuf b;
};

int spool_reader_new(spool *s, spool_reader **out)
{
    spool_reader *r = calloc(1, sizeof *r);
    *out = r;
    if (!r) return SL_ENOMEM;
    r->s = s;
    r->cur = s->commit;
    r->b.fd = -1;
    return 0;
}

void spool_reader_free(spool_reader *r)
{
    if (!r) return;
    if (r->b.fd >= 0) close(r->b.fd);
    free(r->b.buf);
    free(r);
}

int spool_read(spool_reader *r, spool_rec *rec)
{
    spool *s = r->s;
    for (;;) {
        const seg_info *g = NULL;
        for (size_t i = 0; i < s->nsegs; i++) {
            if (s->segs[i].seq >= r->cur.seg) {
                g = &s->segs[i];
                break;
            }
        }
        if (!g) return 0;
        if (g->seq != r->cur.seg) r->cur = (spool_pos){g->seq, SPOOL_HDR};
        if (r->cur.off < SPOOL_HDR) r->cur.off = SPOOL_HDR;
        if (r->cur.off >= g->size) {
            if (!g->sealed) return 0; /* the active segment: more after the next fsync */
            r->cur = (spool_pos){g->seq + 1, 0};
            continue;
        }
        if (r->b.fd < 0 || r->fdseq != g->seq) {
            if (r->b.fd >= 0) close(r->b.fd);
            char name[SPOOL_NAME_MAX];
            seg_name(name, g->seq);
            r->b.fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
            r->b.wlen = 0;
            r->fdseq = g->seq;
            if (r->b.fd < 0) return SL_EIO;
        }
        const unsigned char *payload;
        uint32_t n;
        int rc = read_frame(&r->b, r->cur.off, g->size, &payload, &n);
        if (rc < 0) return rc;
        if (rc == 1) {
            /* went bad after open (the scan checked it): skip the rest of this segment */
            s->st.corrupt_reads++;
            r->cur = (spool_pos){g->seq + 1, 0};
            continue;
        }
        rec->data = payload;
        rec->len = n;
        rec->pos = r->cur;
        r->cur.off += SPOOL_FRAME + (uint64_t)n;
        rec->next = r->cur;
        s->st.records_read++;
        return 1;
    }
}

typedef struct {
    uv_fs_t req;
    spool *s;
} unlink_req;

static void on_unlinked(uv_fs_t *req)
{
    unlink_req *u = (unlink_req *)req;
    spool *s = u->s;
    uv_fs_req_cleanup(req);
    free(u);
    s->unlinks--;
    maybe_finish_close(s);
}

static void delete_seg(spool *s, uint64_t seq)
{
    char name[SPOOL_NAME_MAX];
    seg_name(name, seq);
    size_t plen = strlen(s->dir) + 1 + strlen(name) + 1;
    unlink_req *u = malloc(sizeof *u + plen);
    if (u) {
        char *path = (char *)(u + 1);
        snprintf(path, plen, "%s/%s", s->dir, name);
        u->s = s;
        if (uv_fs_unlink(s->loop, &u->req, path, on_unlinked) == 0) {
            s->unlinks++;
            return;
        }
        free(u);
    }
    unlinkat(s->dirfd, name, 0); /* fallback: a short blocking unlink */
}

int spool_commit(spool *s, spool_pos upto)
{
    if (pos_lt(upto, s->commit)) return 0;
    s->commit = upto;
    size_t k = 0;
    for (; k < s->nsegs; k++) {
        seg_info *g = &s->segs[k];
        if (!(g->seq < upto.seg || (g->seq == upto.seg && upto.off >= g->size))) break;
        if (!g->sealed) {
            /* the active segment, fully acknowledged: retire it unless a write is using it */
            if (s->inflight) break;
            close(s->wfd);
            s->wfd = -1;
            g->sealed = true;
        }
        delete_seg(s, g->seq);
    }
    if (k) {
        memmove(s->segs, s->segs + k, (s->nsegs - k) * sizeof *s->segs);
        s->nsegs -= k;
        s->st.segments_deleted += k;
        recount(s);
    }
    return 0;
}

bool spool_has_backlog(const spool *s)
{
    if (s->pend.nrec || (s->inflight && s->jb.nrec)) return true;
    if (!s->nsegs) return false;
    const seg_info *g = &s->segs[s->nsegs - 1];
    return pos_lt(s->commit, (spool_pos){g->seq, g->size});
}

void spool_get_stats(const spool *s, spool_stats *out)
{
    *out = s->st;
    out->bytes = held(s);
    out->max_bytes = s->cfg.max_bytes;
    out->segments = s->nsegs;
}

/* ---- Close ---------------------------------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
    spool *s = h->data;
    void (*done)(void *) = s->close_done;
    void *ud = s->close_ud;
    spool_free(s);
    if (done) done(ud);
}

static void maybe_finish_close(spool *s)
{
    if (!s->closing || s->close_started || s->inflight || s->pend.nw || s->unlinks) return;
    s->close_started = true;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

void spool_close(spool *s, void (*done)(void *ud), void *ud)
{
    s->closing = true;
    s->close_done = done;
    s->close_ud = ud;
    start_job(s);
    maybe_finish_close(s);
}
