/* evgen.h - Segment e-commerce events for the load generator, modelled on specs/ecommerce.yaml.
 *
 * At evgen_new a pool of event templates is rendered once (track calls Order Completed, Product
 * Viewed, Product Added, Products Searched, Checkout Started; identify; page), half valid against
 * the plan and half carrying one deliberate violation each (a dropped required property, a wrong
 * type, an enum typo, a pattern or format miss, an extra property, an unplanned event name).
 * evgen_next then only copies templates into a request body and patches a unique messageId into
 * each event, so generating costs little next to the network. Events average about 600 bytes.
 *
 * messageIds are UUID-shaped: 72 random bits fixed per generator (fresh from getrandom, so two runs
 * never collide) and a 48-bit event sequence number 0, 1, 2, ... in the last group;
 * evgen_message_id(seq) gives the id of event `seq`, so a request only needs to remember its first
 * sequence number and event count. Everything else is deterministic for a given seed.
 * An evgen is single-threaded; it owns its templates and its zlib stream. */
#ifndef LT_EVGEN_H
#define LT_EVGEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sl_buf.h"

/* Segment calls a single-event request may carry; the bit (1 << call) selects it in calls_mask. */
typedef enum { EVGEN_TRACK, EVGEN_IDENTIFY, EVGEN_PAGE, EVGEN__CALLS } evgen_call;

typedef struct {
    uint64_t seed;
    double invalid;      /* fraction of events that violate the plan, 0..1 */
    unsigned batch;      /* 0 = one event per request (/v1/track, ...); B = {"batch":[B events]} */
    unsigned calls_mask; /* calls allowed in single-event requests; 0 = all */
    bool gzip;           /* gzip each body (Content-Encoding: gzip) */
    int gzip_level;      /* 1..9 */
    unsigned pool;       /* templates per event kind and validity; 0 = 64 */
} evgen_config;

/* What evgen_next produced. `path` is static: the Segment endpoint of the body. */
typedef struct {
    const char *path;
    uint64_t first_seq; /* messageIds of the body: first_seq .. first_seq + nevents - 1 */
    unsigned nevents;
    unsigned ninvalid; /* events that carry a deliberate violation */
    size_t raw_len;    /* body length before gzip */
} evgen_req;

typedef struct evgen evgen;

/* Renders the template pool. Returns 0 and *out, or LT_ENOMEM / LT_EZLIB / LT_EUSAGE. */
int evgen_new(const evgen_config *cfg, evgen **out);
void evgen_free(evgen *g);
/* Replaces the contents of `out` with the next request body (gzip'd when configured).
 * Returns 0, LT_ENOMEM or LT_EZLIB. */
int evgen_next(evgen *g, sl_buf *out, evgen_req *rq);
/* Writes the 36-character messageId of event `seq` and a NUL into id. */
void evgen_message_id(const evgen *g, uint64_t seq, char id[37]);
/* Writes `count` events as NDJSON (one event per line, invalid ones at the configured fraction),
 * consuming sequence numbers like evgen_next. Returns 0 or LT_EIO / LT_ENOMEM. */
int evgen_dump(evgen *g, FILE *f, uint64_t count);
/* Mean size in bytes of the events generated so far (of the templates before any). */
double evgen_mean_event_bytes(const evgen *g);

#endif
