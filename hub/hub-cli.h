/* hub-cli.h: what the nmo-hub commands share beyond the conventions of every
 * program (common/cli.h: usage errors, help, exit codes 0 success, 1 failure,
 * 2 usage): the hub directory's lock and opening the private store with a
 * clear message. One file per command: cmd-NAME.c. */
#pragma once

#include <stdbool.h>

#include "cli.h"
#include "store.h"

/* Name of the lock file in a hub directory that `serve` holds for its life
 * (common/dirlock.h). */
#define HUB_LOCK_FILE "hub.lock"

/* Takes the hub directory's lock for command cmd ("serve", "init",
 * "rotate-keys"), which writes what a running hub uses. When a hub runs on dir
 * prints "nmo-hub CMD: a hub is running on DIR (pid N); ..." and returns
 * -EBUSY; other failures are printed too. On success *fd holds the lock;
 * release it with dirlock_release(). */
NMO_WUR int hub_cli_lock(const char *dir, const char *cmd, int *fd);

/* Opens the private store of dir, printing why not on failure. */
NMO_WUR int hub_cli_open_store(const char *dir, bool readonly, struct hub_store **st);

int hub_cmd_init(int argc, char **argv);
int hub_cmd_serve(int argc, char **argv);
int hub_cmd_member(int argc, char **argv);
int hub_cmd_stats(int argc, char **argv);
int hub_cmd_rotate(int argc, char **argv);
