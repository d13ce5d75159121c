/* node.c: a node directory's paths, configuration and keys. See node.h. */
#include "node.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "hubrot.h"

int node_new(struct node **ret, const char *dir)
{
        struct node *n = calloc(1, sizeof(*n));

        if (!n)
                return -ENOMEM;
        node_config_defaults(&n->cfg);
        n->dir = strdup(dir);
        n->conf_path = util_path(dir, "node.conf");
        n->keys_dir = util_path(dir, "keys");
        n->member_key_path = util_path(dir, "keys/member.key");
        n->member_key_next_path = util_path(dir, "keys/member.key.next");
        n->member_pub_path = util_path(dir, "keys/member.pub");
        n->hub_pub_path = util_path(dir, "keys/hub.pub");
        n->hub_prev_path = util_path(dir, "keys/hub-previous.pub");
        n->hub_ann_path = util_path(dir, "keys/hub-announcement");
        n->outbox_path = util_path(dir, "outbox");
        if (!n->dir || !n->conf_path || !n->keys_dir || !n->member_key_path ||
            !n->member_key_next_path || !n->member_pub_path || !n->hub_pub_path ||
            !n->hub_prev_path || !n->hub_ann_path || !n->outbox_path) {
                node_free(n);
                return -ENOMEM;
        }
        *ret = n;
        return 0;
}

int node_load(struct node *n, unsigned int flags, char *err, size_t errlen)
{
        int r;

        if (flags & NODE_LOAD_CONFIG) {
                r = node_config_load(&n->cfg, n->conf_path, err, errlen);
                if (r < 0)
                        return r;
        }
        if (flags & NODE_LOAD_KEYS) {
                keys_free(n->member);
                n->member = NULL;
                /* A protected key asks NMO_PASSPHRASE_FILE, a systemd credential or
                 * the terminal for its passphrase. */
                r = keys_load_secret_auto(&n->member, n->member_key_path, NULL, err, errlen);
                if (r < 0)
                        return r;
                if (n->member->pub.role != KEYS_ROLE_MEMBER) {
                        snprintf(err, errlen, "%s: not a member key file", n->member_key_path);
                        return -EINVAL;
                }
        }
        if (flags & (NODE_LOAD_KEYS | NODE_LOAD_HUB)) {
                r = keys_load_public(&n->hub, n->hub_pub_path, err, errlen);
                if (r < 0)
                        return r;
                if (n->hub.role != KEYS_ROLE_HUB) {
                        snprintf(err, errlen, "%s: not a hub public bundle", n->hub_pub_path);
                        return -EINVAL;
                }
                /* Finishes an adoption of new hub keys that was interrupted,
                 * and forgets the retired ones once the overlap ended. */
                r = hubrot_load(n, (flags & NODE_LOAD_KEYS) != 0, err, errlen);
                if (r < 0)
                        return r;
        }
        return 0;
}

void node_free(struct node *n)
{
        if (!n)
                return;
        keys_free(n->member);
        free(n->dir);
        free(n->conf_path);
        free(n->keys_dir);
        free(n->member_key_path);
        free(n->member_key_next_path);
        free(n->member_pub_path);
        free(n->hub_pub_path);
        free(n->hub_prev_path);
        free(n->hub_ann_path);
        free(n->outbox_path);
        free(n);
}

int node_rotation_pending(const struct node *n)
{
        struct stat st;

        if (lstat(n->member_key_next_path, &st) == 0)
                return 1;
        return errno == ENOENT ? 0 : -errno;
}

int node_agent_endpoint(const struct node *n, char **ret)
{
        struct sockaddr_un sa;
        char abs[PATH_MAX];
        char *ep = NULL;

        if (!realpath(n->dir, abs))
                return -errno;
        if (strlen(abs) + strlen("/agent.sock") >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        if (asprintf(&ep, "ipc://%s/agent.sock", abs) < 0)
                return -ENOMEM;
        *ret = ep;
        return 0;
}
