/* test_spool.c - the disk spool against real files (mkdtemp) and real fsync: callbacks only after
 * durability, group commit, in-order replay across reopen, rotation and deletion on commit, the
 * size bound, torn/corrupt records cut at open, a simulated full disk (RLIMIT_FSIZE), and crashes
 * (a forked child SIGKILLed at random moments: every acknowledged record survives, nothing corrupt
 * is replayed). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "spool.h"

#define REC_LEN 100 /* payload bytes of the test records: 108 on disk with the frame */
#define FRAMED (REC_LEN + 8)
#define HDR 16

/* ---- Helpers -------------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *mktmp(char *buf, size_t cap)
{
    snprintf(buf, cap, "/tmp/sluice-spool-XXXXXX");
    return mkdtemp(buf);
}

/* "rec-<i>" padded with a byte derived from i to REC_LEN bytes */
static void make_rec(char *buf, int i)
{
    memset(buf, 'a' + i % 26, REC_LEN);
    int n = snprintf(buf, REC_LEN, "rec-%d;", i);
    buf[n] = ';';
}

static int rec_id(const void *data, size_t len)
{
    char tmp[32];
    if (len != REC_LEN) return -1;
    memcpy(tmp, data, 31);
    tmp[31] = '\0';
    int id;
    if (sscanf(tmp, "rec-%d;", &id) != 1) return -1;
    char want[REC_LEN];
    make_rec(want, id);
    return memcmp(want, data, REC_LEN) == 0 ? id : -2;
}

typedef struct {
    int calls, fails, last;
} ctr;

static void count_cb(void *ud, int status)
{
    ctr *c = ud;
    c->calls++;
    c->last = status;
    if (status) c->fails++;
}

static int append_one(spool *s, int i, ctr *c)
{
    char buf[REC_LEN];
    make_rec(buf, i);
    spool_buf b = {buf, REC_LEN};
    return spool_append(s, &b, 1, count_cb, c);
}

/* Appends records first .. first+n-1 (each must be accepted), then runs the loop until their
 * callbacks fired. */
static void append_range(uv_loop_t *loop, spool *s, int first, int n, ctr *k)
{
    for (int i = first; i < first + n; i++)
        CHECK_INT(append_one(s, i, k), 0);
    uv_run(loop, UV_RUN_DEFAULT);
}

static spool *open_dir(uv_loop_t *loop, const char *dir, uint64_t max_bytes, uint64_t seg_bytes)
{
    spool_config cfg = {.dir = dir, .max_bytes = max_bytes, .segment_bytes = seg_bytes};
    spool *s = NULL;
    char err[256];
    int rc = spool_open(loop, &cfg, &s, err, sizeof err);
    if (rc) fprintf(stderr, "spool_open: %d %s\n", rc, err);
    return s;
}

static void set_flag(void *ud)
{
    *(int *)ud = 1;
}

static void close_spool(uv_loop_t *loop, spool *s)
{
    int done = 0;
    spool_close(s, set_flag, &done);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(done);
}

/* Reads every available record; checks ids run first, first+1, ...; returns the count. */
static int read_all(spool *s, int first, spool_pos *last_next)
{
    spool_reader *r;
    CHECK_INT(spool_reader_new(s, &r), 0);
    spool_rec rec;
    int n = 0, rc;
    while ((rc = spool_read(r, &rec)) == 1) {
        CHECK_INT(rec_id(rec.data, rec.len), first + n);
        if (last_next) *last_next = rec.next;
        n++;
    }
    CHECK_INT(rc, 0);
    spool_reader_free(r);
    return n;
}

static int count_files(const char *dir, const char *suffix)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c '%s$'", dir, suffix);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

static char *seg_path(char *buf, size_t cap, const char *dir, uint64_t seq)
{
    snprintf(buf, cap, "%s/seg-%020" PRIu64 ".log", dir, seq);
    return buf;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void flip_byte(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    CHECK(pread(fd, &c, 1, off) == 1);
    c ^= 0x5a;
    CHECK(pwrite(fd, &c, 1, off) == 1);
    close(fd);
}

/* ---- Tests ---------------------------------------------------------------------------------- */

static void test_pack(void)
{
    spool_buf in[3] = {{"events", 6}, {"", 0}, {"{\"a\":1}", 7}};
    size_t n = spool_pack_size(in, 3);
    CHECK_INT(n, 4 + 6 + 4 + 0 + 4 + 7);
    char buf[64];
    CHECK_INT(spool_pack(in, 3, buf), n);
    spool_buf out[4];
    size_t k = 0;
    CHECK_INT(spool_unpack(buf, n, out, 4, &k), 0);
    CHECK_INT(k, 3);
    CHECK(out[0].len == 6 && memcmp(out[0].data, "events", 6) == 0);
    CHECK_INT(out[1].len, 0);
    CHECK(out[2].len == 7 && memcmp(out[2].data, "{\"a\":1}", 7) == 0);
    CHECK_INT(spool_unpack(buf, n - 1, out, 4, &k), SL_ESYNTAX); /* truncated field */
    CHECK_INT(spool_unpack(buf, 2, out, 4, &k), SL_ESYNTAX);     /* truncated length */
    CHECK_INT(spool_unpack(buf, n, out, 2, &k), SL_ESYNTAX);     /* too many fields */
    CHECK_INT(spool_unpack(buf, 0, out, 4, &k), 0);
    CHECK_INT(k, 0);
}

/* Callback only after the write + fsync, never synchronously; readable right after. */
static void test_append_durable(const char *root)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/durable/worker-0", root);
    uv_loop_t loop;
    uv_loop_init(&loop);
    spool *s = open_dir(&loop, dir, 0, 0);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(!spool_has_backlog(s));
    char a[REC_LEN], b[REC_LEN], c[REC_LEN];
    make_rec(a, 0), make_rec(b, 1), make_rec(c, 2);
    spool_buf recs[3] = {{a, REC_LEN}, {b, REC_LEN}, {c, REC_LEN}};
    ctr k = {0};
    CHECK_INT(spool_append(s, recs, 3, count_cb, &k), 0);
    CHECK_INT(k.calls, 0); /* not before durability */
    spool_stats st;
    spool_get_stats(s, &st);
    CHECK_INT(st.pending, 3);
    CHECK_INT(st.bytes, 3 * FRAMED);
    CHECK(spool_has_backlog(s));
    /* nothing durable yet: a reader sees nothing */
    CHECK_INT(read_all(s, 0, NULL), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(k.calls, 1);
    CHECK_INT(k.last, 0);
    spool_get_stats(s, &st);
    CHECK_INT(st.records_durable, 3);
    CHECK_INT(st.pending, 0);
    CHECK_INT(st.batches, 1);
    CHECK_INT(st.fsyncs, 2); /* the new segment file + the directory */
    CHECK_INT(st.segments, 1);
    char p[512];
    CHECK_INT(file_size(seg_path(p, sizeof p, dir, 1)), HDR + 3 * FRAMED);
    CHECK_INT(read_all(s, 0, NULL), 3);
    /* a second append to the same segment: one fsync, no directory fsync */
    CHECK_INT(append_one(s, 3, &k), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    spool_get_stats(s, &st);
    CHECK_INT(k.calls, 2);
    CHECK_INT(st.fsyncs, 3);
    CHECK_INT(read_all(s, 0, NULL), 4);
    /* append_fields packs in place */
    spool_buf f[4] = {{"k1", 2}, {"{}", 2}, {"k2", 2}, {"[1]", 3}};
    CHECK_INT(spool_append_fields(s, f, 2, 2, count_cb, &k), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    spool_reader *r;
    spool_reader_new(s, &r);
    spool_rec rec;
    for (int i = 0; i < 4; i++)
        CHECK_INT(spool_read(r, &rec), 1);
    CHECK_INT(spool_read(r, &rec), 1);
    spool_buf out[2];
    size_t nf = 0;
    CHECK_INT(spool_unpack(rec.data, rec.len, out, 2, &nf), 0);
    CHECK(nf == 2 && out[0].len == 2 && memcmp(out[1].data, "{}", 2) == 0);
    CHECK_INT(spool_read(r, &rec), 1);
    CHECK_INT(spool_unpack(rec.data, rec.len, out, 2, &nf), 0);
    CHECK(nf == 2 && out[1].len == 3 && memcmp(out[1].data, "[1]", 3) == 0);
    CHECK_INT(spool_read(r, &rec), 0);
    spool_reader_free(r);
    /* usage errors: nothing appended, no callback */
    CHECK_INT(spool_append(s, recs, 0, count_cb, &k), SL_EUSAGE);
    close_spool(&loop, s);
    CHECK_INT(k.calls, 3);
    uv_loop_close(&loop);
}

typedef struct {
    spool *s;
    int next_id, rounds_left, calls, fails;
} client;

static void client_cb(void *ud, int status)
{
    client *c = ud;
    c->calls++;
    if (status) c->fails++;
    if (c->rounds_left-- > 0) {
        char buf[REC_LEN];
        make_rec(buf, c->next_id);
        spool_buf b = {buf, REC_LEN};
        if (spool_append(c->s, &b, 1, client_cb, c) != 0) c->fails++;
    }
}

/* Group commit: 1000 appends in one loop turn share one fsync; 50 clients re-appending from their
 * callbacks share fsyncs too. */
static void test_batching(const char *root)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/batch", root);
    uv_loop_t loop;
    uv_loop_init(&loop);
    spool *s = open_dir(&loop, dir, 0, 0);
    CHECK(s != NULL);
    if (!s) return;
    ctr k = {0};
    append_range(&loop, s, 0, 1000, &k);
    CHECK_INT(k.calls, 1000);
    CHECK_INT(k.fails, 0);
    spool_stats st;
    spool_get_stats(s, &st);
    CHECK_INT(st.batches, 1);
    CHECK_INT(st.fsyncs, 2);
    CHECK_INT(st.records_durable, 1000);

    enum { NCLIENTS = 50, ROUNDS = 20 };
    client cl[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        cl[i] = (client){.s = s, .next_id = 0, .rounds_left = ROUNDS - 1};
        char buf[REC_LEN];
        make_rec(buf, 0);
        spool_buf b = {buf, REC_LEN};
        CHECK_INT(spool_append(s, &b, 1, client_cb, &cl[i]), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    int calls = 0, fails = 0;
    for (int i = 0; i < NCLIENTS; i++)
        calls += cl[i].calls, fails += cl[i].fails;
    CHECK_INT(calls, NCLIENTS * ROUNDS);
    CHECK_INT(fails, 0);
    spool_stats st2;
    spool_get_stats(s, &st2);
    uint64_t batches = st2.batches - st.batches;
    printf("batching: %d appends from %d clients in %" PRIu64 " group writes, %" PRIu64 " fsyncs\n",
           NCLIENTS * ROUNDS, NCLIENTS, batches, st2.fsyncs - st.fsyncs);
    CHECK(batches <= ROUNDS + 1); /* each round's 50 appends go together */
    CHECK(st2.fsyncs - st.fsyncs <= batches);
    close_spool(&loop, s);
    uv_loop_close(&loop);
}

/* Records come back in order after a reopen; rotation; deletion only on commit; at-least-once for
 * a partly committed segment. */
static void test_reopen_rotation_commit(const char *root)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/rotate", root);
    uv_loop_t loop;
    uv_loop_init(&loop);
    /* 512-byte segments: 4 records each (16 + 4 * 108 = 448) */
    spool *s = open_dir(&loop, dir, 0, 512);
    CHECK(s != NULL);
    if (!s) return;
    ctr k = {0};
    for (int i = 0; i < 40; i++) {
        CHECK_INT(append_one(s, i, &k), 0);
        if (i % 7 == 0) uv_run(&loop, UV_RUN_DEFAULT); /* batches of different sizes */
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(k.calls, 40);
    CHECK_INT(k.fails, 0);
    spool_stats st;
    spool_get_stats(s, &st);
    CHECK_INT(st.segments, 10);
    CHECK_INT(count_files(dir, ".log"), 10);
    close_spool(&loop, s);

    s = open_dir(&loop, dir, 0, 512);
    CHECK(s != NULL);
    if (!s) return;
    spool_get_stats(s, &st);
    CHECK_INT(st.recovered_segments, 10);
    CHECK_INT(st.recovered_records, 40);
    CHECK_INT(st.torn_segments, 0);
    CHECK_INT(st.bytes, 40 * FRAMED);
    /* read 20, commit them: the first 5 segments go */
    spool_reader *r;
    CHECK_INT(spool_reader_new(s, &r), 0);
    spool_rec rec;
    for (int i = 0; i < 20; i++) {
        CHECK_INT(spool_read(r, &rec), 1);
        CHECK_INT(rec_id(rec.data, rec.len), i);
    }
    CHECK_INT(rec.next.seg, 5);
    CHECK_INT(spool_commit(s, rec.next), 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* the unlinks */
    CHECK_INT(count_files(dir, ".log"), 5);
    spool_get_stats(s, &st);
    CHECK_INT(st.segments, 5);
    CHECK_INT(st.segments_deleted, 5);
    CHECK_INT(st.bytes, 20 * FRAMED);
    /* two more into segment 6, committed: the segment stays (not wholly acknowledged) */
    CHECK_INT(spool_read(r, &rec), 1);
    CHECK_INT(spool_read(r, &rec), 1);
    CHECK_INT(rec_id(rec.data, rec.len), 21);
    CHECK_INT(spool_commit(s, rec.next), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(count_files(dir, ".log"), 5);
    /* a new reader starts after the commit point */
    spool_reader *r2;
    CHECK_INT(spool_reader_new(s, &r2), 0);
    CHECK_INT(spool_read(r2, &rec), 1);
    CHECK_INT(rec_id(rec.data, rec.len), 22);
    spool_reader_free(r2);
    /* an older position is ignored */
    CHECK_INT(spool_commit(s, (spool_pos){1, 0}), 0);
    CHECK(spool_has_backlog(s));
    spool_reader_free(r);
    close_spool(&loop, s);

    /* at-least-once: after a restart, the partly committed segment 6 is replayed from its start */
    s = open_dir(&loop, dir, 0, 512);
    CHECK(s != NULL);
    if (!s) return;
    /* new appends go after the recovered ones, into new segments */
    append_range(&loop, s, 40, 6, &k);
    spool_pos last = {0, 0};
    CHECK_INT(read_all(s, 20, &last), 26);
    /* committing everything deletes every segment, the active one too */
    CHECK_INT(spool_commit(s, last), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(count_files(dir, ".log"), 0);
    CHECK(!spool_has_backlog(s));
    spool_get_stats(s, &st);
    CHECK_INT(st.bytes, 0);
    CHECK_INT(st.segments, 0);
    /* and appending continues with a fresh segment */
    CHECK_INT(append_one(s, 46, &k), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(k.fails, 0);
    CHECK_INT(count_files(dir, ".log"), 1);
    CHECK_INT(read_all(s, 46, NULL), 1);
    close_spool(&loop, s);
    s = open_dir(&loop, dir, 0, 512);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_INT(read_all(s, 46, NULL), 1);
    close_spool(&loop, s);
    uv_loop_close(&loop);
}

/* Segments smaller than a record: one record per file, many files in one group write. */
static void test_tiny_segments(const char *root)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/tiny", root);
    uv_loop_t loop;
    uv_loop_init(&loop);
    spool *s = open_dir(&loop, dir, 0, 64);
    CHECK(s != NULL);
    if (!s) return;
    ctr k = {0};
    append_range(&loop, s, 0, 50, &k);
    CHECK_INT(k.calls, 50);
    CHECK_INT(k.fails, 0);
    spool_stats st;
    spool_get_stats(s, &st);
    CHECK_INT(st.batches, 1);
    CHECK_INT(st.segments, 50);
    CHECK_INT(count_files(dir, ".log"), 50);
    spool_pos last;
    CHECK_INT(read_all(s, 0, &last), 50);
    spool_commit(s, last);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(count_files(dir, ".log"), 0);
    close_spool(&loop, s);
    uv_loop_close(&loop);
}

/* The bound: a full spool refuses appends with SPOOL_EFULL (no callback); commit frees room. */
static void test_full(const char *root)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/full", root);
    uv_loop_t loop;
    uv_loop_init(&loop);
    spool *s = open_dir(&loop, dir, 10 * FRAMED, 0);
    CHECK(s != NULL);
    if (!s) return;
    ctr k = {0};
    for (int i = 0; i < 10; i++)
        CHECK_INT(append_one(s, i, &k), 0);
    CHECK_INT(append_one(s, 10, &k), SPOOL_EFULL); /* pending bytes count too */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(k.calls, 10);
    CHECK_INT(append_one(s, 10, &k), SPOOL_EFULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(k.calls, 10);
    spool_stats st;
    spool_get_stats(s, &st);
    CHECK_INT(st.appends_full, 2);
    CHECK_INT(st.bytes, 10 * FRAMED);
    CHECK_INT(st.max_bytes, 10 * FRAMED);
    /* a record over max_record (clamped to max_bytes - 8) is a usage error, not "full" */
    char big[20 * FRAMED];
    memset(big, 'x', sizeof big);
    spool_buf bb = {big, sizeof big};
    CHECK_INT(spool_append(s, &bb, 1, count_cb, &k), SL_EUSAGE);
    spool_pos last;
    CHECK_INT(read_all(s, 0, &last), 10);
    spool_commit(s, last);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(append_one(s, 10, &k), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(k.calls, 11);
    CHECK_INT(k.fails, 0);
    close_spool(&loop, s);
    uv_loop_close(&loop);
}

static void write_n(uv_loop_t *loop, const char *dir, int first, int n, uint64_t seg_bytes)
{
    spool *s = open_dir(loop, dir, 0, seg_bytes);
    CHECK(s != NULL);
    if (!s) return;
    ctr k = {0};
    append_range(loop, s, first, n, &k);
    CHECK_INT(k.calls, n);
    CHECK_INT(k.fails, 0);
    close_spool(loop, s);
}

/* Torn and corrupt records: detected by the scan, counted, cut off deterministically; earlier
 * records intact; later records of the same segment not trusted; later segments kept. */
static void test_torn(const char *root)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[256], p[512];
    spool_stats st;
    spool *s;

    /* a partial last record (file cut 3 bytes short) */
    snprintf(dir, sizeof dir, "%s/torn1", root);
    write_n(&loop, dir, 0, 10, 0);
    seg_path(p, sizeof p, dir, 1);
    CHECK(truncate(p, HDR + 10 * FRAMED - 3) == 0);
    s = open_dir(&loop, dir, 0, 0);
    CHECK(s != NULL);
    if (!s) return;
    spool_get_stats(s, &st);
    CHECK_INT(st.torn_segments, 1);
    CHECK_INT(st.torn_bytes, FRAMED - 3);
    CHECK_INT(st.last_torn_seg, 1);
    CHECK_INT(st.last_torn_off, HDR + 9 * FRAMED);
    CHECK_INT(st.recovered_records, 9);
    CHECK_INT(file_size(p), HDR + 9 * FRAMED);
    CHECK_INT(read_all(s, 0, NULL), 9);
    /* appends after recovery go to a new segment, after the recovered records */
    ctr k = {0};
    CHECK_INT(append_one(s, 9, &k), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(k.last, 0);
    CHECK_INT(read_all(s, 0, NULL), 10);
    close_spool(&loop, s);
    s = open_dir(&loop, dir, 0, 0); /* repaired: nothing torn the second time */
    CHECK(s != NULL);
    if (!s) return;
    spool_get_stats(s, &st);
    CHECK_INT(st.torn_segments, 0);
    CHECK_INT(st.recovered_records, 10);
    close_spool(&loop, s);

    /* a flipped byte in record 4 of 10: records 0-3 survive, 4-9 are not trusted */
    snprintf(dir, sizeof dir, "%s/torn2", root);
    write_n(&loop, dir, 0, 10, 0);
    seg_path(p, sizeof p, dir, 1);
    flip_byte(p, HDR + 4 * FRAMED + 8 + 50);
    s = open_dir(&loop, dir, 0, 0);
    CHECK(s != NULL);
    if (!s) return;
    spool_get_stats(s, &st);
    CHECK_INT(st.torn_segments, 1);
    CHECK_INT(st.torn_bytes, 6 * FRAMED);
    CHECK_INT(st.recovered_records, 4);
    CHECK_INT(read_all(s, 0, NULL), 4);
    close_spool(&loop, s);

    /* a corrupt length field in segment 1 of 3: segment 1 keeps record 0, segments 2-3 stay */
    snprintf(dir, sizeof dir, "%s/torn3", root);
    write_n(&loop, dir, 0, 12, 512);
    seg_path(p, sizeof p, dir, 1);
    flip_byte(p, HDR + FRAMED + 1);
    s = open_dir(&loop, dir, 0, 512);
    CHECK(s != NULL);
    if (!s) return;
    spool_get_stats(s, &st);
    CHECK_INT(st.torn_segments, 1);
    CHECK_INT(st.recovered_records, 9);
    spool_reader *r;
    spool_reader_new(s, &r);
    spool_rec rec;
    int ids[16], n = 0;
    while (n < 16 && spool_read(r, &rec) == 1)
        ids[n++] = rec_id(rec.data, rec.len);
    spool_reader_free(r);
    CHECK_INT(n, 9);
    CHECK_INT(ids[0], 0);
    CHECK_INT(ids[1], 4);
    CHECK_INT(ids[8], 11);
    close_spool(&loop, s);

    /* segment files without a valid header: a stub (crash during creation) is deleted, a file
     * with a foreign header is quarantined as .bad; both are counted */
    snprintf(dir, sizeof dir, "%s/torn4", root);
    write_n(&loop, dir, 0, 3, 0);
    seg_path(p, sizeof p, dir, 7);
    FILE *f = fopen(p, "w");
    fputs("SLSP", f);
    fclose(f);
    seg_path(p, sizeof p, dir, 5);
    f = fopen(p, "w");
    fputs("NOT A SPOOL SEGMENT FILE", f);
    fclose(f);
    s = open_dir(&loop, dir, 0, 0);
    CHECK(s != NULL);
    if (!s) return;
    spool_get_stats(s, &st);
    CHECK_INT(st.torn_segments, 2);
    CHECK_INT(st.recovered_records, 3);
    CHECK_INT(count_files(dir, ".log"), 1);
    CHECK_INT(count_files(dir, ".bad"), 1);
    CHECK_INT(append_one(s, 3, &k), 0); /* goes to segment 8, after the stub's number */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(k.last, 0);
    CHECK_INT(file_size(seg_path(p, sizeof p, dir, 8)), HDR + FRAMED);
    CHECK_INT(read_all(s, 0, NULL), 4);
    close_spool(&loop, s);
    uv_loop_close(&loop);
}

/* One spool per directory: a second opener is refused. */
static void test_lock(const char *root)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/lock", root);
    uv_loop_t loop;
    uv_loop_init(&loop);
    spool *s = open_dir(&loop, dir, 0, 0), *s2 = NULL;
    CHECK(s != NULL);
    if (!s) return;
    spool_config cfg = {.dir = dir};
    char err[256];
    CHECK_INT(spool_open(&loop, &cfg, &s2, err, sizeof err), SL_EUSAGE);
    CHECK(s2 == NULL);
    CHECK(strstr(err, "in use") != NULL);
    close_spool(&loop, s);
    CHECK_INT(spool_open(&loop, &cfg, &s2, err, sizeof err), 0);
    if (s2) close_spool(&loop, s2);
    cfg.dir = "";
    CHECK_INT(spool_open(&loop, &cfg, &s2, err, sizeof err), SL_EUSAGE);
    uv_loop_close(&loop);
}

/* A full disk, simulated with RLIMIT_FSIZE: the group write fails with SL_EIO, the segment is cut
 * back to its last fsynced size, later appends succeed in a new segment, nothing torn remains. */
static void test_disk_full(const char *root)
{
    char dir[256], p[512];
    snprintf(dir, sizeof dir, "%s/diskfull", root);
    uv_loop_t loop;
    uv_loop_init(&loop);
    spool *s = open_dir(&loop, dir, 0, 0);
    CHECK(s != NULL);
    if (!s) return;
    ctr k = {0};
    append_range(&loop, s, 0, 5, &k);
    CHECK_INT(k.fails, 0);

    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = HDR + 6 * FRAMED + 50; /* room for one more record and a half */
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    ctr k2 = {0};
    append_range(&loop, s, 5, 3, &k2);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    CHECK_INT(k2.calls, 3);
    CHECK_INT(k2.fails, 3);
    CHECK_INT(k2.last, SL_EIO);
    spool_stats st;
    spool_get_stats(s, &st);
    CHECK_INT(st.io_errors, 1);
    CHECK_INT(st.records_failed, 3);
    CHECK_INT(st.bytes, 5 * FRAMED);
    CHECK_INT(file_size(seg_path(p, sizeof p, dir, 1)), HDR + 5 * FRAMED);

    append_range(&loop, s, 5, 2, &k);
    CHECK_INT(k.fails, 0);
    CHECK_INT(k.calls, 7);
    CHECK_INT(read_all(s, 0, NULL), 7);
    close_spool(&loop, s);
    s = open_dir(&loop, dir, 0, 0);
    CHECK(s != NULL);
    if (!s) return;
    spool_get_stats(s, &st);
    CHECK_INT(st.torn_segments, 0);
    CHECK_INT(st.recovered_segments, 2);
    CHECK_INT(read_all(s, 0, NULL), 7);
    close_spool(&loop, s);
    uv_loop_close(&loop);
}

/* ---- Crash simulation ----------------------------------------------------------------------- */

/* The child appends records with increasing ids (8-byte id + filler derived from it, packed as two
 * fields), keeping several appends in flight, and reports on the pipe: each id once its callback
 * fired with 0, and COMMIT|id before it commits records up to that id (those may be deleted). It
 * also replays and commits as it goes, so deletions race with the kill too. */
#define COMMIT_FLAG (1ull << 63)
#define MAX_ID (1u << 21)

typedef struct {
    spool *s;
    int fd;
    uint64_t next_id;
    spool_reader *r;
    unsigned calls;
} crash_child;

static void child_append(crash_child *c);

static void emit(int fd, uint64_t v)
{
    if (write(fd, &v, sizeof v) != sizeof v) _exit(3);
}

typedef struct {
    crash_child *c;
    uint64_t first, n;
} child_req;

static void child_cb(void *ud, int status)
{
    child_req *q = ud;
    crash_child *c = q->c;
    if (status) _exit(4);
    for (uint64_t i = 0; i < q->n; i++)
        emit(c->fd, q->first + i);
    free(q);
    /* now and then: replay a few records and commit them */
    if (++c->calls % 5 == 0) {
        spool_rec rec;
        spool_pos next = {0, 0};
        uint64_t last = 0;
        int got = 0;
        for (int i = 0; i < 7 && spool_read(c->r, &rec) == 1; i++) {
            spool_buf f[2];
            size_t nf;
            if (spool_unpack(rec.data, rec.len, f, 2, &nf) || nf != 2) _exit(5);
            memcpy(&last, f[0].data, 8);
            next = rec.next;
            got = 1;
        }
        if (got) {
            emit(c->fd, COMMIT_FLAG | last);
            spool_commit(c->s, next);
        }
    }
    child_append(c);
}

static void filler(char *buf, uint64_t id, size_t *len)
{
    *len = (size_t)(id * 7919 % 300);
    memset(buf, (int)('A' + id % 23), *len);
}

static void child_append(crash_child *c)
{
    if (c->next_id >= MAX_ID) return;
    child_req *q = malloc(sizeof *q);
    q->c = c;
    q->first = c->next_id;
    q->n = 1 + c->next_id % 3;
    spool_buf f[6];
    char ids[3][8], fill[3][300];
    for (uint64_t i = 0; i < q->n; i++) {
        uint64_t id = q->first + i;
        memcpy(ids[i], &id, 8);
        f[2 * i] = (spool_buf){ids[i], 8};
        filler(fill[i], id, &f[2 * i + 1].len);
        f[2 * i + 1].data = fill[i];
    }
    c->next_id += q->n;
    if (spool_append_fields(c->s, f, q->n, 2, child_cb, q) != 0) _exit(6);
}

static void run_child(const char *dir, int fd, uint64_t first_id)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    spool_config cfg = {.dir = dir, .segment_bytes = 4096};
    crash_child c = {.fd = fd, .next_id = first_id};
    if (spool_open(&loop, &cfg, &c.s, NULL, 0) != 0) _exit(2);
    if (spool_reader_new(c.s, &c.r) != 0) _exit(2);
    for (int i = 0; i < 8; i++)
        child_append(&c);
    uv_run(&loop, UV_RUN_DEFAULT);
    _exit(0);
}

/* Appends a torn tail to the newest segment file; false when there is none. */
static bool add_junk(const char *dir, int round)
{
    DIR *d = opendir(dir);
    if (!d) return false;
    char best[256] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, "seg-", 4) == 0 && l > 4 &&
            strcmp(de->d_name + l - 4, ".log") == 0 && strcmp(de->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", de->d_name);
    }
    closedir(d);
    if (!best[0]) return false;
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, best);
    int fd = open(p, O_WRONLY | O_APPEND);
    if (fd < 0) return false;
    unsigned char j[64];
    for (size_t i = 0; i < sizeof j; i++)
        j[i] = (unsigned char)rand();
    size_t n = 1 + (size_t)rand() % 40;
    if (round % 4 == 3) { /* a plausible frame header announcing more bytes than follow */
        j[0] = 60, j[1] = j[2] = j[3] = 0;
        n = 8 + (size_t)rand() % (sizeof j - 8); /* at most 55 of the 60 bytes (was past j) */
    }
    bool ok = write(fd, j, n) == (ssize_t)n;
    close(fd);
    return ok;
}

static void test_crash(const char *root)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/crash/worker-0", root);
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    if (getenv("SPOOL_SEED")) seed = (unsigned)strtoul(getenv("SPOOL_SEED"), NULL, 10);
    srand(seed);
    unsigned char *acked = calloc(MAX_ID / 8, 1);
    uint64_t max_commit = 0, next_first = 0, total_acked = 0, max_acked = 0;
    bool any_commit = false;
    uv_loop_t loop;
    uv_loop_init(&loop);
    for (int round = 0; round < 6; round++) {
        int pfd[2];
        CHECK(pipe(pfd) == 0);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            run_child(dir, pfd[1], next_first);
        }
        close(pfd[1]);
        int kill_ms = 20 + rand() % 200;
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        bool killed = false;
        uint64_t buf[512];
        size_t have = 0; /* bytes in buf */
        for (;;) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
            if (!killed && el >= kill_ms) {
                kill(pid, SIGKILL);
                killed = true;
            }
            struct pollfd pf = {pfd[0], POLLIN, 0};
            if (poll(&pf, 1, killed ? -1 : 5) == 0) continue;
            ssize_t r = read(pfd[0], (char *)buf + have, sizeof buf - have);
            if (r <= 0) break;
            have += (size_t)r;
            size_t nv = have / 8;
            for (size_t i = 0; i < nv; i++) {
                uint64_t v = buf[i];
                if (v & COMMIT_FLAG) {
                    v &= ~COMMIT_FLAG;
                    if (!any_commit || v > max_commit) max_commit = v;
                    any_commit = true;
                } else if (v < MAX_ID) {
                    acked[v / 8] |= (unsigned char)(1u << (v % 8));
                    if (!total_acked || v > max_acked) max_acked = v;
                    total_acked++;
                }
            }
            memmove(buf, (char *)buf + nv * 8, have - nv * 8);
            have -= nv * 8;
        }
        close(pfd[0]);
        int wst;
        waitpid(pid, &wst, 0);
        CHECK(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);

        /* odd rounds: a torn write after the kill (junk, or a frame cut short, at the end of the
         * newest segment), as a crash of the machine could leave it */
        bool junk = round % 2 == 1 && add_junk(dir, round);

        /* the parent recovers: ids consecutive, contents intact, every acked id not committed
         * is present */
        spool *s = open_dir(&loop, dir, 0, 4096);
        CHECK(s != NULL);
        if (!s) break;
        spool_reader *r;
        spool_reader_new(s, &r);
        spool_rec rec;
        uint64_t prev = 0, first = 0, n = 0, bad = 0;
        while (spool_read(r, &rec) == 1) {
            spool_buf f[2];
            size_t nf = 0;
            uint64_t id;
            char want[300];
            size_t wl;
            if (spool_unpack(rec.data, rec.len, f, 2, &nf) || nf != 2 || f[0].len != 8) {
                bad++;
                continue;
            }
            memcpy(&id, f[0].data, 8);
            filler(want, id, &wl);
            if (f[1].len != wl || memcmp(f[1].data, want, wl) != 0) bad++;
            if (n == 0)
                first = id;
            else if (id != prev + 1)
                bad++;
            prev = id;
            n++;
        }
        spool_reader_free(r);
        spool_stats st;
        spool_get_stats(s, &st);
        /* recovered ids are consecutive, so "present" means within [first, prev] */
        uint64_t missing = 0, lo = any_commit ? max_commit + 1 : 0;
        for (uint64_t id = lo; id <= max_acked; id++) {
            bool a = acked[id / 8] & (1u << (id % 8));
            if (a && !(n && id >= first && id <= prev)) missing++;
        }
        printf("crash round %d (seed %u): killed after %d ms, %" PRIu64 " acked so far, "
               "recovered %" PRIu64 " records [%" PRIu64 "..%" PRIu64 "], torn %" PRIu64 "\n",
               round, seed, kill_ms, total_acked, n, first, prev, st.torn_segments);
        CHECK_INT(bad, 0);
        CHECK_INT(missing, 0);
        /* a segment file cut during its creation by the kill counts as torn too */
        CHECK(st.torn_segments >= (junk ? 1u : 0u) && st.torn_segments <= 2);
        CHECK(n == 0 || !any_commit || first <= max_commit + 1);
        if (n && prev + 1 > next_first) next_first = prev + 1;
        if (total_acked && max_acked + 1 > next_first) next_first = max_acked + 1;
        close_spool(&loop, s);
    }
    CHECK(total_acked > 0);
    uv_loop_close(&loop);
    free(acked);
}

int main(void)
{
    char root[64];
    if (!mktmp(root, sizeof root)) {
        perror("mkdtemp");
        return 1;
    }
    test_pack();
    test_append_durable(root);
    test_batching(root);
    test_reopen_rotation_commit(root);
    test_tiny_segments(root);
    test_full(root);
    test_torn(root);
    test_lock(root);
    test_disk_full(root);
    test_crash(root); /* last: forks after the thread pool has run */
    rm_rf(root);
    return check_done();
}
