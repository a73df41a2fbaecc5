/*
 * The parts of `cloudroute client` in agent/client_list.c: the list verb,
 * and the fleet lookups that show and remove (agent/client_cmd.c, which
 * also parses the command line and holds add) use for another connector's
 * clients.
 */
#ifndef AG_CLIENT_CMD_H
#define AG_CLIENT_CMD_H

#include "agent/config.h"
#include "agent/fleet_clients.h"

/* `client list [--json]` (agent/client_list.c): an exit status. */
int client_cmd_list(const struct config *cfg, int json);
/*
 * With a fleet: another connector's client named name.  Reads the fleet
 * into t and v (free both, whatever the result) and points *fc at that
 * client's valid record.  0, -ENOENT when there is none (a record naming
 * us is none either: clients.json says what is ours), or the read's error
 * with its message in err.
 */
int client_cmd_fleet_find(const struct config *cfg, const char *name, struct fleet_clients *t,
    struct fleet_view *v, const struct fleet_client **fc, struct buf *err);
/* "no client NAME" for verb on stderr; with a fleet, whose it is if another
 * connector's. */
void client_cmd_not_here(const struct config *cfg, const char *verb, const char *name);

#endif
