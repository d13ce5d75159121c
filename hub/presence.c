/* presence.c: see presence.h. Record: key the member id (big-endian u32),
 * value the hour's start in ms (big-endian u64) and one byte, 1 while
 * connected. */
#include "presence.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store.h"

#define PRESENCE_VALUE_LEN 9

static void encode(uint8_t v[PRESENCE_VALUE_LEN], uint64_t hour_ms, bool connected)
{
        for (int i = 0; i < 8; i++)
                v[i] = (uint8_t)(hour_ms >> (56 - 8 * i));
        v[8] = connected ? 1 : 0;
}

static bool decode(const MDB_val *val, uint64_t *hour_ms, bool *connected)
{
        const uint8_t *p = val->mv_data;
        uint64_t h = 0;

        if (val->mv_size != PRESENCE_VALUE_LEN)
                return false;
        for (int i = 0; i < 8; i++)
                h = h << 8 | p[i];
        *hour_ms = h;
        *connected = p[8] == 1;
        return true;
}

static int put(MDB_txn *txn, struct hub_store *st, uint32_t member, uint64_t hour_ms,
               bool connected)
{
        uint8_t k[4], v[PRESENCE_VALUE_LEN];
        MDB_val key = { sizeof(k), k }, val = { sizeof(v), v };

        hub_store_put_u32(k, member);
        encode(v, hour_ms, connected);
        return db_errno(mdb_put(txn, st->presence, &key, &val, 0));
}

static bool contains(const uint32_t *ids, size_t n, uint32_t id)
{
        for (size_t i = 0; i < n; i++)
                if (ids[i] == id)
                        return true;
        return false;
}

struct write_args {
        struct hub_store *st;
        const uint32_t *connected, *seen;
        size_t nconnected, nseen;
        uint64_t hour_ms;
        bool starting;
};

static int write_txn(MDB_txn *txn, void *userdata)
{
        struct write_args *a = userdata;
        MDB_cursor *cur = NULL;
        MDB_val key, val;
        int rc, r = 0;

        /* Those marked connected that hold no connection now. */
        rc = mdb_cursor_open(txn, a->st->presence, &cur);
        if (rc != MDB_SUCCESS)
                return db_errno(rc);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == MDB_SUCCESS && r == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                uint64_t hour;
                bool up;
                uint32_t member;

                if (key.mv_size != 4 || !decode(&val, &hour, &up) || !up)
                        continue;
                member = hub_store_get_u32(key.mv_data);
                if (contains(a->connected, a->nconnected, member))
                        continue;
                uint8_t v[PRESENCE_VALUE_LEN];
                MDB_val nv = { sizeof(v), v };

                encode(v, a->starting ? hour : a->hour_ms, false);
                r = db_errno(mdb_cursor_put(cur, &key, &nv, MDB_CURRENT));
        }
        mdb_cursor_close(cur);
        if (r < 0)
                return r;
        if (rc != MDB_NOTFOUND && rc != MDB_SUCCESS)
                return db_errno(rc);
        for (size_t i = 0; i < a->nseen && r == 0; i++)
                if (!contains(a->connected, a->nconnected, a->seen[i]))
                        r = put(txn, a->st, a->seen[i], a->hour_ms, false);
        for (size_t i = 0; i < a->nconnected && r == 0; i++)
                r = put(txn, a->st, a->connected[i], a->hour_ms, true);
        return r;
}

int hub_presence_write(struct hub_store *st, const uint32_t *connected, size_t nconnected,
                       const uint32_t *seen, size_t nseen, uint64_t now_ms, bool starting)
{
        struct write_args a = {
                .st = st,
                .connected = connected,
                .nconnected = nconnected,
                .seen = seen,
                .nseen = nseen,
                .hour_ms = now_ms - now_ms % HUB_PRESENCE_HOUR_MS,
                .starting = starting,
        };

        if (!st->presence)
                return -ENOENT;
        return hub_store_write(st, write_txn, &a);
}

int hub_presence_get(MDB_txn *txn, struct hub_store *st, uint32_t member, uint64_t *last_seen_ms,
                     bool *connected)
{
        uint8_t k[4];
        MDB_val key = { sizeof(k), k }, val;
        int rc;

        if (!st->presence)
                return -ENOENT;
        hub_store_put_u32(k, member);
        rc = mdb_get(txn, st->presence, &key, &val);
        if (rc != MDB_SUCCESS)
                return db_errno(rc);
        if (!decode(&val, last_seen_ms, connected))
                return -EBADMSG;
        return 0;
}
