/* cli.h: what the nmo-hub subcommands share: usage errors, --dir, opening the
 * private store with a clear message. Exit codes: 0 success, 1 failure, 2 usage. */
#pragma once

#include <stdbool.h>

#include "store.h"

#define HUB_EXIT_OK 0
#define HUB_EXIT_FAIL 1
#define HUB_EXIT_USAGE 2

/* Prints "nmo-hub CMD: msg" and the --help hint to stderr; returns 2. */
int hub_cli_usage(const char *cmd, const char *msg);

/* Opens the private store of dir, printing why not on failure. */
NMO_WUR int hub_cli_open_store(const char *dir, bool readonly, struct hub_store **st);

int hub_cmd_init(int argc, char **argv);
int hub_cmd_serve(int argc, char **argv);
int hub_cmd_member(int argc, char **argv);
int hub_cmd_stats(int argc, char **argv);
int hub_cmd_rotate(int argc, char **argv);
