/* micro.h - a Snowplow-Micro-style QA API: the last N checked events, kept in memory.
 *
 * What a QA job runs against Snowplow Micro, beside Sluice's own reports, over whatever protocol
 * the events came in (Segment, RudderStack, Snowplow): GET|POST /micro/all ({total, good, bad}),
 * /micro/good (filters event_type, schema, contexts, limit), /micro/bad (filters vendor, name,
 * limit), /micro/reset. Every route takes `session` (query or JSON body) to see only the events
 * of one test session: those whose context.sluice.session is that string.
 * One micro object is shared by all workers (a mutex guards it); it holds at most `max` events,
 * the oldest go first. Off unless --micro N is given: nothing here runs per event otherwise. */
#ifndef SL_MICRO_H
#define SL_MICRO_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "vio.h"

typedef struct micro micro;

/* Keeps at most max events; NULL on out-of-memory. */
micro *micro_new(size_t max);
void micro_free(micro *m);

/* Records one checked event: its parsed tree (borrowed), violations, their JSON (or NULL) and
 * its stored bytes. Copies what it keeps; drops the event on out-of-memory. Thread-safe. */
void micro_note(micro *m, const cJSON *event, const vio_list *vl, const char *vjson,
                const char *json, size_t len);

/* Answers a /micro/... request: route is the path after "/micro/" ("all", "good", "bad",
 * "reset"), query the raw query string, body the request body (a JSON object of filters, or
 * empty). Returns a malloc'd JSON body with *status set (200, 400 with a message, 404 for an
 * unknown route), or NULL on out-of-memory. Thread-safe. */
char *micro_answer(micro *m, const char *route, size_t route_len, const char *query,
                   size_t query_len, const char *body, size_t body_len, int *status);

#endif
