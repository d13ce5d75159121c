/* member.h: the member registry in the hub's private store: enrolment,
 * look-ups by id, name and transport key, and state changes.
 *
 * States: active (admitted), suspended (refused until resumed), revoked
 * (refused for good). Ids and names are never reused, and no public key,
 * transport or payload, serves two members or two jobs: a key enrolled or
 * rotated in once (also one since rotated out, or of a revoked member) is
 * never accepted again, for anyone. All functions work inside a
 * transaction the caller holds, so the daemon and the operator's commands see
 * one consistent registry (LMDB serialises the writers of both processes). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <lmdb.h>

#include "keys.h"
#include "store.h"

enum hub_member_state {
        HUB_MEMBER_ACTIVE = 1,
        HUB_MEMBER_SUSPENDED = 2,
        HUB_MEMBER_REVOKED = 3,
};

struct hub_member {
        uint32_t id;
        char name[KEYS_NAME_MAX + 1];
        enum hub_member_state state;
        uint8_t transport[KEYS_KEY_BYTES];
        uint8_t payload[KEYS_KEY_BYTES];
        uint64_t added_ms;
        uint64_t changed_ms;
        uint64_t expires_ms;    /* 0: never */
        bool rotated;           /* the member replaced its keys at least once */
        uint8_t previous_transport[KEYS_KEY_BYTES];
        uint8_t previous_payload[KEYS_KEY_BYTES];
        uint64_t rotated_ms;
};

/* Replaces the keys of member id with the announced new ones (a rotation the
 * member sealed with its current keys). The old transport key stops passing
 * the handshake, and messages on connections it opened are refused. -EINVAL
 * when the new keys fail keys_public_check() (unusable, or both the same),
 * -EEXIST when either new key was ever used by a member (anyone, this one
 * included, current or retired), -EPERM when the member is not active. */
NMO_WUR int hub_member_rotate(MDB_txn *txn, struct hub_store *st, uint32_t id,
                              const uint8_t new_transport[KEYS_KEY_BYTES],
                              const uint8_t new_payload[KEYS_KEY_BYTES], uint64_t now_ms,
                              struct hub_member *out);

/* A key this close to its expiry is listed as expiring soon. */
#define HUB_MEMBER_EXPIRY_WARN_MS (30ULL * 86400000ULL)

/* Is m's key expired at now_ms? */
bool hub_member_expired(const struct hub_member *m, uint64_t now_ms);

/* Sets (0: removes) the expiry of member name. -EPERM for a revoked member. */
NMO_WUR int hub_member_set_expiry(MDB_txn *txn, struct hub_store *st, const char *name,
                                  uint64_t expires_ms, uint64_t now_ms, struct hub_member *out);

const char *hub_member_state_name(enum hub_member_state state);

/* Enrols pk under name as active. -EEXIST when the name, or either key (by
 * class: keys_x25519_class()), was ever used by a member (in any state, also a
 * key it has rotated out; hub_member_key_user() says which), -EINVAL for a bad name, a hub key, or
 * keys that fail keys_public_check(). */
NMO_WUR int hub_member_add(MDB_txn *txn, struct hub_store *st, const char *name,
                           const struct keys_public *pk, uint64_t now_ms, struct hub_member *out);
/* The same with an expiry (0: never). */
NMO_WUR int hub_member_add_expiring(MDB_txn *txn, struct hub_store *st, const char *name,
                                    const struct keys_public *pk, uint64_t now_ms,
                                    uint64_t expires_ms, struct hub_member *out);

/* What a public key was used for. */
enum hub_member_key_use {
        HUB_MEMBER_KEY_TRANSPORT = 1,
        HUB_MEMBER_KEY_PAYLOAD = 2,
};

/* Which member ever used key, and as which key (id and use may be NULL).
 * Keys are compared by class (keys_x25519_class()): a key that X25519 cannot
 * tell from a used one counts as that one. The first member recorded with a
 * class keeps it. -ENOENT when none did, as far as the registry knows (keys
 * rotated out more than one rotation before this index existed are not
 * known); -EINVAL for a key of small order. */
NMO_WUR int hub_member_key_user(MDB_txn *txn, struct hub_store *st,
                                const uint8_t key[KEYS_KEY_BYTES], uint32_t *id,
                                enum hub_member_key_use *use);

/* Records the keys of the members enrolled before the index of used keys
 * existed, once (a later call does nothing). Where two such members hold keys
 * of one class, the one enrolled first keeps it and a warning names both. The
 * hub runs it at start; enrolment and rotation run it before they check. */
NMO_WUR int hub_member_index_keys(MDB_txn *txn, struct hub_store *st);

/* Look-ups; -ENOENT when there is no such member, -EBADMSG for a damaged record. */
NMO_WUR int hub_member_by_id(MDB_txn *txn, struct hub_store *st, uint32_t id,
                             struct hub_member *out);
NMO_WUR int hub_member_by_name(MDB_txn *txn, struct hub_store *st, const char *name,
                               struct hub_member *out);
NMO_WUR int hub_member_by_transport(MDB_txn *txn, struct hub_store *st,
                                    const uint8_t key[KEYS_KEY_BYTES], struct hub_member *out);

/* Moves member name to state. Allowed: active <-> suspended, either -> revoked.
 * A revoked member cannot change again (-EPERM); setting the current state is
 * a no-op that returns 0. */
NMO_WUR int hub_member_set_state(MDB_txn *txn, struct hub_store *st, const char *name,
                                 enum hub_member_state state, uint64_t now_ms,
                                 struct hub_member *out);

/* Calls fn for every member in id order; a negative return from fn stops. */
NMO_WUR int hub_member_foreach(MDB_txn *txn, struct hub_store *st,
                               int (*fn)(const struct hub_member *, void *), void *userdata);

/* Counts members by state: counts[state] for state 1..3. */
NMO_WUR int hub_member_count(MDB_txn *txn, struct hub_store *st, uint64_t counts[4]);
