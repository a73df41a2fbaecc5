/*
 * The verbs of `cloudroute client` that live outside agent/client_cmd.c
 * (which parses the command line and holds add, show and remove).
 */
#ifndef AG_CLIENT_CMD_H
#define AG_CLIENT_CMD_H

#include "agent/config.h"

/* `client list [--json]` (agent/client_list.c): an exit status. */
int client_cmd_list(const struct config *cfg, int json);

#endif
