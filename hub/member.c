/* member.c: the member registry. See member.h. */
#include "member.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
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
        struct hub_member m, other;
        uint8_t idkey[4];
        MDB_val k, v = { sizeof(idkey), idkey };
        int r;

        r = hub_member_by_id(txn, st, id, &m);
        if (r < 0)
                return r;
        if (m.state != HUB_MEMBER_ACTIVE)
                return -EPERM;
        r = hub_member_by_transport(txn, st, new_transport, &other);
        if (r == 0)
                return -EEXIST;
        if (r != -ENOENT)
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
        r = hub_member_by_transport(txn, st, pk->transport, &m);
        if (r == 0)
                return -EEXIST;
        if (r != -ENOENT)
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
