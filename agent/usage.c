/*
 * Usage texts of the command line (DESIGN.md "Command line"; the long form
 * is cloudroute(8)).  One entry per command: the synopsis line, and what it
 * does with its exit codes.
 */
#include <string.h>

#include "agent/config.h"
#include "agent/usage.h"

struct usage {
	const char *name;
	const char *summary;     /* one line for the list */
	const char *synopsis;    /* after "usage: cloudroute " */
	const char *text;        /* the long help */
};

static const struct usage usages[] = {
	{ "check", "validate the configuration",
	  "[-c FILE] check",
	  "Validates the configuration file completely and prints \"configuration OK\".\n"
	  "Errors are printed as file:line:col: message.\n"
	  "exit: 0 valid, 78 configuration error\n" },
	{ "plan", "show what apply would change (exit 0 none, 2 pending, 1 error)",
	  "[-c FILE] [-v] plan [--json]",
	  "Prints what apply would change on host, tunnel and cloud, and conflicts.\n"
	  "Changes nothing.  -v also prints the effective configuration with every\n"
	  "default filled in.\n"
	  "exit: 0 nothing to change, 2 changes pending, 1 error, 78 configuration error\n" },
	{ "apply", "make it so once and exit",
	  "[-c FILE] [-v] apply",
	  "Applies the plan once and exits (cloud-init, CloudFormation, Terraform).\n"
	  "exit: 0 applied, 1 error, 78 configuration error\n" },
	{ "run", "daemon: apply, run the tunnel, keep reconciling",
	  "[-c FILE] [-v] run",
	  "The daemon: applies, runs the tunnel and reconciles every reconcile_interval\n"
	  "seconds and on link/address events.\n"
	  "SIGHUP reloads the configuration (a bad one is rejected, the old one kept);\n"
	  "SIGTERM exits and leaves host and cloud state in place.\n"
	  "exit: 0 stopped by a signal, 1 error, 78 configuration error\n" },
	{ "status", "what is applied, drift, tunnel peers, cloud routes, last errors",
	  "[-c FILE] [-v] status [--json]",
	  "Prints what is applied, drift, tunnel peers, cloud routes and the last errors.\n"
	  "exit: 0 in sync, 2 drift or changes pending, 1 last pass failed or error\n" },
	{ "teardown", "remove what cloudroute installed and restore sysctls",
	  "[-c FILE] [-v] teardown [--state-dir DIR]",
	  "Removes exactly what cloudroute installed on the host and in the cloud and\n"
	  "restores the sysctls it changed; works from state.json alone when the\n"
	  "configuration is gone or broken (--state-dir DIR names where it is).\n"
	  "exit: 0 done, 1 error\n" },
	{ "doctor", "diagnose known failure causes (exit 1 on problems)",
	  "[-c FILE] [-v] doctor",
	  "Diagnoses known failure causes: forwarding, rp_filter, nftables, other\n"
	  "firewalls dropping forwarded traffic (Docker, firewalld, ufw), interfaces,\n"
	  "keys, MTU, peers' handshakes, conntrack, cloud state.\n"
	  "exit: 0 no problem found, 1 a problem found\n" },
	{ "genkey", "print a new private key",
	  "genkey",
	  "Prints a new base64 private key (as `wg genkey`).\n"
	  "exit: 0, 1 error\n" },
	{ "pubkey", "read a private key on stdin, print its public key",
	  "pubkey < private.key",
	  "Reads a base64 private key on standard input and prints its public key\n"
	  "(as `wg pubkey`).\n"
	  "exit: 0, 1 not a key\n" },
	{ "client", "add | list | show | remove: remote users' profiles",
	  "[-c FILE] client add NAME [--full-tunnel] [--qr] [--endpoint HOST:PORT] "
	  "[--keep-key] [--json]\n"
	  "       cloudroute [-c FILE] client list | show NAME | remove NAME [--json]",
	  "Remote users: add allocates an overlay address, adds the peer live and prints\n"
	  "a wg-quick profile (--qr: as a terminal QR code) whose AllowedIPs are every\n"
	  "network reachable through this connector; list, show and remove.\n"
	  "exit: 0, 1 error, 64 usage, 78 configuration error\n" },
	{ "help", "usage of one command",
	  "help [COMMAND]",
	  "Prints the usage of COMMAND (also `cloudroute COMMAND --help`), or the list\n"
	  "of commands.  The manual: cloudroute(8), cloudroute.json(5).\n"
	  "exit: 0, 64 unknown command\n" },
	{ "version", "print the version",
	  "version",
	  "Prints the version (also `cloudroute --version`).\n" },
};

void
usage_all(FILE *f)
{
	size_t i;

	fprintf(f, "usage: cloudroute [-c FILE] [-v] COMMAND [--json]\ncommands:\n");
	for (i = 0; i < sizeof(usages) / sizeof(usages[0]); i++)
		fprintf(f, "  %-10s %s\n", usages[i].name, usages[i].summary);
	fprintf(f, "config: -c FILE, else $CLOUDROUTE_CONFIG, else " CFG_DEFAULT_PATH "\n"
	    "`cloudroute help COMMAND` for one command; man cloudroute\n");
}

int
usage_command(FILE *f, const char *cmd)
{
	size_t i;

	for (i = 0; i < sizeof(usages) / sizeof(usages[0]); i++) {
		if (strcmp(usages[i].name, cmd) != 0)
			continue;
		fprintf(f, "usage: cloudroute %s\n\n%s", usages[i].synopsis, usages[i].text);
		if (strcmp(cmd, "genkey") != 0 && strcmp(cmd, "pubkey") != 0 &&
		    strcmp(cmd, "help") != 0 && strcmp(cmd, "version") != 0)
			fprintf(f, "config: -c FILE, else $CLOUDROUTE_CONFIG, else "
			    CFG_DEFAULT_PATH "\n");
		return 0;
	}
	return -1;
}
