/* store.c: the hub's private store. See store.h. */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

#define STORE_INITIAL_MAP ((size_t)64 << 20)

void hub_store_put_u32(uint8_t out[4], uint32_t v)
{
        out[0] = (uint8_t)(v >> 24);
        out[1] = (uint8_t)(v >> 16);
        out[2] = (uint8_t)(v >> 8);
        out[3] = (uint8_t)v;
}

uint32_t hub_store_get_u32(const uint8_t in[4])
{
        return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
}

static bool readonly_txn(MDB_txn *txn)
{
        unsigned int flags = 0;

        return mdb_env_get_flags(mdb_txn_env(txn), &flags) == 0 && (flags & MDB_RDONLY);
}

static int open_dbis(MDB_txn *txn, void *userdata)
{
        struct hub_store *st = userdata;
        int r;

        r = db_dbi_open(txn, "members", MDB_CREATE, &st->members);
        if (!r)
                r = db_dbi_open(txn, "member_names", MDB_CREATE, &st->member_names);
        if (!r)
                r = db_dbi_open(txn, "member_keys", MDB_CREATE, &st->member_keys);
        if (!r)
                r = db_dbi_open(txn, "signals", MDB_CREATE, &st->signals);
        if (!r) {
                r = db_dbi_open(txn, "journal", MDB_CREATE, &st->journal);
                /* A read-only view of a store the hub has not opened since. */
                if (r == -ENOENT && readonly_txn(txn)) {
                        st->journal = 0;
                        r = 0;
                }
        }
        if (!r) {
                r = db_dbi_open(txn, "used_keys", MDB_CREATE, &st->used_keys);
                if (r == -ENOENT && readonly_txn(txn)) {
                        st->used_keys = 0;
                        r = 0;
                }
        }
        if (!r)
                r = db_dbi_open(txn, "epochs", MDB_CREATE, &st->epochs);
        if (!r)
                r = db_dbi_open(txn, "meta", MDB_CREATE, &st->meta);
        return r;
}

static int open_contrib_dbis(MDB_txn *txn, void *userdata)
{
        struct hub_store *st = userdata;
        int r;

        r = db_dbi_open(txn, "contributions", MDB_CREATE, &st->contributions);
        if (!r)
                r = db_dbi_open(txn, "fold", MDB_CREATE, &st->fold);
        return r;
}

int hub_store_open(struct hub_store **ret, const char *hub_dir, bool readonly)
{
        return hub_store_open_map(ret, hub_dir, readonly, STORE_INITIAL_MAP);
}

int hub_store_open_map(struct hub_store **ret, const char *hub_dir, bool readonly,
                       size_t initial_map)
{
        struct hub_store *st;
        char *path;
        int r;

        path = util_path(hub_dir, "private");
        st = calloc(1, sizeof(*st));
        if (!path || !st) {
                r = -ENOMEM;
                goto fail;
        }
        r = db_env_open(&st->env, path, 16, initial_map, readonly ? MDB_RDONLY : 0);
        if (r < 0)
                goto fail;
        r = readonly ? hub_store_read(st, open_dbis, st) : hub_store_write(st, open_dbis, st);
        if (r < 0)
                goto fail;
        free(path);
        path = util_path(hub_dir, "private/contributions");
        if (!path) {
                r = -ENOMEM;
                goto fail;
        }
        r = db_env_open(&st->cenv, path, 4, initial_map, readonly ? MDB_RDONLY : 0);
        if (r == -ENOENT && readonly) {
                st->cenv = NULL;
                r = 0;
        } else if (r == 0) {
                r = readonly ? db_read(st->cenv, open_contrib_dbis, st)
                             : db_write(st->cenv, open_contrib_dbis, st);
        }
        if (r < 0)
                goto fail;
        free(path);
        *ret = st;
        return 0;
fail:
        free(path);
        hub_store_free(st);
        return r;
}

void hub_store_free(struct hub_store *st)
{
        if (!st)
                return;
        if (st->env)
                db_env_close(st->env);
        if (st->cenv)
                db_env_close(st->cenv);
        free(st);
}

int hub_store_write(struct hub_store *st, int (*fn)(MDB_txn *, void *), void *userdata)
{
        return db_write(st->env, fn, userdata);
}

int hub_store_write_contrib(struct hub_store *st, int (*fn)(MDB_txn *, void *), void *userdata)
{
        if (!st->cenv)
                return -ENOENT;
        return db_write(st->cenv, fn, userdata);
}

int hub_store_read(struct hub_store *st, int (*fn)(MDB_txn *, void *), void *userdata)
{
        return db_read(st->env, fn, userdata);
}

void hub_store_put_u64(uint8_t out[8], uint64_t v)
{
        for (int i = 7; i >= 0; i--) {
                out[i] = (uint8_t)v;
                v >>= 8;
        }
}

uint64_t hub_store_get_u64(const uint8_t in[8])
{
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = v << 8 | in[i];
        return v;
}

/* A u64 BE value under name in dbi (0 when absent). */
static int counter_get(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *value)
{
        MDB_val k = { strlen(name), (void *)name }, v;
        int rc = mdb_get(txn, dbi, &k, &v);

        if (rc == MDB_NOTFOUND) {
                *value = 0;
                return 0;
        }
        if (rc)
                return db_errno(rc);
        if (v.mv_size != 8)
                return -EBADMSG;
        *value = hub_store_get_u64(v.mv_data);
        return 0;
}

int hub_store_meta_get(MDB_txn *txn, struct hub_store *st, const char *name, uint64_t *value)
{
        return counter_get(txn, st->meta, name, value);
}

int hub_store_meta_add(MDB_txn *txn, struct hub_store *st, const char *name, uint64_t delta,
                       uint64_t *value)
{
        MDB_val k = { strlen(name), (void *)name }, v;
        uint8_t buf[8];
        uint64_t cur;
        int r;

        r = hub_store_meta_get(txn, st, name, &cur);
        if (r < 0)
                return r;
        cur += delta;
        hub_store_put_u64(buf, cur);
        v.mv_size = sizeof(buf);
        v.mv_data = buf;
        r = db_errno(mdb_put(txn, st->meta, &k, &v, 0));
        if (r == 0 && value)
                *value = cur;
        return r;
}
