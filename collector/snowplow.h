/* snowplow.h - Snowplow's tracker protocol in, Sluice events out, and its checks.
 *
 * A Snowplow request (POST /com.snowplowanalytics.snowplow/tp2 with a payload_data JSON, or GET
 * /i and /ice.png with one event in the query string) becomes a Segment-shaped batch,
 * {"batch":[...]}, that ingest_run reads like any other: one event per tracker event, so the
 * streams, the spool, reports and alerts need nothing of their own. Each event keeps what the
 * tracker sent under "snowplow" (the raw parameters, every one a string, and the decoded
 * self-describing event and contexts); docs/HTTP-API.md documents the form.
 * sp_check is the plan check for such events: the tracker protocol itself, page views and
 * structured events by the plan like page and track calls, and every self-describing JSON (the
 * event, each context) against the plan's Iglu schemas.
 * An sp_decoder is single-threaded scratch (one per worker), reused across requests; what it
 * returns borrows from it until its next call. */
#ifndef SL_SNOWPLOW_H
#define SL_SNOWPLOW_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "plan.h"
#include "vio.h"

typedef struct sp_decoder sp_decoder;

/* NULL on out-of-memory. */
sp_decoder *sp_decoder_new(void);
void sp_decoder_free(sp_decoder *d);

/* Options of one request. */
typedef struct {
    bool anonymous;         /* SP-Anonymous: keep no IP address and no network user id */
    const char *client_ip;  /* NUL-terminated; NULL when none is kept */
    const char *user_agent; /* NUL-terminated or NULL: used when the event has no `ua` */
    const char *session;    /* X-Sluice-Session: recorded as context.sluice.session; or NULL */
} sp_options;

/* A tp2 body (payload_data: {"schema":"iglu:...payload_data/jsonschema/1-0-4","data":[{...},...]})
 * into a batch body. Returns 0 with *out and *outlen (borrowed from d), SL_ESYNTAX with a message
 * saying what and where in err, or SL_ENOMEM. */
int sp_translate_post(sp_decoder *d, const char *body, size_t n, const sp_options *o,
                      const char **out, size_t *outlen, char *err, size_t errcap);

/* A GET query string (without '?', percent-encoded) into a batch body of one event. Same
 * returns as sp_translate_post. */
int sp_translate_get(sp_decoder *d, const char *q, size_t n, const sp_options *o, const char **out,
                     size_t *outlen, char *err, size_t errcap);

/* Checks one translated event (an element of the batch above, as ingest parsed it). Resets out;
 * returns the number of errors (warnings excluded), or a negative SL_E* code. */
int sp_check(const plan *p, const cJSON *event, plan_ctx *ctx, vio_list *out);

#endif
