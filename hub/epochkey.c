/* epochkey.c: see epochkey.h. */
#include "epochkey.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define EPOCH_SECRET_BYTES 32
/* Epochs whose keys are cached: the open one, the one before while it closes,
 * and room for a clock stepped across a boundary. */
#define EPOCH_CACHE 4
#define KDF_CONTEXT "nmoepoch"
#define KDF_PSEUDONYM 1
#define KDF_SEAL 2

struct hub_epoch_keys {
        char *hub_dir;
        char *key_dir;
        struct hub_epoch_key *cache;    /* sodium_allocarray, EPOCH_CACHE entries */
        size_t ncache;
        pthread_mutex_t lock;
};

char *hub_epoch_key_path(const char *hub_dir, uint32_t month)
{
        char *p = NULL;

        if (asprintf(&p, "%s/private/epochs/%06u.key", hub_dir, month) < 0)
                return NULL;
        return p;
}

int hub_epoch_keys_new(struct hub_epoch_keys **ret, const char *hub_dir)
{
        struct hub_epoch_keys *ks = calloc(1, sizeof(*ks));
        int r = -ENOMEM;

        if (!ks)
                return -ENOMEM;
        pthread_mutex_init(&ks->lock, NULL);
        ks->hub_dir = strdup(hub_dir);
        ks->key_dir = util_path(hub_dir, "private/epochs");
        ks->cache = sodium_allocarray(EPOCH_CACHE, sizeof(*ks->cache));
        if (!ks->hub_dir || !ks->key_dir || !ks->cache)
                goto fail;
        sodium_memzero(ks->cache, EPOCH_CACHE * sizeof(*ks->cache));
        r = util_mkdir_p(ks->key_dir, 0700);
        if (r < 0)
                goto fail;
        *ret = ks;
        return 0;
fail:
        hub_epoch_keys_free(ks);
        return r;
}

void hub_epoch_keys_free(struct hub_epoch_keys *ks)
{
        if (!ks)
                return;
        if (ks->cache) {
                sodium_memzero(ks->cache, EPOCH_CACHE * sizeof(*ks->cache));
                sodium_free(ks->cache);
        }
        pthread_mutex_destroy(&ks->lock);
        free(ks->hub_dir);
        free(ks->key_dir);
        free(ks);
}

static void derive(struct hub_epoch_key *ek, const uint8_t secret[EPOCH_SECRET_BYTES])
{
        crypto_kdf_derive_from_key(ek->pseudonym_key, sizeof(ek->pseudonym_key), KDF_PSEUDONYM,
                                   KDF_CONTEXT, secret);
        crypto_kdf_derive_from_key(ek->seal_key, sizeof(ek->seal_key), KDF_SEAL, KDF_CONTEXT,
                                   secret);
}

static struct hub_epoch_key *cache_slot(struct hub_epoch_keys *ks, uint32_t month)
{
        for (size_t i = 0; i < ks->ncache; i++)
                if (ks->cache[i].month == month)
                        return &ks->cache[i];
        return NULL;
}

static struct hub_epoch_key *cache_put(struct hub_epoch_keys *ks, uint32_t month,
                                       const uint8_t secret[EPOCH_SECRET_BYTES])
{
        struct hub_epoch_key *ek;

        if (ks->ncache < EPOCH_CACHE) {
                ek = &ks->cache[ks->ncache++];
        } else {
                /* Evict the oldest month; it can be read from its file again. */
                ek = &ks->cache[0];
                for (size_t i = 1; i < ks->ncache; i++)
                        if (ks->cache[i].month < ek->month)
                                ek = &ks->cache[i];
        }
        ek->month = month;
        derive(ek, secret);
        return ek;
}

static void cache_drop(struct hub_epoch_keys *ks, uint32_t month)
{
        struct hub_epoch_key *ek = cache_slot(ks, month);

        if (!ek)
                return;
        sodium_memzero(ek, sizeof(*ek));
        *ek = ks->cache[ks->ncache - 1];
        sodium_memzero(&ks->cache[ks->ncache - 1], sizeof(*ek));
        ks->ncache--;
}

/* Loads the key of month; with create, makes it when it does not exist yet.
 * The caller holds ks->lock. */
static int key_locked(struct hub_epoch_keys *ks, uint32_t month, bool create,
                      struct hub_epoch_key **out)
{
        uint8_t *secret = NULL;
        char *path = NULL;
        int fd = -1, r;
        ssize_t n;

        *out = cache_slot(ks, month);
        if (*out)
                return 0;
        secret = sodium_malloc(EPOCH_SECRET_BYTES);
        path = hub_epoch_key_path(ks->hub_dir, month);
        if (!secret || !path) {
                r = -ENOMEM;
                goto out;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
                n = read(fd, secret, EPOCH_SECRET_BYTES);
                r = n == EPOCH_SECRET_BYTES ? 0 : -EBADMSG;
                if (r < 0)
                        log_error("%s: damaged epoch key", path);
        } else if (errno == ENOENT && create) {
                randombytes_buf(secret, EPOCH_SECRET_BYTES);
                r = util_write_file(path, secret, EPOCH_SECRET_BYTES, 0600, true);
        } else {
                r = -errno;
        }
        if (r == 0)
                *out = cache_put(ks, month, secret);
out:
        if (fd >= 0)
                close(fd);
        if (secret) {
                sodium_memzero(secret, EPOCH_SECRET_BYTES);
                sodium_free(secret);
        }
        free(path);
        return r;
}

int hub_epoch_key_get(struct hub_epoch_keys *ks, uint32_t month, bool create,
                      struct hub_epoch_key *out)
{
        struct hub_epoch_key *ek = NULL;
        int r;

        pthread_mutex_lock(&ks->lock);
        r = key_locked(ks, month, create, &ek);
        if (r == 0)
                *out = *ek;
        pthread_mutex_unlock(&ks->lock);
        return r;
}

int hub_epoch_key_destroy(struct hub_epoch_keys *ks, uint32_t month)
{
        uint8_t zero[EPOCH_SECRET_BYTES] = { 0 };
        char *path = hub_epoch_key_path(ks->hub_dir, month);
        int fd, r = 0, dfd;

        pthread_mutex_lock(&ks->lock);
        cache_drop(ks, month);
        pthread_mutex_unlock(&ks->lock);
        if (!path)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                r = errno == ENOENT ? 0 : -errno;
                free(path);
                return r;
        }
        if (pwrite(fd, zero, sizeof(zero), 0) != (ssize_t)sizeof(zero) || fsync(fd) < 0)
                r = -errno;
        close(fd);
        if (r == 0 && unlink(path) < 0)
                r = -errno;
        dfd = open(ks->key_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
        }
        free(path);
        return r;
}
