/*
 * cloudroute: turns this host into a VPN connector (host routing, the
 * WireGuard-protocol tunnel, and cloud route tables).  main() parses the
 * command line and dispatches; the commands live in cmd.c, daemon.c and
 * doctor.c, their usage texts in usage.c.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "agent/cloudproc.h"
#include "agent/agent.h"
#include "agent/usage.h"
#include "dataplane/noise.h"

static int
cmd_genkey(void)
{
	uint8_t k[32];
	char b64[45];

	if (noise_global_init() < 0 || dp_genkey(k) < 0) {
		fprintf(stderr, "cloudroute: cannot generate a key\n");
		return EXIT_RUNTIME;
	}
	if (isatty(STDOUT_FILENO))
		fprintf(stderr, "Warning: writing a private key to a terminal\n");
	dp_key_to_base64(b64, k);
	printf("%s\n", b64);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(b64, sizeof(b64));
	return EXIT_OK;
}

static int
cmd_pubkey(void)
{
	char in[128], b64[45];
	uint8_t k[32], pub[32];
	size_t n;
	int r = EXIT_RUNTIME;

	n = fread(in, 1, sizeof(in) - 1, stdin);
	in[n] = '\0';
	while (n > 0 && isspace((unsigned char)in[n - 1]))
		in[--n] = '\0';
	if (noise_global_init() < 0 || dp_key_from_base64(k, in) < 0) {
		fprintf(stderr, "cloudroute: pubkey: key is not the correct length or format\n");
		goto out;
	}
	if (dp_pubkey(pub, k) < 0) {
		fprintf(stderr, "cloudroute: pubkey: cannot derive the public key\n");
		goto out;
	}
	dp_key_to_base64(b64, pub);
	printf("%s\n", b64);
	r = EXIT_OK;
out:
	OPENSSL_cleanse(in, sizeof(in));
	OPENSSL_cleanse(k, sizeof(k));
	return r;
}

/* The first argument that is not an option (or the value of -c). */
static const char *
first_command(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			i++;
			continue;
		}
		if (argv[i][0] != '-')
			return argv[i];
	}
	return NULL;
}

/* `help [COMMAND]` and `COMMAND --help`: 0, or EXIT_USAGE for an unknown
 * command. */
static int
help(const char *cmd)
{
	if (cmd == NULL) {
		usage_all(stdout);
		return EXIT_OK;
	}
	if (usage_command(stdout, cmd) == 0)
		return EXIT_OK;
	fprintf(stderr, "cloudroute: unknown command \"%s\"\n", cmd);
	usage_all(stderr);
	return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .config = NULL };
	const char *cmd = NULL, *arg = NULL;
	int c, i, want_help = 0;

	/* The daemon's cloud process (agent/cloudproc.h), never typed by hand. */
	if (argc >= 2 && strcmp(argv[1], CP_ARG) == 0)
		return cloudproc_child_main(argc, argv);
	/* `client` has options of its own (--full-tunnel, --endpoint, ...). */
	if ((cmd = first_command(argc, argv)) != NULL && strcmp(cmd, "client") == 0)
		return cmd_client(argc, argv);
	cmd = NULL;
	/* Options may stand before or after the command ("plan -v", "status --json"). */
	while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o.config = optarg; break;
		case 'v': o.verbose++; break;
		case 'j': o.json = 1; break;
		case 's': o.state_dir = optarg; break;
		case 'h': want_help = 1; break;
		case 'V': cmd = "version"; break;
		default: usage_all(stderr); return EXIT_USAGE;
		}
	}
	for (i = optind; i < argc; i++) {
		/* Only `help` takes an argument (the command to explain). */
		if (cmd != NULL && arg == NULL && strcmp(cmd, "help") == 0) {
			arg = argv[i];
			continue;
		}
		if (cmd != NULL) {
			fprintf(stderr, "cloudroute: unexpected argument \"%s\"\n", argv[i]);
			usage_all(stderr);
			return EXIT_USAGE;
		}
		cmd = argv[i];
	}
	if (cmd != NULL && strcmp(cmd, "help") == 0)
		return help(arg != NULL ? arg : want_help ? "help" : NULL);
	if (want_help)
		return help(cmd);
	if (cmd == NULL) {
		usage_all(stderr);
		return EXIT_USAGE;
	}
	if (o.config == NULL)
		o.config = getenv("CLOUDROUTE_CONFIG");
	if (o.config == NULL || *o.config == '\0')
		o.config = CFG_DEFAULT_PATH;
	log_init(1, o.verbose, "cloudroute");

	if (strcmp(cmd, "version") == 0) {
		printf("cloudroute %s\n", CLOUDROUTE_VERSION);
		return EXIT_OK;
	}
	if (strcmp(cmd, "genkey") == 0)
		return cmd_genkey();
	if (strcmp(cmd, "pubkey") == 0)
		return cmd_pubkey();
	if (noise_global_init() < 0) {
		fprintf(stderr, "cloudroute: OpenSSL lacks BLAKE2s/X25519/ChaCha20-Poly1305\n");
		return EXIT_RUNTIME;
	}
	if (strcmp(cmd, "check") == 0)
		return cmd_check(&o);
	if (strcmp(cmd, "plan") == 0)
		return cmd_plan(&o);
	if (strcmp(cmd, "apply") == 0)
		return cmd_apply(&o);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(&o);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(&o);
	if (strcmp(cmd, "teardown") == 0)
		return cmd_teardown(&o);
	if (strcmp(cmd, "doctor") == 0)
		return cmd_doctor(&o);
	fprintf(stderr, "cloudroute: unknown command \"%s\"\n", cmd);
	usage_all(stderr);
	return EXIT_USAGE;
}
