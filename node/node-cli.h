/* node-cli.h: what the nmo-node commands share beyond the conventions of
 * every program (common/cli.h): the disk-full exit code and building their
 * --json output.
 *
 * Exit codes: 0 success, 1 failure (one line on stderr saying what and which
 * file or option), 2 usage error (and a hint to --help), 3 disk full (submit). */
#pragma once

#include <stdbool.h>

#include "cli.h"
#include "util.h"

struct json_object;

/* The disk holding the node directory is full (submit: nothing queued). */
#define NODE_EXIT_DISK_FULL 3

/* Adds val to the JSON object obj under key, taking ownership of val (freed on
 * failure). A NULL val is an allocation failure unless nullable, when it adds
 * a JSON null. Returns 0 or -ENOMEM. */
NMO_WUR int node_cli_json_add(struct json_object *obj, const char *key, struct json_object *val,
                              bool nullable);
