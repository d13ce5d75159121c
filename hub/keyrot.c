/* keyrot.c: see keyrot.h. */
#include "keyrot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "log.h"
#include "server.h"

char *hub_keyrot_previous_path(const char *hub_dir)
{
        return util_path(hub_dir, "keys/hub-previous.key");
}

char *hub_keyrot_announcement_path(const char *hub_dir)
{
        return util_path(hub_dir, "keys/hub-announcement");
}

char *hub_keyrot_next_path(const char *hub_dir)
{
        return util_path(hub_dir, "keys/hub.key.next");
}

/* Makes renames, links and unlinks in the directory of path durable. */
static int sync_dir_of(const char *path)
{
        char *dir = strdup(path), *slash;
        int fd, r = 0;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash)
                *slash = '\0';
        fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                r = -errno;
        else if (fsync(fd) < 0)
                r = -errno;
        if (fd >= 0)
                close(fd);
        free(dir);
        return r;
}

static bool exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

/* Do a and b name the same file (a hard link)? */
static bool same_file(const char *a, const char *b)
{
        struct stat sa, sb;

        return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
               sa.st_ino == sb.st_ino;
}

/* Overwrites the secret key file path with zeros and removes it, unless it
 * is also live_path (a hard link): then only the name goes. */
static int destroy_key_file(const char *path, const char *live_path)
{
        uint8_t zero[512] = { 0 };
        struct stat st;
        int fd, r = 0;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!live_path || !same_file(path, live_path)) {
                fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return -errno;
                for (off_t off = 0; r == 0 && off < st.st_size; off += (off_t)sizeof(zero)) {
                        size_t n = (size_t)(st.st_size - off) < sizeof(zero)
                                           ? (size_t)(st.st_size - off) : sizeof(zero);
                        if (pwrite(fd, zero, n, off) != (ssize_t)n)
                                r = -errno;
                }
                if (r == 0 && fsync(fd) < 0)
                        r = -errno;
                close(fd);
                if (r < 0)
                        return r;
        }
        if (unlink(path) < 0)
                return -errno;
        return sync_dir_of(path);
}

/* Do the public halves match the announcement's keys (old: payload and sign;
 * new: all three)? */
static bool matches_old(const struct hubkey_announcement *a, const struct keys_public *pk)
{
        return sodium_memcmp(a->old_payload, pk->payload, KEYS_KEY_BYTES) == 0 &&
               sodium_memcmp(a->old_sign, pk->sign, KEYS_KEY_BYTES) == 0;
}

static bool matches_new(const struct hubkey_announcement *a, const struct keys_public *pk)
{
        return sodium_memcmp(a->new_transport, pk->transport, KEYS_KEY_BYTES) == 0 &&
               sodium_memcmp(a->new_payload, pk->payload, KEYS_KEY_BYTES) == 0 &&
               sodium_memcmp(a->new_sign, pk->sign, KEYS_KEY_BYTES) == 0;
}

/* Reads and checks the announcement file; -ENOENT when there is none. */
static int read_announcement(const char *path, uint8_t **ann, size_t *len,
                             struct hubkey_announcement *a)
{
        char *data = NULL;
        size_t n = 0;
        int r;

        r = util_read_file(path, HUBKEY_ANNOUNCEMENT_MAX, &data, &n);
        if (r < 0)
                return r == -EFBIG ? -EBADMSG : r;
        r = hubkey_decode((const uint8_t *)data, n, a);
        /* Both signatures, as a node checks them: a damaged file shows here. */
        if (r == 0)
                r = hubkey_verify((const uint8_t *)data, n, a->old_sign, a);
        if (r < 0) {
                free(data);
                return r == -EKEYREJECTED ? -EBADMSG : r;
        }
        *ann = (uint8_t *)data;
        *len = n;
        return 0;
}

void hub_keyrot_free(struct hub_keyrot *kr)
{
        if (!kr)
                return;
        keys_free(kr->prev);
        free(kr->ann);
        free(kr);
}

int hub_keyrot_retire(struct hub_keyrot *kr, const char *hub_dir)
{
        char *prev = hub_keyrot_previous_path(hub_dir), *cur = hub_secret_key_path(hub_dir);
        int r = -ENOMEM;

        if (prev && cur)
                r = destroy_key_file(prev, cur);
        if (kr && r == 0) {
                keys_free(kr->prev);
                kr->prev = NULL;
        }
        free(prev);
        free(cur);
        return r;
}

int hub_keyrot_load(struct hub_keyrot **ret, const char *hub_dir, const struct keys_secret *cur,
                    struct keys_unlock *u,
                    uint64_t now_ms, char *err, size_t errlen)
{
        struct hub_keyrot *kr = calloc(1, sizeof(*kr));
        char *next = hub_keyrot_next_path(hub_dir), *ann = hub_keyrot_announcement_path(hub_dir);
        char *prev = hub_keyrot_previous_path(hub_dir);
        char when[32], lerr[512];
        int r = -ENOMEM;

        if (!kr || !next || !ann || !prev) {
                util_set_err(err, errlen, "out of memory");
                goto out;
        }
        if (exists(next)) {
                util_set_err(err, errlen, "%s: a hub key rotation was interrupted; run "
                             "'nmo-hub rotate-keys --dir %s' to finish it, then start the hub",
                             next, hub_dir);
                r = -EAGAIN;
                goto out;
        }
        r = read_announcement(ann, &kr->ann, &kr->ann_len, &kr->a);
        if (r == -ENOENT) {
                if (exists(prev))
                        log_warn("%s: no announcement %s beside it; the previous keys are not "
                                 "used", prev, ann);
                r = 0;
                goto done;
        }
        if (r < 0) {
                log_warn("%s: not a valid hub key announcement (%s); the previous keys are not "
                         "used and members are not told of new keys", ann, strerror(-r));
                r = 0;
                goto done;
        }
        if (!matches_new(&kr->a, &cur->pub)) {
                log_warn("%s: announces other keys than keys/hub.key holds; ignored", ann);
                free(kr->ann);
                kr->ann = NULL;
                kr->ann_len = 0;
                memset(&kr->a, 0, sizeof(kr->a));
                r = 0;
                goto done;
        }
        if (!exists(prev)) {
                r = 0;
                goto done;
        }
        util_format_time(kr->a.overlap_until_ms, when, sizeof(when));
        if (now_ms >= kr->a.overlap_until_ms) {
                r = hub_keyrot_retire(kr, hub_dir);
                if (r < 0) {
                        util_set_err(err, errlen, "%s: cannot remove the retired keys: %s", prev,
                                     strerror(-r));
                        goto out;
                }
                log_info("the overlap of the hub key rotation ended %s: previous keys destroyed; "
                         "envelopes sealed to them now get unknown-hub-key", when);
                goto done;
        }
        r = keys_load_secret_unlock(&kr->prev, prev, u, lerr, sizeof(lerr));
        if (r < 0) {
                util_set_err(err, errlen, "%s", lerr);
                goto out;
        }
        if (kr->prev->pub.role != KEYS_ROLE_HUB || !matches_old(&kr->a, &kr->prev->pub)) {
                log_warn("%s: not the keys %s retired; not used", prev, ann);
                keys_free(kr->prev);
                kr->prev = NULL;
                r = 0;
                goto done;
        }
        log_info("hub key rotation overlap until %s: envelopes sealed to the previous payload "
                 "key are still accepted", when);
        r = 0;
done:
        *ret = kr;
        kr = NULL;
out:
        hub_keyrot_free(kr);
        free(next);
        free(ann);
        free(prev);
        return r;
}

struct rot_paths {
        char *cur, *pub, *prev, *ann, *next;
};

static void paths_free(struct rot_paths *p)
{
        free(p->cur);
        free(p->pub);
        free(p->prev);
        free(p->ann);
        free(p->next);
}

/* The steps after hub.key.next and the announcement are durable; each one
 * can be repeated. */
static int finish(const struct rot_paths *p, const struct keys_secret *next, char *err,
                  size_t errlen)
{
        int r;

        if (exists(p->prev) && !same_file(p->prev, p->cur)) {
                /* Left from an earlier rotation whose overlap ended meanwhile. */
                r = destroy_key_file(p->prev, p->cur);
                if (r < 0) {
                        util_set_err(err, errlen, "%s: %s", p->prev, strerror(-r));
                        return r;
                }
        }
        if (!exists(p->prev)) {
                /* The old secret keeps a name before hub.key is replaced. */
                if (link(p->cur, p->prev) < 0) {
                        r = -errno;
                        util_set_err(err, errlen, "cannot keep %s as %s: %s", p->cur, p->prev,
                                     strerror(-r));
                        return r;
                }
                r = sync_dir_of(p->prev);
                if (r < 0) {
                        util_set_err(err, errlen, "%s: %s", p->prev, strerror(-r));
                        return r;
                }
        }
        r = keys_save_public(&next->pub, p->pub);
        if (r < 0) {
                util_set_err(err, errlen, "%s: %s", p->pub, strerror(-r));
                return r;
        }
        if (rename(p->next, p->cur) < 0) {
                r = -errno;
                util_set_err(err, errlen, "cannot rename %s to %s: %s", p->next, p->cur,
                             strerror(-r));
                return r;
        }
        r = sync_dir_of(p->cur);
        if (r < 0)
                util_set_err(err, errlen, "%s: %s", p->cur, strerror(-r));
        return r;
}

int hub_keyrot_rotate(const char *hub_dir, uint64_t overlap_ms, bool force, uint64_t now_ms,
                      struct keys_unlock *u,
                      struct hub_keyrot_result *res, char *err, size_t errlen)
{
        struct rot_paths p = { hub_secret_key_path(hub_dir), hub_public_key_path(hub_dir),
                               hub_keyrot_previous_path(hub_dir),
                               hub_keyrot_announcement_path(hub_dir),
                               hub_keyrot_next_path(hub_dir) };
        struct keys_secret *cur = NULL, *next = NULL;
        struct hubkey_announcement a, old_a;
        uint8_t *ann = NULL;
        size_t ann_len = 0;
        char lerr[512], when[32];
        int r = -ENOMEM;

        memset(res, 0, sizeof(*res));
        if (!p.cur || !p.pub || !p.prev || !p.ann || !p.next) {
                util_set_err(err, errlen, "out of memory");
                goto out;
        }
        r = keys_load_secret_unlock(&cur, p.cur, u, lerr, sizeof(lerr));
        if (r < 0) {
                util_set_err(err, errlen, "%s", lerr);
                goto out;
        }
        if (cur->pub.role != KEYS_ROLE_HUB) {
                util_set_err(err, errlen, "%s is not a hub key", p.cur);
                r = -EINVAL;
                goto out;
        }
        if (exists(p.next)) {
                r = keys_load_secret_unlock(&next, p.next, u, lerr, sizeof(lerr));
                if (r == 0 && read_announcement(p.ann, &ann, &ann_len, &a) == 0 &&
                    matches_old(&a, &cur->pub) && matches_new(&a, &next->pub)) {
                        /* Announced already: finish exactly that rotation. */
                        res->resumed = true;
                        goto finish;
                }
                /* Nobody has seen these keys (no announcement names them):
                 * start over. */
                log_info("%s: left by an interrupted rotation before it was announced; "
                         "starting again", p.next);
                keys_free(next);
                next = NULL;
                free(ann);
                ann = NULL;
                r = destroy_key_file(p.next, NULL);
                if (r < 0) {
                        util_set_err(err, errlen, "%s: %s", p.next, strerror(-r));
                        goto out;
                }
        }
        if (exists(p.prev)) {
                bool running = true;

                memset(&old_a, 0, sizeof(old_a));
                if (read_announcement(p.ann, &ann, &ann_len, &old_a) == 0 &&
                    now_ms >= old_a.overlap_until_ms)
                        running = false;
                util_format_time(old_a.overlap_until_ms, when, sizeof(when));
                free(ann);
                ann = NULL;
                if (running && !force) {
                        util_set_err(err, errlen, "the overlap of the last rotation runs until "
                                     "%s (%s exists); members that have not yet learnt the "
                                     "current keys would lose them. Wait, or pass --force to "
                                     "retire the previous keys now", when, p.prev);
                        r = -EBUSY;
                        goto out;
                }
                r = destroy_key_file(p.prev, p.cur);
                if (r < 0) {
                        util_set_err(err, errlen, "%s: %s", p.prev, strerror(-r));
                        goto out;
                }
        }
        r = keys_generate(&next, KEYS_ROLE_HUB, cur->pub.name[0] ? cur->pub.name : NULL);
        if (r < 0) {
                util_set_err(err, errlen, "cannot generate keys: %s", strerror(-r));
                goto out;
        }
        /* The transport key stays: members keep connecting as before. */
        memcpy(next->pub.transport, cur->pub.transport, KEYS_KEY_BYTES);
        memcpy(next->transport_sk, cur->transport_sk, KEYS_KEY_BYTES);
        r = keys_save_secret_protected(next, p.next, u->pass, u->len);
        if (r < 0) {
                util_set_err(err, errlen, "%s: %s", p.next, strerror(-r));
                goto out;
        }
        memset(&a, 0, sizeof(a));
        memcpy(a.old_payload, cur->pub.payload, KEYS_KEY_BYTES);
        memcpy(a.old_sign, cur->pub.sign, KEYS_KEY_BYTES);
        memcpy(a.new_transport, next->pub.transport, KEYS_KEY_BYTES);
        memcpy(a.new_payload, next->pub.payload, KEYS_KEY_BYTES);
        memcpy(a.new_sign, next->pub.sign, KEYS_KEY_BYTES);
        a.created_ms = now_ms;
        a.overlap_until_ms = now_ms + overlap_ms;
        r = hubkey_sign(&a, cur->sign_sk, next->sign_sk, &ann, &ann_len);
        if (r == 0)
                r = util_write_file(p.ann, ann, ann_len, 0644, false);
        if (r < 0) {
                util_set_err(err, errlen, "%s: %s", p.ann, strerror(-r));
                goto out;
        }
finish:
        r = finish(&p, next, err, errlen);
        if (r < 0)
                goto out;
        keys_fingerprint(&cur->pub, res->old_fingerprint);
        keys_fingerprint(&next->pub, res->new_fingerprint);
        res->overlap_until_ms = a.overlap_until_ms;
out:
        keys_free(cur);
        keys_free(next);
        free(ann);
        paths_free(&p);
        return r;
}
