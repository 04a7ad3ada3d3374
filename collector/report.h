/* report.h - `sluice report` (the grouped violation report read back from Redis, as a table or
 * JSON) and `sluice tail` (the live feed of invalid events from the agg's pub/sub channel).
 *
 * Both are blocking CLI tools built on agg.h: they keep no global state, write results to the
 * FILE they are given and diagnostics to stderr. The report JSON and the feed's message format
 * are in docs/REPORTS.md. */
#ifndef SL_REPORT_H
#define SL_REPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

/* argv[0] is "report" / "tail". Return the process exit code: 0 ok, 1 runtime failure (Redis
 * unreachable; tail: --count not reached before --timeout), 2 usage. */
int report_main(int argc, char **argv);
int tail_main(int argc, char **argv);

/* Parses a time for --since/--until: a duration back from now ("90s", "15m", "1h", "2d", "1w"),
 * unix seconds ("1700000000"), or ISO-8601 UTC/offset ("2024-05-01", "2024-05-01T10:00",
 * "2024-05-01T10:00:00Z", "...+02:00"). Returns 0 or SL_EUSAGE. */
int report_parse_time(const char *s, time_t now, time_t *out);

/* Prints an agg_report result: json = the JSON itself (pretty), else the table. Returns 0. */
int report_print(const cJSON *report, bool json, FILE *out);

/* Connects to a redis:// URL (sink_parse_url syntax) with AUTH/SELECT, connect and read timeout
 * timeout_ms. Returns 0 and *out (caller frees with redisFree) or SL_EUSAGE (bad URL) / SL_EIO,
 * with a message in err. */
int report_connect(const char *url, unsigned timeout_ms, redisContext **out, char *err,
                   size_t errlen);

typedef struct {
    const char *redis_url;                   /* default redis://127.0.0.1:6379 */
    const char *channel;                     /* default AGG_DEFAULT_CHANNEL */
    const char *event, *write_key, *session; /* filters; NULL = any */
    bool json;  /* print each matching message as one JSON line, else one line per violation */
    long count; /* stop after this many matching messages; 0 = no limit */
    unsigned timeout_s; /* stop after this long; 0 = never */
} tail_opts;

/* True when the feed message passes o's filters. */
bool tail_match(const cJSON *msg, const tail_opts *o);
/* SUBSCRIBEs and prints matching messages to out until count/timeout (reconnects every second
 * while Redis is unreachable). Returns the exit code (see tail_main). */
int tail_run(const tail_opts *o, FILE *out);

#endif
