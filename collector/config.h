/* config.h - settings of `sluice serve`: flags, a config file and SLUICE_* environment variables.
 *
 * One option table (config.c) feeds all three sources and the --help text, so a setting always has
 * the same name everywhere: flag --max-event-bytes, file key max_event_bytes, env
 * SLUICE_MAX_EVENT_BYTES. Precedence: defaults < config file < environment < flags. List options
 * (--write-key, --cors-origin, --trusted-proxy) repeat as flags and are comma-separated in the file
 * and the environment; a later source replaces an earlier source's list.
 * A serve_config owns every string it holds; free it with config_cleanup. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "sl_err.h"

#define CONFIG_MAX_DEPTH 1000 /* JSON scanning recurses once per level */

typedef struct {
    char **v;
    size_t n;
} config_list;

typedef struct {
    char *plan_path;
    char *listen;      /* HOST:PORT as given */
    char *listen_host; /* parsed from listen by config_finish */
    int listen_port;
    char *redis_url; /* NULL = start an embedded redis-server */
    char *redis_bin;
    char *data_dir;
    char *spool_dir;        /* NULL = data_dir/spool */
    size_t spool_max_bytes; /* per worker; 0 = no spool */
    char *events_key;
    char *invalid_key;
    long workers; /* 0 = number of cores */
    config_list write_keys;
    config_list cors_origins;
    config_list trusted_proxies;
    size_t max_event_bytes;
    size_t max_batch_bytes;
    size_t max_batch_events;
    size_t max_body_bytes; /* raw (possibly gzip) body bound */
    size_t max_header_bytes;
    size_t max_depth;
    size_t max_connections; /* per worker */
    size_t redis_max_inflight;
    long idle_timeout_ms;
    long header_timeout_ms; /* request line + headers, from the first byte (or accept) */
    long body_timeout_ms;   /* body grace after the headers ... */
    size_t min_body_rate;   /* ... plus content length / this (bytes/s) */
    long request_timeout_ms;
    double rate_limit;           /* events/s per write key; 0 = off */
    size_t rate_burst;           /* bucket size in events; 0 = max(rate, 1) */
    config_list rate_limit_keys; /* "KEY=N[/s]" overrides */
    long redis_timeout_ms;
    long redis_linger_us;
    long micro_max_events;      /* the /micro/ QA API; 0 = off */
    long report_window_s;       /* agg window; 0 = no aggregation */
    char *alerts_path;          /* NULL = default rules */
    config_list alert_webhooks; /* http:// URLs */
    long drain_timeout_ms;
    long retry_after_s;
    long backlog;
    char *config_file;
} serve_config;

/* Fills defaults, then reads --config FILE (or SLUICE_CONFIG), the environment and argv
 * (argv[0] is the subcommand name). Returns 0, 1 when --help was printed to `out`, or SL_EUSAGE /
 * SL_EIO with a one-line reason in err. env may be NULL (then `environ` is used). */
int config_load(serve_config *c, int argc, char **argv, char **env, FILE *out, char *err,
                size_t errlen);
/* Parses a "32k" / "500KB" / "1m" / "1024" size. Returns 0 or SL_EUSAGE. */
int config_parse_size(const char *s, size_t *out);
/* Parses a rate "100", "100/s" or "600/m" (per minute) into events per second. Returns 0 or
 * SL_EUSAGE. */
int config_parse_rate(const char *s, double *out);
/* Parses HOST:PORT (IPv6 as [::1]:8080); *host is malloc'd. Returns 0 or SL_EUSAGE. */
int config_parse_hostport(const char *s, char **host, int *port);
void config_print_help(FILE *out);
void config_cleanup(serve_config *c);

#endif
