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
        if (!r)
                r = db_dbi_open(txn, "contributions", MDB_CREATE, &st->contributions);
        if (!r)
                r = db_dbi_open(txn, "epochs", MDB_CREATE, &st->epochs);
        if (!r)
                r = db_dbi_open(txn, "meta", MDB_CREATE, &st->meta);
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
                mdb_env_close(st->env);
        free(st);
}

int hub_store_write(struct hub_store *st, int (*fn)(MDB_txn *, void *), void *userdata)
{
        for (;;) {
                MDB_txn *txn = NULL;
                bool map_full;
                int r, rc;

                r = db_txn_begin(st->env, 0, &txn);
                if (r < 0)
                        return r;
                r = fn(txn, userdata);
                if (r == 0) {
                        rc = mdb_txn_commit(txn);
                        /* A full map, not a full disk (which is ENOSPC too). */
                        map_full = rc == MDB_MAP_FULL;
                        r = db_errno(rc);
                } else {
                        /* Puts do no I/O: ENOSPC from them is MDB_MAP_FULL. */
                        map_full = r == -ENOSPC;
                        mdb_txn_abort(txn);
                }
                if (!map_full)
                        return r;
                r = db_env_grow(st->env);
                if (r < 0) {
                        log_error("private store cannot grow further: %s", strerror(-r));
                        return r;
                }
        }
}

int hub_store_read(struct hub_store *st, int (*fn)(MDB_txn *, void *), void *userdata)
{
        MDB_txn *txn = NULL;
        int r;

        r = db_txn_begin(st->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        r = fn(txn, userdata);
        /* Committing a read-only transaction keeps the database handles it
         * opened; aborting would close them. */
        if (r == 0)
                r = db_errno(mdb_txn_commit(txn));
        else
                mdb_txn_abort(txn);
        return r;
}

static void put_u64(uint8_t out[8], uint64_t v)
{
        for (int i = 7; i >= 0; i--) {
                out[i] = (uint8_t)v;
                v >>= 8;
        }
}

static uint64_t get_u64(const uint8_t in[8])
{
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = v << 8 | in[i];
        return v;
}

int hub_store_meta_get(MDB_txn *txn, struct hub_store *st, const char *name, uint64_t *value)
{
        MDB_val k = { strlen(name), (void *)name }, v;
        int rc = mdb_get(txn, st->meta, &k, &v);

        if (rc == MDB_NOTFOUND) {
                *value = 0;
                return 0;
        }
        if (rc)
                return db_errno(rc);
        if (v.mv_size != 8)
                return -EBADMSG;
        *value = get_u64(v.mv_data);
        return 0;
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
        put_u64(buf, cur);
        v.mv_size = sizeof(buf);
        v.mv_data = buf;
        r = db_errno(mdb_put(txn, st->meta, &k, &v, 0));
        if (r == 0 && value)
                *value = cur;
        return r;
}
