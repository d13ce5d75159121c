/* member.c: the member registry. See member.h. */
#include "member.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store.pb-c.h"

const char *hub_member_state_name(enum hub_member_state state)
{
        switch (state) {
        case HUB_MEMBER_ACTIVE:
                return "active";
        case HUB_MEMBER_SUSPENDED:
                return "suspended";
        case HUB_MEMBER_REVOKED:
                return "revoked";
        }
        return "unknown";
}

static int decode(const MDB_val *v, struct hub_member *m)
{
        Nmo__Hub__MemberRecord *rec;
        int r = -EBADMSG;

        rec = nmo__hub__member_record__unpack(NULL, v->mv_size, v->mv_data);
        if (!rec)
                return -EBADMSG;
        if (!rec->has_id || !rec->name || strlen(rec->name) > KEYS_NAME_MAX || !rec->has_state ||
            rec->state < NMO__HUB__MEMBER_STATE__MEMBER_ACTIVE ||
            rec->state > NMO__HUB__MEMBER_STATE__MEMBER_REVOKED || !rec->has_transport_key ||
            rec->transport_key.len != KEYS_KEY_BYTES || !rec->has_payload_key ||
            rec->payload_key.len != KEYS_KEY_BYTES)
                goto out;
        memset(m, 0, sizeof(*m));
        m->id = rec->id;
        strcpy(m->name, rec->name);
        m->state = (enum hub_member_state)rec->state;
        memcpy(m->transport, rec->transport_key.data, KEYS_KEY_BYTES);
        memcpy(m->payload, rec->payload_key.data, KEYS_KEY_BYTES);
        m->added_ms = rec->has_added_ms ? rec->added_ms : 0;
        m->changed_ms = rec->has_changed_ms ? rec->changed_ms : 0;
        m->expires_ms = rec->has_expires_ms ? rec->expires_ms : 0;
        if (rec->has_previous_transport_key && rec->previous_transport_key.len == KEYS_KEY_BYTES &&
            rec->has_previous_payload_key && rec->previous_payload_key.len == KEYS_KEY_BYTES) {
                m->rotated = true;
                memcpy(m->previous_transport, rec->previous_transport_key.data, KEYS_KEY_BYTES);
                memcpy(m->previous_payload, rec->previous_payload_key.data, KEYS_KEY_BYTES);
                m->rotated_ms = rec->has_rotated_ms ? rec->rotated_ms : 0;
        }
        r = 0;
out:
        nmo__hub__member_record__free_unpacked(rec, NULL);
        return r;
}

static int put_record(MDB_txn *txn, struct hub_store *st, const struct hub_member *m)
{
        Nmo__Hub__MemberRecord rec = NMO__HUB__MEMBER_RECORD__INIT;
        uint8_t key[4], buf[256];
        MDB_val k = { sizeof(key), key }, v;

        rec.has_id = 1;
        rec.id = m->id;
        rec.name = (char *)m->name;
        rec.has_state = 1;
        rec.state = (Nmo__Hub__MemberState)m->state;
        rec.has_transport_key = 1;
        rec.transport_key.data = (uint8_t *)m->transport;
        rec.transport_key.len = KEYS_KEY_BYTES;
        rec.has_payload_key = 1;
        rec.payload_key.data = (uint8_t *)m->payload;
        rec.payload_key.len = KEYS_KEY_BYTES;
        rec.has_added_ms = 1;
        rec.added_ms = m->added_ms;
        rec.has_changed_ms = 1;
        rec.changed_ms = m->changed_ms;
        if (m->expires_ms) {
                rec.has_expires_ms = 1;
                rec.expires_ms = m->expires_ms;
        }
        if (m->rotated) {
                rec.has_previous_transport_key = 1;
                rec.previous_transport_key.data = (uint8_t *)m->previous_transport;
                rec.previous_transport_key.len = KEYS_KEY_BYTES;
                rec.has_previous_payload_key = 1;
                rec.previous_payload_key.data = (uint8_t *)m->previous_payload;
                rec.previous_payload_key.len = KEYS_KEY_BYTES;
                rec.has_rotated_ms = 1;
                rec.rotated_ms = m->rotated_ms;
        }
        if (nmo__hub__member_record__get_packed_size(&rec) > sizeof(buf))
                return -E2BIG;
        v.mv_size = nmo__hub__member_record__pack(&rec, buf);
        v.mv_data = buf;
        hub_store_put_u32(key, m->id);
        return db_errno(mdb_put(txn, st->members, &k, &v, 0));
}

int hub_member_by_id(MDB_txn *txn, struct hub_store *st, uint32_t id, struct hub_member *out)
{
        uint8_t key[4];
        MDB_val k = { sizeof(key), key }, v;
        int rc;

        hub_store_put_u32(key, id);
        rc = mdb_get(txn, st->members, &k, &v);
        if (rc)
                return db_errno(rc);
        return decode(&v, out);
}

static int id_from(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len, uint32_t *id)
{
        MDB_val k = { len, (void *)key }, v;
        int rc = mdb_get(txn, dbi, &k, &v);

        if (rc)
                return db_errno(rc);
        if (v.mv_size != 4)
                return -EBADMSG;
        *id = hub_store_get_u32(v.mv_data);
        return 0;
}

int hub_member_by_name(MDB_txn *txn, struct hub_store *st, const char *name,
                       struct hub_member *out)
{
        uint32_t id = 0;
        int r;

        if (!keys_name_ok(name))
                return -ENOENT;
        r = id_from(txn, st->member_names, name, strlen(name), &id);
        return r < 0 ? r : hub_member_by_id(txn, st, id, out);
}

int hub_member_by_transport(MDB_txn *txn, struct hub_store *st,
                            const uint8_t key[KEYS_KEY_BYTES], struct hub_member *out)
{
        uint32_t id = 0;
        int r = id_from(txn, st->member_keys, key, KEYS_KEY_BYTES, &id);

        return r < 0 ? r : hub_member_by_id(txn, st, id, out);
}

bool hub_member_expired(const struct hub_member *m, uint64_t now_ms)
{
        return m->expires_ms != 0 && now_ms >= m->expires_ms;
}

int hub_member_key_user(MDB_txn *txn, struct hub_store *st, const uint8_t key[KEYS_KEY_BYTES],
                        uint32_t *id, enum hub_member_key_use *use)
{
        uint8_t cls[KEYS_KEY_BYTES];
        MDB_val k = { sizeof(cls), cls }, v;
        int rc;

        if (!st->used_keys)
                return -ENOENT; /* a read-only store written before the index */
        /* By class: keys that are one key to X25519 are one key here. */
        if (keys_x25519_class(key, cls) < 0)
                return -EINVAL;
        rc = mdb_get(txn, st->used_keys, &k, &v);
        if (rc)
                return db_errno(rc);
        if (v.mv_size != 5)
                return -EBADMSG;
        if (id)
                *id = hub_store_get_u32(v.mv_data);
        if (use)
                *use = (enum hub_member_key_use)((const uint8_t *)v.mv_data)[4];
        return 0;
}

/* Records that member id uses key; a key recorded before keeps its first
 * user (-EEXIST, which only the indexing of an old registry tolerates). */
static int key_record(MDB_txn *txn, struct hub_store *st, const uint8_t key[KEYS_KEY_BYTES],
                      uint32_t id, enum hub_member_key_use use)
{
        uint8_t val[5], cls[KEYS_KEY_BYTES];
        MDB_val k = { sizeof(cls), cls }, v = { sizeof(val), val };

        if (keys_x25519_class(key, cls) < 0)
                return -EINVAL;
        hub_store_put_u32(val, id);
        val[4] = (uint8_t)use;
        return db_errno(mdb_put(txn, st->used_keys, &k, &v, MDB_NOOVERWRITE));
}

struct index_ctx {
        MDB_txn *txn;
        struct hub_store *st;
};

static int index_one(const struct hub_member *m, void *userdata)
{
        const struct index_ctx *c = userdata;
        MDB_txn *txn = c->txn;
        struct hub_store *st = c->st;
        const uint8_t *keys[4] = { m->transport, m->payload, m->previous_transport,
                                   m->previous_payload };
        size_t n = m->rotated ? 4 : 2;

        for (size_t i = 0; i < n; i++) {
                uint32_t other = 0;
                int r = key_record(txn, st, keys[i], m->id,
                                   i % 2 ? HUB_MEMBER_KEY_PAYLOAD : HUB_MEMBER_KEY_TRANSPORT);

                if (r == -EEXIST && hub_member_key_user(txn, st, keys[i], &other, NULL) == 0 &&
                    other != m->id)
                        /* Enrolled before keys were checked: the operator must
                         * decide which of the two is genuine. */
                        log_warn("member %s (id %u) has a key that member id %u has too; "
                                 "revoke the one that is not genuine", m->name, m->id, other);
                else if (r == -EINVAL)
                        /* Of small order: no envelope opens with it. */
                        log_warn("member %s (id %u) has a key that is not usable; "
                                 "revoke it", m->name, m->id);
                else if (r < 0 && r != -EEXIST)
                        return r;
        }
        return 0;
}

/* Fills used_keys with the keys of the members enrolled before it existed,
 * once. Keys rotated out before the last rotation were not kept then and
 * cannot be recovered. */
int hub_member_index_keys(MDB_txn *txn, struct hub_store *st)
{
        struct index_ctx ctx = { txn, st };
        uint64_t done = 0;
        int r;

        r = hub_store_meta_get(txn, st, HUB_META_KEYS_INDEXED, &done);
        if (r < 0 || done)
                return r;
        r = hub_member_foreach(txn, st, index_one, &ctx);
        if (r == 0)
                r = hub_store_meta_add(txn, st, HUB_META_KEYS_INDEXED, 1, NULL);
        return r;
}

/* May pk's keys be enrolled? -EINVAL when they fail keys_public_check(),
 * -EEXIST when a member (any, in any state, also with keys it has rotated
 * out) has used either of them. */
static int keys_available(MDB_txn *txn, struct hub_store *st, const struct keys_public *pk)
{
        struct hub_member other;
        int r;

        if (keys_public_check(pk, NULL, 0) < 0)
                return -EINVAL;
        r = hub_member_index_keys(txn, st);
        if (r < 0)
                return r;
        for (int i = 0; i < 2; i++) {
                r = hub_member_key_user(txn, st, i ? pk->payload : pk->transport, NULL, NULL);
                if (r == 0)
                        return -EEXIST;
                if (r != -ENOENT)
                        return r;
        }
        r = hub_member_by_transport(txn, st, pk->transport, &other);
        if (r == 0)
                return -EEXIST;
        return r == -ENOENT ? 0 : r;
}

/* Records both keys of member m as used. */
static int keys_record(MDB_txn *txn, struct hub_store *st, const struct hub_member *m)
{
        int r = key_record(txn, st, m->transport, m->id, HUB_MEMBER_KEY_TRANSPORT);

        if (r == 0)
                r = key_record(txn, st, m->payload, m->id, HUB_MEMBER_KEY_PAYLOAD);
        return r;
}

int hub_member_add(MDB_txn *txn, struct hub_store *st, const char *name,
                   const struct keys_public *pk, uint64_t now_ms, struct hub_member *out)
{
        return hub_member_add_expiring(txn, st, name, pk, now_ms, 0, out);
}

int hub_member_rotate(MDB_txn *txn, struct hub_store *st, uint32_t id,
                      const uint8_t new_transport[KEYS_KEY_BYTES],
                      const uint8_t new_payload[KEYS_KEY_BYTES], uint64_t now_ms,
                      struct hub_member *out)
{
        struct hub_member m;
        struct keys_public next;
        uint8_t idkey[4];
        MDB_val k, v = { sizeof(idkey), idkey };
        int r;

        r = hub_member_by_id(txn, st, id, &m);
        if (r < 0)
                return r;
        if (m.state != HUB_MEMBER_ACTIVE)
                return -EPERM;
        memset(&next, 0, sizeof(next));
        next.role = KEYS_ROLE_MEMBER;
        memcpy(next.transport, new_transport, KEYS_KEY_BYTES);
        memcpy(next.payload, new_payload, KEYS_KEY_BYTES);
        /* Also the member's own current keys count as used: a rotation that
         * kept one would not retire it. */
        r = keys_available(txn, st, &next);
        if (r < 0)
                return r;
        k.mv_size = KEYS_KEY_BYTES;
        k.mv_data = m.transport;
        r = db_errno(mdb_del(txn, st->member_keys, &k, NULL));
        if (r < 0 && r != -ENOENT)
                return r;
        m.rotated = true;
        memcpy(m.previous_transport, m.transport, KEYS_KEY_BYTES);
        memcpy(m.previous_payload, m.payload, KEYS_KEY_BYTES);
        memcpy(m.transport, new_transport, KEYS_KEY_BYTES);
        memcpy(m.payload, new_payload, KEYS_KEY_BYTES);
        m.rotated_ms = m.changed_ms = now_ms;
        r = put_record(txn, st, &m);
        if (r < 0)
                return r;
        hub_store_put_u32(idkey, m.id);
        k.mv_data = m.transport;
        r = db_errno(mdb_put(txn, st->member_keys, &k, &v, MDB_NOOVERWRITE));
        if (r == 0)
                r = keys_record(txn, st, &m);
        /* Alert subscribers authenticate again, and the old key no longer passes. */
        if (r == 0)
                r = hub_store_meta_add(txn, st, HUB_META_MEMBER_CHANGES, 1, NULL);
        if (r == 0 && out)
                *out = m;
        return r;
}

int hub_member_set_expiry(MDB_txn *txn, struct hub_store *st, const char *name,
                          uint64_t expires_ms, uint64_t now_ms, struct hub_member *out)
{
        struct hub_member m;
        int r;

        r = hub_member_by_name(txn, st, name, &m);
        if (r < 0)
                return r;
        if (m.state == HUB_MEMBER_REVOKED)
                return -EPERM;
        m.expires_ms = expires_ms;
        m.changed_ms = now_ms;
        r = put_record(txn, st, &m);
        /* An expiry in the past ends alert subscriptions like a suspension. */
        if (r == 0)
                r = hub_store_meta_add(txn, st, HUB_META_MEMBER_CHANGES, 1, NULL);
        if (r == 0 && out)
                *out = m;
        return r;
}

int hub_member_add_expiring(MDB_txn *txn, struct hub_store *st, const char *name,
                            const struct keys_public *pk, uint64_t now_ms, uint64_t expires_ms,
                            struct hub_member *out)
{
        struct hub_member m;
        uint8_t idkey[4];
        MDB_val k, v = { sizeof(idkey), idkey };
        uint64_t next;
        int r;

        if (!keys_name_ok(name) || pk->role != KEYS_ROLE_MEMBER)
                return -EINVAL;
        r = hub_member_by_name(txn, st, name, &m);
        if (r == 0)
                return -EEXIST;
        if (r != -ENOENT)
                return r;
        r = keys_available(txn, st, pk);
        if (r < 0)
                return r;
        r = hub_store_meta_add(txn, st, HUB_META_NEXT_MEMBER, 1, &next);
        if (r < 0)
                return r;
        if (next > UINT32_MAX)
                return -EOVERFLOW;
        memset(&m, 0, sizeof(m));
        m.id = (uint32_t)next;
        strcpy(m.name, name);
        m.state = HUB_MEMBER_ACTIVE;
        memcpy(m.transport, pk->transport, KEYS_KEY_BYTES);
        memcpy(m.payload, pk->payload, KEYS_KEY_BYTES);
        m.added_ms = m.changed_ms = now_ms;
        m.expires_ms = expires_ms;
        r = put_record(txn, st, &m);
        if (r < 0)
                return r;
        hub_store_put_u32(idkey, m.id);
        k.mv_size = strlen(name);
        k.mv_data = (void *)name;
        r = db_errno(mdb_put(txn, st->member_names, &k, &v, MDB_NOOVERWRITE));
        if (r < 0)
                return r;
        k.mv_size = KEYS_KEY_BYTES;
        k.mv_data = m.transport;
        r = db_errno(mdb_put(txn, st->member_keys, &k, &v, MDB_NOOVERWRITE));
        if (r == 0)
                r = keys_record(txn, st, &m);
        if (r < 0)
                return r;
        if (out)
                *out = m;
        return 0;
}

int hub_member_set_state(MDB_txn *txn, struct hub_store *st, const char *name,
                         enum hub_member_state state, uint64_t now_ms, struct hub_member *out)
{
        struct hub_member m;
        int r;

        r = hub_member_by_name(txn, st, name, &m);
        if (r < 0)
                return r;
        if (m.state == state) {
                if (out)
                        *out = m;
                return 0;
        }
        if (m.state == HUB_MEMBER_REVOKED)
                return -EPERM;
        m.state = state;
        m.changed_ms = now_ms;
        r = put_record(txn, st, &m);
        /* The daemon watches this to make every alert subscriber pass ZAP again. */
        if (r == 0)
                r = hub_store_meta_add(txn, st, HUB_META_MEMBER_CHANGES, 1, NULL);
        if (r == 0 && out)
                *out = m;
        return r;
}

int hub_member_foreach(MDB_txn *txn, struct hub_store *st,
                       int (*fn)(const struct hub_member *, void *), void *userdata)
{
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r = 0;

        rc = mdb_cursor_open(txn, st->members, &cur);
        if (rc)
                return db_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                struct hub_member m;

                r = decode(&v, &m);
                if (r < 0)
                        break;
                r = fn(&m, userdata);
                if (r < 0)
                        break;
        }
        if (r == 0 && rc != MDB_NOTFOUND)
                r = db_errno(rc);
        mdb_cursor_close(cur);
        return r;
}

static int count_one(const struct hub_member *m, void *userdata)
{
        uint64_t *counts = userdata;

        counts[m->state]++;
        return 0;
}

int hub_member_count(MDB_txn *txn, struct hub_store *st, uint64_t counts[4])
{
        memset(counts, 0, 4 * sizeof(counts[0]));
        return hub_member_foreach(txn, st, count_one, counts);
}
