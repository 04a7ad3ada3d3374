/* cli.c - `sluice check`, `lint`, `compile` (placeholders until the plan compiler lands). */
#include "cli.h"

#include <stdio.h>

int cli_check(int argc, char **argv)
{
    fprintf(stderr, "sluice check: not implemented yet\n");
    return 2;
}
int cli_lint(int argc, char **argv)
{
    fprintf(stderr, "sluice lint: not implemented yet\n");
    return 2;
}
int cli_compile(int argc, char **argv)
{
    fprintf(stderr, "sluice compile: not implemented yet\n");
    return 2;
}
