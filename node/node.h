/* node.h: a node directory (DIR) — where its files are, and loading its
 * configuration and keys for the commands that need them.
 *
 *   DIR/node.conf          configuration (node-config.h)
 *   DIR/keys/member.key    the member's secret keys (0600)
 *   DIR/keys/member.key.next  the new secret keys of an unfinished key rotation
 *                          (nmo-node rotate-keys); `run` refuses to start with it
 *   DIR/keys/member.pub    the member's public bundle, for the hub operator
 *   DIR/keys/hub.pub       the hub's public bundle
 *   DIR/keys/hub-previous.pub  after the hub rotated its keys (hubrot.h): the
 *                          retired bundle, kept until the overlap ends so that
 *                          receipts and alerts signed with it still verify
 *   DIR/keys/hub-announcement  the hub's verified announcement of its keys
 *   DIR/outbox/            the outbox (outbox.h)
 *   DIR/agent.sock         where a running agent listens for nudges */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "hubkey.h"
#include "node-config.h"
#include "keys.h"

struct node {
        char *dir;
        char *conf_path;
        char *keys_dir;
        char *member_key_path;
        char *member_key_next_path;
        char *member_pub_path;
        char *hub_pub_path;
        char *hub_prev_path;
        char *hub_ann_path;
        char *outbox_path;
        struct node_config cfg;         /* after NODE_LOAD_CONFIG */
        struct keys_secret *member;     /* after NODE_LOAD_KEYS (sodium_malloc) */
        struct keys_public hub;         /* after NODE_LOAD_KEYS */
        /* The hub's last key rotation this node adopted (hubrot.h), and
         * its retired keys while the overlap runs. */
        bool has_hub_ann;
        struct hubkey_announcement hub_ann;
        bool has_hub_prev;
        struct keys_public hub_prev;
};

enum node_load_flags {
        NODE_LOAD_CONFIG = 1U << 0,
        NODE_LOAD_KEYS = 1U << 1,
        /* The hub public bundle alone (NODE_LOAD_KEYS includes it). */
        NODE_LOAD_HUB = 1U << 2,
};

/* Builds the paths of directory dir (nothing is read). Free with node_free(). */
NMO_WUR int node_new(struct node **ret, const char *dir);

/* Loads what flags name: node.conf, the member secret keys, and the hub public
 * keys (the hub bundle must have role hub). On failure err holds one line
 * naming the file. */
NMO_WUR int node_load(struct node *n, unsigned int flags, char *err, size_t errlen);

/* Does DIR/keys/member.key.next exist, i.e. is a key rotation unfinished?
 * 1 yes, 0 no, or a negative errno when it cannot be told. */
NMO_WUR int node_rotation_pending(const struct node *n);

/* Wipes the secret keys and frees; accepts NULL. */
void node_free(struct node *n);

/* The agent's nudge endpoint, "ipc://" and the absolute path of DIR/agent.sock,
 * into a fresh string. -ENAMETOOLONG when the path does not fit a Unix socket
 * address; the agent then relies on its periodic re-scan. */
NMO_WUR int node_agent_endpoint(const struct node *n, char **ret);
