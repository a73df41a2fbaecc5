/*
 * Usage texts of the command line: `cloudroute help [COMMAND]`,
 * `COMMAND --help`, and the summary printed on usage errors.
 */
#ifndef AG_USAGE_H
#define AG_USAGE_H

#include <stdio.h>

/* The summary of every command. */
void usage_all(FILE *f);
/* The usage of one command: 0, or -1 when there is no such command. */
int usage_command(FILE *f, const char *cmd);

#endif
