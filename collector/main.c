/* main.c - the `sluice` binary: one executable, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "cli.h"
#ifdef SLUICE_HAVE_COLLECTOR
#include "report.h"
#include "serve.h"
#endif

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif

static void usage(FILE *out)
{
    fputs("usage: sluice <command> [options]\n"
          "\n"
          "Event collector and tracking-plan validator (Segment-compatible).\n"
          "\n"
          "commands:\n"
          "  serve        run the HTTP collector (validates, buffers into Redis Streams)\n"
          "  report       grouped violation report from Redis (table or JSON)\n"
          "  tail         live feed of invalid events (Redis pub/sub)\n"
          "  check        validate events (NDJSON, JSON array or batch) against a plan\n"
          "  lint         report plan errors and style warnings with file:line:col\n"
          "  diff         what changed between two plans, and what of it breaks tracking\n"
          "  compile      compile a plan: --dump the program, --emit json-schema\n"
          "  import       a Segment, RudderStack, Iglu or JSON Schema plan as a Sluice plan\n"
          "  schema-test  run JSON-Schema-Test-Suite files through the engine\n"
          "\n"
          "Run `sluice <command> --help` for a command's options.\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    arena_cjson_install(); /* cJSON allocates from per-thread arenas where one is set */
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("sluice %s\n", SLUICE_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "check")) return cli_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "lint")) return cli_lint(argc - 1, argv + 1);
    if (!strcmp(cmd, "diff")) return cli_diff(argc - 1, argv + 1);
    if (!strcmp(cmd, "compile")) return cli_compile(argc - 1, argv + 1);
    if (!strcmp(cmd, "schema-test")) return cli_schema_test(argc - 1, argv + 1);
    if (!strcmp(cmd, "import")) return cli_import(argc - 1, argv + 1);
#ifdef SLUICE_HAVE_COLLECTOR
    if (!strcmp(cmd, "serve")) return serve_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "report")) return report_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "tail")) return tail_main(argc - 1, argv + 1);
#else
    if (!strcmp(cmd, "serve")) {
        fprintf(stderr, "sluice: this build has no collector (libuv/hiredis/llhttp missing)\n");
        return 2;
    }
#endif
    fprintf(stderr, "sluice: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
