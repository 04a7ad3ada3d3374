/* cli.h - the `sluice` subcommands that need no network: each takes the arguments after its own
 * name (argv[0] is the subcommand name) and returns the process exit code
 * (0 ok, 1 violations/lint errors/test failures, 2 usage or plan error). */
#ifndef SL_CLI_H
#define SL_CLI_H

#include "plan.h"

int cli_check(int argc, char **argv);
int cli_lint(int argc, char **argv);
int cli_diff(int argc, char **argv);
int cli_compile(int argc, char **argv);
int cli_schema_test(int argc, char **argv);
int cli_import(int argc, char **argv);

/* Loads a plan for a subcommand: diagnostics (and the reason it failed) printed to stderr as
 * "file:line:col: ..."; NULL when it has errors. */
plan *cli_load_plan(const char *path);

#endif
