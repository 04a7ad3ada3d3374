/* report.h - prints the results of a sluice-load run: a human table or one JSON object.
 *
 * Latencies are printed in milliseconds; throughputs are over the measured window
 * (engine_stats.elapsed_s). The report only reads what it is given. */
#ifndef LT_REPORT_H
#define LT_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "engine.h"

/* What the run was asked to do, echoed in the report. Strings are borrowed. */
typedef struct {
    const char *url;
    const char *mode; /* "open", "closed" or "idle" */
    double rate, duration_s, warmup_s;
    unsigned connections, pipeline, idle, batch;
    double invalid;
    bool gzip;
    const char *path;      /* forced path or NULL */
    const char *body_file; /* or NULL */
    double mean_event_bytes;
    unsigned long long seed;
} report_run;

void report_human(FILE *f, const report_run *run, const engine_stats *st);
/* Returns 0 or LT_ENOMEM. */
int report_json(FILE *f, const report_run *run, const engine_stats *st);

#endif
