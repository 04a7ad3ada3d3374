/* cli_schematest.c - TEMPORARY stub; replaced by the schema-test runner. */
#include "cli.h"

#include <stdio.h>

int cli_schema_test(int argc, char **argv)
{
    fprintf(stderr, "sluice schema-test: not implemented yet\n");
    return 2;
}
