/* main.c - the `sluice` binary: dispatches subcommands (placeholder until the CLI lands). */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "sluice: not built yet\n");
    return 2;
}
