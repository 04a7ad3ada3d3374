/* test_config.c - `sluice serve` settings: defaults, file, environment, flags and precedence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static int load(serve_config *c, char **argv, char **env, char *err)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    FILE *devnull = fopen("/dev/null", "w");
    int rc = config_load(c, argc, argv, env, devnull, err, 256);
    fclose(devnull);
    return rc;
}

int main(void)
{
    char err[256];
    serve_config c;
    char *noenv[] = {NULL};

    /* sizes */
    size_t z = 0;
    CHECK_INT(config_parse_size("32k", &z), 0);
    CHECK_INT(z, 32768);
    CHECK_INT(config_parse_size("500KB", &z), 0);
    CHECK_INT(z, 512000);
    CHECK_INT(config_parse_size("2m", &z), 0);
    CHECK_INT(z, 2 * 1024 * 1024);
    CHECK_INT(config_parse_size("2500", &z), 0);
    CHECK_INT(z, 2500);
    CHECK_INT(config_parse_size("-1", &z), SL_EUSAGE);
    CHECK_INT(config_parse_size("12q", &z), SL_EUSAGE);
    CHECK_INT(config_parse_size("", &z), SL_EUSAGE);

    /* host:port */
    char *host = NULL;
    int port = 0;
    CHECK_INT(config_parse_hostport("127.0.0.1:8088", &host, &port), 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK_INT(port, 8088);
    free(host);
    CHECK_INT(config_parse_hostport("[::1]:90", &host, &port), 0);
    CHECK_STR(host, "::1");
    CHECK_INT(port, 90);
    free(host);
    CHECK_INT(config_parse_hostport(":7000", &host, &port), 0);
    CHECK_STR(host, "0.0.0.0");
    free(host);
    CHECK_INT(config_parse_hostport("nohost", &host, &port), SL_EUSAGE);
    CHECK_INT(config_parse_hostport("h:99999", &host, &port), SL_EUSAGE);

    /* defaults */
    char *a1[] = {"serve", "--plan", "p.yaml", NULL};
    CHECK_INT(load(&c, a1, noenv, err), 0);
    CHECK_STR(c.plan_path, "p.yaml");
    CHECK_INT(c.max_event_bytes, 32 * 1024);
    CHECK_INT(c.max_batch_bytes, 500 * 1024);
    CHECK_INT(c.max_batch_events, 2500);
    CHECK_INT(c.listen_port, 8088);
    CHECK(c.redis_url == NULL);
    CHECK_INT(c.write_keys.n, 0);
    CHECK_INT(c.cors_origins.n, 1);
    CHECK_STR(c.cors_origins.v[0], "*");
    CHECK_STR(c.events_key, "sluice:events");
    config_cleanup(&c);

    /* missing --plan, unknown flag, bad value */
    char *a2[] = {"serve", NULL};
    CHECK_INT(load(&c, a2, noenv, err), SL_EUSAGE);
    CHECK(strstr(err, "--plan") != NULL);
    config_cleanup(&c);
    char *a3[] = {"serve", "--plan", "p", "--nope", "1", NULL};
    CHECK_INT(load(&c, a3, noenv, err), SL_EUSAGE);
    CHECK(strstr(err, "--nope") != NULL);
    config_cleanup(&c);
    char *a4[] = {"serve", "--plan", "p", "--max-event-bytes", "lots", NULL};
    CHECK_INT(load(&c, a4, noenv, err), SL_EUSAGE);
    CHECK(strstr(err, "max-event-bytes") != NULL);
    config_cleanup(&c);
    char *a5[] = {"serve", "--help", NULL};
    CHECK_INT(load(&c, a5, noenv, err), 1);
    config_cleanup(&c);

    /* file < env < flags; lists: repeated flags append, a later source replaces */
    char path[] = "/tmp/sluice-test-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\nplan = from-file.yaml\nlisten: 127.0.0.1:9000\nmax_event_bytes = 1k\n"
          "write_key = a, b\nworkers = 3\ncors_origin = \"https://x.example\"\n",
          f);
    fclose(f);
    char *env1[] = {"SLUICE_WORKERS=5", "SLUICE_SHARED_DIR=/ignored", NULL};
    char *a6[] = {"serve", "--config", path, "--write-key", "k1", "--write-key=k2", NULL};
    CHECK_INT(load(&c, a6, env1, err), 0);
    CHECK_STR(c.plan_path, "from-file.yaml");
    CHECK_INT(c.listen_port, 9000);
    CHECK_INT(c.max_event_bytes, 1024);
    CHECK_INT(c.workers, 5);
    CHECK_INT(c.write_keys.n, 2);
    if (c.write_keys.n == 2) {
        CHECK_STR(c.write_keys.v[0], "k1");
        CHECK_STR(c.write_keys.v[1], "k2");
    }
    CHECK_INT(c.cors_origins.n, 1);
    CHECK_STR(c.cors_origins.v[0], "https://x.example");
    config_cleanup(&c);

    char *env2[] = {"SLUICE_CONFIG=/nonexistent/sluice.conf", NULL};
    char *a7[] = {"serve", "--plan", "p", NULL};
    CHECK_INT(load(&c, a7, env2, err), SL_EIO);
    CHECK(strstr(err, "/nonexistent/sluice.conf") != NULL);
    config_cleanup(&c);

    f = fopen(path, "w");
    fputs("plan = x\nbogus_key = 1\n", f);
    fclose(f);
    char *a8[] = {"serve", "--config", path, NULL};
    CHECK_INT(load(&c, a8, noenv, err), SL_EUSAGE);
    CHECK(strstr(err, ":2:") != NULL && strstr(err, "bogus_key") != NULL);
    config_cleanup(&c);
    unlink(path);

    char *env3[] = {"SLUICE_WRITE_KEY=e1,e2", "SLUICE_PLAN=env.yaml", NULL};
    char *a9[] = {"serve", NULL};
    CHECK_INT(load(&c, a9, env3, err), 0);
    CHECK_STR(c.plan_path, "env.yaml");
    CHECK_INT(c.write_keys.n, 2);
    config_cleanup(&c);
    return check_done();
}
