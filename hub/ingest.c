/* ingest.c: see ingest.h. */
#include "ingest.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "date.h"
#include "db.h"
#include "envelope.h"
#include "epochkey.h"
#include "hubkey.h"
#include "journal.h"
#include "log.h"
#include "member.h"
#include "period.h"
#include "records.h"
#include "store.pb-c.h"

/* The shared key with one member, cached by member id. */
struct shared_key {
        uint8_t payload[KEYS_KEY_BYTES];
        uint8_t key[crypto_box_BEFORENMBYTES];
        uint8_t valid;
        uint8_t owned;  /* the registry records payload's class as this member's */
};

/* Token bucket per member id. */
struct bucket {
        double tokens;
        uint64_t last_ms;
};

/* What hub_ingest_open() found for one item, for hub_ingest_commit(): the
 * frame decoded once, the rate decision, and the envelope opened under the
 * member's keys as the store showed them then. It holds plaintext: wiped
 * when freed. */
struct hub_opened {
        struct envelope_view view;
        bool rate_ok;
        bool found;                             /* the member was in the store */
        uint8_t member_key[KEYS_KEY_BYTES];     /* its payload key then */
        /* Set once opened: under member_key, with the retired hub keys or
         * not (prev); key_ok: the shared key could be computed; owned: the
         * registry gives member_key's class to this member (else not opened). */
        bool tried, prev, key_ok, owned;
        bool rotation;                          /* a key rotation, in rot */
        Nmo__Reason reason;                     /* the opener's verdict */
        uint8_t signal_id[SIGNAL_ID_BYTES];
        bool has_id;
        char detail[RECEIPT_DETAIL_MAX + 1];
        struct signal s;
        struct envelope_rotation rot;
};

struct hub_ingest {
        struct hub_store *st;
        const struct keys_secret *hub;
        struct hub_limits limits;
        uint8_t hub_key_id[ENVELOPE_KEY_ID_BYTES];
        struct shared_key *keys;   /* sodium_allocarray, nkeys entries */
        size_t nkeys;
        struct bucket *buckets;    /* plain memory, nbuckets entries */
        size_t nbuckets;
        struct hub_aggregate *ag;
        struct hub_journal *journal;    /* the aggregation's; NULL without one */
        /* Hub key rotation: the retired keys during the overlap, and the
         * announcement for envelopes sealed to the retired payload key. */
        const struct keys_secret *prev;
        struct shared_key *prev_keys;   /* as keys, with the retired payload key */
        size_t nprev_keys;
        const uint8_t *ann;
        size_t ann_len;
        uint8_t ann_key_id[ENVELOPE_KEY_ID_BYTES];
        uint8_t prev_key_id[ENVELOPE_KEY_ID_BYTES];
        /* Updated by the commit stage, read by the daemon's loop. */
        pthread_mutex_t totals_lock;
        struct hub_ingest_totals totals;
        /* The private store defers its meta page sync (MDB_NOMETASYNC): a
         * commit is durable once the next commit or a sync has flushed. */
        bool deferred;
        uint64_t committed_seq;         /* store sequence after the last commit */
        uint64_t failed_batches;        /* refused since the last log line */
        uint64_t last_failure_log_ms;
};

static int read_next_seq(MDB_txn *txn, void *userdata)
{
        struct hub_ingest *ig = userdata;

        return hub_store_meta_get(txn, ig->st, HUB_META_NEXT_SEQ, &ig->committed_seq);
}

/* Tells the aggregation how far the store is durable: it counts no signal
 * that a crash of the machine could still undo. */
static void durable_up_to(struct hub_ingest *ig, uint64_t seq)
{
        if (ig->journal && ig->deferred)
                hub_journal_durable(ig->journal, seq);
}

static int index_keys(MDB_txn *txn, void *userdata)
{
        struct hub_store *st = userdata;

        return hub_member_index_keys(txn, st);
}

int hub_ingest_new(struct hub_ingest **ret, struct hub_store *st, const struct keys_secret *hub,
                   const struct hub_limits *limits, struct hub_aggregate *ag)
{
        struct hub_ingest *ig = calloc(1, sizeof(*ig));
        unsigned int flags = 0;
        int r;

        if (!ig)
                return -ENOMEM;
        pthread_mutex_init(&ig->totals_lock, NULL);
        ig->st = st;
        ig->hub = hub;
        ig->limits = *limits;
        ig->ag = ag;
        ig->journal = ag ? hub_aggregate_journal(ag) : NULL;
        envelope_key_id(hub->pub.payload, ig->hub_key_id);
        /* The members' keys by class, for the check that a payload key is
         * its member's alone (a registry from before the index has none). */
        r = hub_store_write(st, index_keys, st);
        if (r < 0) {
                pthread_mutex_destroy(&ig->totals_lock);
                free(ig);
                return r;
        }
        ig->deferred = mdb_env_get_flags(st->env, &flags) == 0 && (flags & MDB_NOMETASYNC);
        if (ig->deferred) {
                /* Whatever is in the store now, durable now. */
                r = db_errno(mdb_env_sync(st->env, 1));
                if (r == 0)
                        r = hub_store_read(st, read_next_seq, ig);
                if (r < 0) {
                        pthread_mutex_destroy(&ig->totals_lock);
                        free(ig);
                        return r;
                }
                durable_up_to(ig, ig->committed_seq);
        }
        *ret = ig;
        return 0;
}

int hub_ingest_sync(struct hub_ingest *ig)
{
        int r = 0;

        if (ig->deferred) {
                r = db_errno(mdb_env_sync(ig->st->env, 1));
                if (r == 0)
                        durable_up_to(ig, ig->committed_seq);
        }
        return r;
}

static void shared_keys_free(struct shared_key **keys, size_t *n)
{
        if (*keys) {
                sodium_memzero(*keys, *n * sizeof(**keys));
                sodium_free(*keys);
        }
        *keys = NULL;
        *n = 0;
}

void hub_ingest_set_rotation(struct hub_ingest *ig, const struct keys_secret *prev,
                             const uint8_t *ann, size_t ann_len,
                             const uint8_t old_payload[KEYS_KEY_BYTES])
{
        shared_keys_free(&ig->prev_keys, &ig->nprev_keys);
        ig->prev = ann ? prev : NULL;
        ig->ann = ann;
        ig->ann_len = ann ? ann_len : 0;
        if (ann)
                envelope_key_id(old_payload, ig->ann_key_id);
        if (ig->prev)
                envelope_key_id(ig->prev->pub.payload, ig->prev_key_id);
}

void hub_ingest_free(struct hub_ingest *ig)
{
        if (!ig)
                return;
        shared_keys_free(&ig->keys, &ig->nkeys);
        shared_keys_free(&ig->prev_keys, &ig->nprev_keys);
        free(ig->buckets);
        pthread_mutex_destroy(&ig->totals_lock);
        free(ig);
}

bool hub_item_set_user(struct hub_item *item, const char *user_id)
{
        const char *colon = strchr(user_id, ':');
        char idtext[16];
        uint32_t id;

        if (!colon || (size_t)(colon - user_id) >= sizeof(idtext))
                return false;
        memcpy(idtext, user_id, (size_t)(colon - user_id));
        idtext[colon - user_id] = '\0';
        if (util_parse_u32(idtext, 1, UINT32_MAX, &id) < 0 ||
            util_unhex(colon + 1, item->key_tag, sizeof(item->key_tag)) < 0)
                return false;
        item->member_id = id;
        item->has_key_tag = true;
        return true;
}

static void opened_free(struct hub_opened *o)
{
        if (!o)
                return;
        envelope_view_free(&o->view);
        sodium_memzero(o, sizeof(*o));
        free(o);
}

/* Forgets an item's outcome, reply and receipt, but not what
 * hub_ingest_open() found (the write transaction may run again). */
static void item_reset(struct hub_item *item)
{
        free(item->reply);
        item->reply = NULL;
        item->reply_len = 0;
        free(item->body);
        item->body = NULL;
        item->body_len = 0;
        item->duplicate = false;
        item->old_hub_key = false;
        item->outcome = 0;
        item->reason = NMO__REASON__REASON_NONE;
}

void hub_item_clear(struct hub_item *item)
{
        item_reset(item);
        opened_free(item->opened);
        item->opened = NULL;
}

void hub_ingest_totals(struct hub_ingest *ig, struct hub_ingest_totals *out)
{
        pthread_mutex_lock(&ig->totals_lock);
        *out = ig->totals;
        pthread_mutex_unlock(&ig->totals_lock);
}

/* Returns the shared key with member m, computing it when new or changed;
 * with prev, the one with the retired payload key of a rotation. *owned says
 * whether the registry's index of used keys gives m's payload key's class to
 * m: a class recorded once keeps its member for good, so the answer is kept
 * with the key. */
static const uint8_t *shared_key(MDB_txn *txn, struct hub_ingest *ig, const struct hub_member *m,
                                 bool prev, bool *owned)
{
        struct shared_key **keys = prev ? &ig->prev_keys : &ig->keys;
        size_t *nkeys = prev ? &ig->nprev_keys : &ig->nkeys;
        const uint8_t *hub_sk = prev ? ig->prev->payload_sk : ig->hub->payload_sk;
        struct shared_key *e;

        if (m->id >= *nkeys) {
                size_t cap = *nkeys ? *nkeys : 64;
                struct shared_key *grown;

                while (cap <= m->id)
                        cap *= 2;
                /* Guarded, non-swappable memory; one block for all members. */
                grown = sodium_allocarray(cap, sizeof(*grown));
                if (!grown)
                        return NULL;
                sodium_memzero(grown, cap * sizeof(*grown));
                if (*keys) {
                        memcpy(grown, *keys, *nkeys * sizeof(*grown));
                        sodium_memzero(*keys, *nkeys * sizeof(*grown));
                        sodium_free(*keys);
                }
                *keys = grown;
                *nkeys = cap;
        }
        e = &(*keys)[m->id];
        if (!e->valid || sodium_memcmp(e->payload, m->payload, KEYS_KEY_BYTES) != 0) {
                uint32_t owner = 0;

                if (crypto_box_beforenm(e->key, m->payload, hub_sk) != 0) {
                        e->valid = 0;
                        return NULL;
                }
                memcpy(e->payload, m->payload, KEYS_KEY_BYTES);
                e->owned = hub_member_key_user(txn, ig->st, m->payload, &owner, NULL) == 0 &&
                           owner == m->id;
                e->valid = 1;
        }
        *owned = e->owned;
        return e->key;
}

/* Takes one token from member id's bucket; false when it is empty. */
static bool rate_take(struct hub_ingest *ig, uint32_t id, uint64_t now_ms)
{
        struct bucket *b;

        if (id >= ig->nbuckets) {
                size_t cap = ig->nbuckets ? ig->nbuckets : 64;
                struct bucket *grown;

                while (cap <= id)
                        cap *= 2;
                grown = realloc(ig->buckets, cap * sizeof(*grown));
                if (!grown)
                        return true; /* no memory to track: do not punish the member */
                memset(grown + ig->nbuckets, 0, (cap - ig->nbuckets) * sizeof(*grown));
                ig->buckets = grown;
                ig->nbuckets = cap;
        }
        b = &ig->buckets[id];
        if (b->last_ms == 0) {
                b->tokens = ig->limits.member_burst;
        } else if (now_ms > b->last_ms) {
                b->tokens += (double)(now_ms - b->last_ms) * ig->limits.member_rate / 1000.0;
                if (b->tokens > ig->limits.member_burst)
                        b->tokens = ig->limits.member_burst;
        }
        b->last_ms = now_ms;
        if (b->tokens < 1.0)
                return false;
        b->tokens -= 1.0;
        return true;
}

/* Members decoded in the running transaction. A batch holds the signals of a
 * few members, and decoding a member's record (protobuf) for each of them
 * cost more than every other check together; direct-mapped by id, as ids are
 * dense. Emptied at the start of every transaction (a transaction that runs
 * again after the map grew, too), and a member this transaction writes
 * (a key rotation) is dropped from it. */
#define MEMBER_MEMO 64

struct member_memo_entry {
        bool valid;
        uint32_t id;
        int ret;                /* 0 or -ENOENT */
        struct hub_member m;
};

struct member_memo {
        struct member_memo_entry e[MEMBER_MEMO];
};

static void memo_clear(struct member_memo *mm)
{
        for (size_t i = 0; i < MEMBER_MEMO; i++)
                mm->e[i].valid = false;
}

static void memo_forget(struct member_memo *mm, uint32_t id)
{
        mm->e[id % MEMBER_MEMO].valid = false;
}

/* hub_member_by_id() through the memo. */
static int memo_member(struct member_memo *mm, MDB_txn *txn, struct hub_store *st, uint32_t id,
                       struct hub_member *out)
{
        struct member_memo_entry *e = &mm->e[id % MEMBER_MEMO];
        int r;

        if (e->valid && e->id == id) {
                if (e->ret == 0)
                        *out = e->m;
                return e->ret;
        }
        r = hub_member_by_id(txn, st, id, out);
        if (r == 0 || r == -ENOENT) {
                e->valid = true;
                e->id = id;
                e->ret = r;
                if (r == 0)
                        e->m = *out;
        }
        return r;
}

struct batch {
        struct hub_ingest *ig;
        uint64_t last_seq;      /* the store sequence at the end of the batch */
        struct hub_item *items;         /* each with what hub_ingest_open() found */
        size_t n;
        uint64_t now_ms;
        uint64_t accepted, duplicates, rejected;
        uint64_t by_reason[RECEIPT_REASON_LAST + 1];
        struct member_memo memo;
};

/* Was the frame sealed to the payload key the last rotation retired? */
static bool names_old_key(const struct hub_ingest *ig, const struct envelope_view *v)
{
        uint8_t id[ENVELOPE_KEY_ID_BYTES];

        return ig->ann && envelope_view_hub_key_id(v, id) &&
               memcmp(id, ig->ann_key_id, sizeof(id)) == 0;
}

/* Keeps the receipt body for it; the batch is signed after the commit. */
static int set_body(struct hub_item *it, const struct receipt *r)
{
        free(it->body);
        it->body = NULL;
        return receipt_body_pack(r, &it->body, &it->body_len);
}

/* Keeps a copy of a stored body (a repeat gets the original receipt). */
static int set_stored_body(struct hub_item *it, const uint8_t *body, size_t len)
{
        free(it->body);
        it->body = malloc(len ? len : 1);
        if (!it->body)
                return -ENOMEM;
        if (len)
                memcpy(it->body, body, len);
        it->body_len = len;
        it->duplicate = true;
        return 0;
}

/* The answer to a repeat of a stored signal: the original receipt while
 * the record holds its body; once the epoch closed (the record cut down, the
 * key destroyed) a fresh receipt, accepted and dated the epoch's start, for
 * the frame as received now (r: its envelope hash, id and member key). */
static int stored_body(struct hub_ingest *ig, struct hub_item *it,
                       const Nmo__Hub__SignalRecord *old, struct receipt *r)
{
        struct hub_epoch_key ek;
        uint32_t epoch = hub_record_epoch(old);
        bool have_key = false;
        uint8_t *body = NULL;
        size_t len = 0;
        int ret;

        if (old->has_sealed && ig->ag) {
                ret = hub_aggregate_epoch_key(ig->ag, epoch, &ek);
                if (ret < 0 && ret != -ENOENT)
                        return ret;
                have_key = ret == 0;
        }
        ret = hub_record_body(old, have_key ? &ek : NULL, &body, &len);
        if (have_key)
                sodium_memzero(&ek, sizeof(ek));
        if (ret == 0) {
                ret = set_stored_body(it, body, len);
                free(body);
                return ret;
        }
        if (ret != -ENOENT)
                return ret;
        r->status = NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;
        r->reason = NMO__REASON__REASON_NONE;
        r->hub_time_ms = epoch ? period_month_start_ms(epoch) : 0;
        snprintf(r->detail, sizeof(r->detail), "stored before, in an epoch that has closed");
        ret = set_body(it, r);
        if (ret == 0)
                it->duplicate = true;
        return ret;
}

/* Signs the receipts of the items of items[0..n) that use the retired keys
 * (prev) or the current ones under one Merkle root and packs a reply for each;
 * a frame sealed to the retired payload key also gets the announcement. */
static int sign_group(struct hub_ingest *ig, struct hub_item *items, size_t n, bool prev)
{
        uint8_t **bodies = NULL, **frames = NULL;
        size_t *lens = NULL, *flens = NULL, *at = NULL, m = 0;
        bool *dup = NULL, *announce = NULL;
        int ret = -ENOMEM;

        bodies = calloc(n, sizeof(*bodies));
        frames = calloc(n, sizeof(*frames));
        lens = calloc(n, sizeof(*lens));
        flens = calloc(n, sizeof(*flens));
        at = calloc(n, sizeof(*at));
        dup = calloc(n, sizeof(*dup));
        announce = calloc(n, sizeof(*announce));
        if (!bodies || !frames || !lens || !flens || !at || !dup || !announce)
                goto out;
        for (size_t i = 0; i < n; i++) {
                /* Until it has the announcement, such a node trusts the old key only. */
                if ((items[i].old_hub_key && ig->prev) != prev)
                        continue;
                if (!items[i].body) {
                        ret = -EINVAL;
                        goto out;
                }
                bodies[m] = items[i].body;
                lens[m] = items[i].body_len;
                dup[m] = items[i].duplicate;
                /* A node that sealed to the retired key learns the new keys here. */
                announce[m] = items[i].old_hub_key && ig->ann;
                at[m++] = i;
        }
        ret = 0;
        if (m == 0)
                goto out;
        ret = receipt_sign_batch_ann(bodies, lens, dup, m,
                                     prev ? ig->prev->sign_sk : ig->hub->sign_sk, announce,
                                     ig->ann, ig->ann_len, frames, flens);
        if (ret < 0)
                goto out;
        for (size_t j = 0; j < m; j++) {
                free(items[at[j]].reply);
                items[at[j]].reply = frames[j];
                items[at[j]].reply_len = flens[j];
        }
out:
        free(bodies);
        free(frames);
        free(lens);
        free(flens);
        free(at);
        free(dup);
        free(announce);
        return ret;
}

/* Signs the receipts of items[0..n): one Merkle root per signing key. */
static int sign_replies(struct hub_ingest *ig, struct hub_item *items, size_t n)
{
        int ret;

        if (n == 0)
                return 0;
        ret = sign_group(ig, items, n, false);
        if (ret == 0 && ig->prev)
                ret = sign_group(ig, items, n, true);
        return ret;
}

static int reject(struct batch *b, struct hub_item *it, struct receipt *r, Nmo__Reason reason,
                  const char *detail)
{
        it->outcome = HUB_OUTCOME_REJECTED;
        it->reason = reason;
        r->status = NMO__RECEIPT_STATUS__RECEIPT_REJECTED;
        r->reason = reason;
        if (detail && detail != r->detail)
                snprintf(r->detail, sizeof(r->detail), "%s", detail);
        b->rejected++;
        if ((unsigned int)reason < NMO_ARRAY_SIZE(b->by_reason))
                b->by_reason[reason]++;
        return set_body(it, r);
}

/* Writes the dedup record (records.h): the epoch, and the receipt body
 * sealed under the epoch's key (in the clear without aggregation). No time
 * but the receipt's hour, and that inside the sealed body. */
static int put_record(MDB_txn *txn, struct hub_ingest *ig, MDB_val *k, const struct hub_item *it,
                      uint64_t now_ms)
{
        struct hub_epoch_key ek;
        uint32_t month = period_month_of_day(date_day_of_ms(now_ms));
        bool have_key = false;
        uint8_t *buf = NULL;
        MDB_val v;
        int ret;

        if (ig->ag) {
                ret = hub_aggregate_record_key(ig->ag, txn, now_ms, &month, &ek);
                if (ret < 0)
                        return ret;
                have_key = true;
        }
        ret = hub_record_pack(month, have_key ? &ek : NULL, it->body, it->body_len, &buf,
                              &v.mv_size);
        if (have_key)
                sodium_memzero(&ek, sizeof(ek));
        if (ret < 0)
                return ret;
        v.mv_data = buf;
        ret = db_errno(mdb_put(txn, ig->st->signals, k, &v, MDB_NOOVERWRITE));
        free(buf);
        return ret;
}

static int store_signal(MDB_txn *txn, struct batch *b, struct hub_item *it,
                        const struct hub_member *m, const struct signal *s, struct receipt *r)
{
        struct hub_ingest *ig = b->ig;
        uint8_t key[4 + SIGNAL_ID_BYTES];
        MDB_val k = { sizeof(key), key }, v;
        uint64_t seq = 0;
        int ret;

        hub_store_put_u32(key, m->id);
        memcpy(key + 4, s->id, SIGNAL_ID_BYTES);
        ret = mdb_get(txn, ig->st->signals, &k, &v);
        if (ret == MDB_NOTFOUND) {
                /* Stored in an epoch that has closed since (records.h). */
                uint8_t closed[HUB_RECORD_CLOSED_KEY_BYTES];
                MDB_val ck = { sizeof(closed), closed };

                hub_record_closed_key(key, closed);
                ret = mdb_get(txn, ig->st->signals, &ck, &v);
        }
        if (ret == 0) {
                Nmo__Hub__SignalRecord *old =
                        nmo__hub__signal_record__unpack(NULL, v.mv_size, v.mv_data);

                ret = old ? stored_body(ig, it, old, r) : -EBADMSG;
                if (old)
                        nmo__hub__signal_record__free_unpacked(old, NULL);
                if (ret == -EBADMSG)
                        log_error("private store: damaged record for a stored signal");
                if (ret == 0) {
                        it->outcome = HUB_OUTCOME_DUPLICATE;
                        b->duplicates++;
                }
                return ret;
        }
        if (ret != MDB_NOTFOUND)
                return db_errno(ret);
        /* The store's own sequence keys the journal; receipts no longer carry
         * it (a global counter tells a member how many others sent). */
        ret = hub_store_meta_add(txn, ig->st, HUB_META_NEXT_SEQ, 1, &seq);
        if (ret < 0)
                return ret;
        r->status = NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;
        r->reason = NMO__REASON__REASON_NONE;
        ret = set_body(it, r);
        if (ret < 0)
                return ret;
        /* The dedup record keeps the receipt only; the content goes to the
         * aggregation under the epoch's pseudonym, never next to the member id. */
        if (ig->ag) {
                ret = hub_aggregate_add(ig->ag, txn, m->id, seq, s, b->now_ms);
                if (ret < 0)
                        return ret;
        }
        ret = put_record(txn, ig, &k, it, b->now_ms);
        if (ret < 0)
                return ret;
        it->outcome = HUB_OUTCOME_ACCEPTED;
        b->accepted++;
        return 0;
}

/* A member announces new keys, sealed with its current ones. Stored once
 * like a signal (a repeat gets the original receipt); the member's keys change
 * in the same transaction. o: the rotation as opened. */
static int process_rotation(MDB_txn *txn, struct batch *b, struct hub_item *it,
                            const struct hub_member *m, const struct hub_opened *o,
                            struct receipt *r)
{
        struct hub_ingest *ig = b->ig;
        uint8_t key[4 + SIGNAL_ID_BYTES];
        MDB_val k = { sizeof(key), key };
        int ret;

        if (o->reason != NMO__REASON__REASON_NONE)
                return reject(b, it, r, o->reason, r->detail);
        hub_store_put_u32(key, m->id);
        memcpy(key + 4, r->signal_id, SIGNAL_ID_BYTES);
        ret = hub_member_rotate(txn, ig->st, m->id, o->rot.new_transport, o->rot.new_payload,
                                b->now_ms, NULL);
        memo_forget(&b->memo, m->id);
        if (ret == -EEXIST)
                return reject(b, it, r, NMO__REASON__REASON_INVALID_SIGNAL,
                              "a new key is one that a member has used before (keys are never "
                              "reused); generate new keys");
        if (ret == -EINVAL)
                return reject(b, it, r, NMO__REASON__REASON_INVALID_SIGNAL,
                              "the new keys are not usable (all zeros, small order, or the "
                              "same key twice)");
        if (ret < 0)
                return ret;
        r->status = NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED;
        r->reason = NMO__REASON__REASON_NONE;
        snprintf(r->detail, sizeof(r->detail), "keys rotated; reconnect with the new keys");
        ret = set_body(it, r);
        if (ret < 0)
                return ret;
        ret = put_record(txn, ig, &k, it, b->now_ms);
        if (ret == 0) {
                it->outcome = HUB_OUTCOME_ACCEPTED;
                log_info("member %s rotated its keys", m->name);
        }
        return ret;
}

/* Opens it's envelope into o under k, the key shared with member m (NULL:
 * not usable), with the retired hub keys when prev; owned: the registry
 * gives m's payload key's class to m (otherwise nothing is opened). */
static void open_under(struct hub_ingest *ig, const struct hub_member *m, const uint8_t *k,
                       bool prev, bool owned, struct hub_opened *o)
{
        struct envelope_opener op;

        sodium_memzero(&o->s, sizeof(o->s));
        o->tried = true;
        o->prev = prev;
        o->key_ok = k != NULL;
        o->owned = owned;
        o->reason = NMO__REASON__REASON_NONE;
        o->detail[0] = '\0';
        o->has_id = envelope_view_id(&o->view, o->signal_id);
        memcpy(o->member_key, m->payload, KEYS_KEY_BYTES);
        if (!k || !owned)
                return;
        op.member_payload_pk = m->payload;
        op.shared_key = k;
        op.hub_key_id = prev ? ig->prev_key_id : ig->hub_key_id;
        o->rotation = envelope_view_kind(&o->view) == NMO__ENVELOPE_KIND__ENVELOPE_KEY_ROTATION;
        if (o->rotation)
                o->reason = envelope_view_open_rotation(&o->view, &op, &o->rot, o->signal_id,
                                                        &o->has_id, o->detail,
                                                        sizeof(o->detail));
        else
                o->reason = envelope_view_open(&o->view, &op, &o->s, o->signal_id, &o->has_id,
                                               o->detail, sizeof(o->detail));
}

/* Opens again inside the write transaction, when the member's keys are not
 * those hub_ingest_open() used (a rotation committed in between). The shared
 * key is computed here and not cached: the cache belongs to the thread that
 * runs hub_ingest_open(). */
static void open_again(MDB_txn *txn, struct hub_ingest *ig, const struct hub_member *m,
                       bool prev, struct hub_opened *o)
{
        uint8_t k[crypto_box_BEFORENMBYTES];
        uint32_t owner = 0;
        bool ok = crypto_box_beforenm(k, m->payload,
                                      prev ? ig->prev->payload_sk : ig->hub->payload_sk) == 0;
        bool owned = hub_member_key_user(txn, ig->st, m->payload, &owner, NULL) == 0 &&
                     owner == m->id;

        open_under(ig, m, ok ? k : NULL, prev, owned, o);
        sodium_memzero(k, sizeof(k));
}

static int process_one(MDB_txn *txn, struct batch *b, size_t i)
{
        struct hub_ingest *ig = b->ig;
        struct hub_item *it = &b->items[i];
        struct hub_opened *o = it->opened;
        const struct envelope_view *v = &o->view;
        struct hub_member m;
        struct receipt r;
        bool prev;
        int ret;

        memset(&r, 0, sizeof(r));
        /* The hour only: an exact time helps link a report to its member. */
        r.hub_time_ms = receipt_hour_ms(b->now_ms);
        envelope_hash(v->frame, v->len, r.envelope_hash);
        /* Refusals before the envelope is opened must still name the signal,
         * or the node could not tell which of its signals was refused. */
        r.has_id = envelope_view_id(v, r.signal_id);
        it->old_hub_key = names_old_key(ig, v);

        ret = it->member_id ? memo_member(&b->memo, txn, ig->st, it->member_id, &m) : -ENOENT;
        if (ret == -ENOENT)
                return reject(b, it, &r, NMO__REASON__REASON_MEMBER_REVOKED,
                              "connection is not from an enrolled member");
        if (ret < 0)
                return ret;
        memcpy(r.member_key, m.payload, KEYS_KEY_BYTES);
        if (m.state == HUB_MEMBER_REVOKED)
                return reject(b, it, &r, NMO__REASON__REASON_MEMBER_REVOKED,
                              "member key revoked by the hub operator");
        if (m.state == HUB_MEMBER_SUSPENDED)
                return reject(b, it, &r, NMO__REASON__REASON_MEMBER_SUSPENDED,
                              "member suspended by the hub operator; will be accepted once "
                              "resumed");
        /* A connection opened with a key the member has since rotated out. */
        if (it->has_key_tag && memcmp(it->key_tag, m.transport, sizeof(it->key_tag)) != 0)
                return reject(b, it, &r, NMO__REASON__REASON_MEMBER_REVOKED,
                              "this connection was opened with a key the member has replaced; "
                              "reconnect with the new key");
        if (hub_member_expired(&m, b->now_ms))
                return reject(b, it, &r, NMO__REASON__REASON_MEMBER_EXPIRED,
                              "member key expired; the hub operator can renew it");
        if (it->extra_parts)
                return reject(b, it, &r, NMO__REASON__REASON_MALFORMED,
                              "a message must be exactly one frame");
        if (!o->rate_ok)
                return reject(b, it, &r, NMO__REASON__REASON_RATE_LIMITED,
                              "member above its rate limit; retry later");
        /* During a rotation's overlap, the retired payload key still opens.
         * The envelope was opened before the transaction under the keys the
         * store showed then; when they are not the member's keys now, it is
         * opened again here. */
        prev = it->old_hub_key && ig->prev;
        if (!o->tried || o->prev != prev ||
            sodium_memcmp(o->member_key, m.payload, KEYS_KEY_BYTES) != 0)
                open_again(txn, ig, &m, prev, o);
        if (!o->key_ok)
                return reject(b, it, &r, NMO__REASON__REASON_DECRYPT_FAILED,
                              "member payload key is not usable");
        /* A box opens under one member only when no two members hold
         * payload keys of one class; a registry from before that was checked
         * may hold such a pair, and then only the member the class was
         * recorded for is heard (PROTOCOL.md 7, step 4). */
        if (!o->owned)
                return reject(b, it, &r, NMO__REASON__REASON_SENDER_MISMATCH,
                              "sealed by a key other than this connection's member");
        memcpy(r.signal_id, o->signal_id, SIGNAL_ID_BYTES);
        r.has_id = o->has_id;
        snprintf(r.detail, sizeof(r.detail), "%s", o->detail);
        if (o->rotation)
                return process_rotation(txn, b, it, &m, o, &r);
        if (o->reason == NMO__REASON__REASON_NONE &&
            o->s.created_ms > b->now_ms + SIGNAL_CLOCK_SKEW_MS) {
                snprintf(r.detail, sizeof(r.detail),
                         "signal dated %llu s ahead of the hub clock; check the node's clock",
                         (unsigned long long)((o->s.created_ms - b->now_ms) / 1000u));
                return reject(b, it, &r, NMO__REASON__REASON_CLOCK_SKEW, r.detail);
        }
        if (o->reason != NMO__REASON__REASON_NONE)
                return reject(b, it, &r, o->reason, r.detail);
        return store_signal(txn, b, it, &m, &o->s, &r);
}

static int batch_txn(MDB_txn *txn, void *userdata)
{
        struct batch *b = userdata;
        char name[64];
        int r = 0;

        /* This may run again after the map grew: start clean. */
        memo_clear(&b->memo);
        b->accepted = b->duplicates = b->rejected = 0;
        memset(b->by_reason, 0, sizeof(b->by_reason));
        for (size_t i = 0; i < b->n; i++) {
                item_reset(&b->items[i]);
                r = process_one(txn, b, i);
                if (r < 0)
                        return r;
        }
        /* Twice what the batch journals: the journal shrinks, a little at a
         * time, so no batch pays for a whole fold's worth of deletes. */
        if (b->ig->journal)
                r = hub_journal_trim(b->ig->journal, txn, 2 * b->n + 16);
        if (!r && b->accepted)
                r = hub_store_meta_add(txn, b->ig->st, HUB_META_SIGNALS, b->accepted, NULL);
        if (!r && b->duplicates)
                r = hub_store_meta_add(txn, b->ig->st, HUB_META_DUPLICATES, b->duplicates, NULL);
        if (!r && b->rejected)
                r = hub_store_meta_add(txn, b->ig->st, HUB_META_REJECTED, b->rejected, NULL);
        for (size_t i = 0; !r && i < NMO_ARRAY_SIZE(b->by_reason); i++) {
                if (!b->by_reason[i])
                        continue;
                snprintf(name, sizeof(name), "%s.%s", HUB_META_REJECTED,
                         reason_name((Nmo__Reason)i));
                r = hub_store_meta_add(txn, b->ig->st, name, b->by_reason[i], NULL);
        }
        if (!r)
                r = hub_store_meta_get(txn, b->ig->st, HUB_META_NEXT_SEQ, &b->last_seq);
        return r;
}

/* When nothing could be committed: every item gets a signed temporary
 * refusal. An item that hub_ingest_open() did not reach (no memory) has its
 * frame decoded here, once. */
static void refuse_all(struct hub_ingest *ig, struct hub_item *items, size_t n, uint64_t now_ms)
{
        for (size_t i = 0; i < n; i++) {
                struct hub_item *it = &items[i];
                const struct hub_opened *o = it->opened;
                struct envelope_view own;
                const struct envelope_view *v = o ? &o->view : &own;
                struct receipt r;

                if (!o)
                        envelope_view_parse(&own, it->frame, it->len);
                item_reset(it);
                it->old_hub_key = names_old_key(ig, v);
                memset(&r, 0, sizeof(r));
                r.hub_time_ms = receipt_hour_ms(now_ms);
                envelope_hash(v->frame, v->len, r.envelope_hash);
                r.has_id = envelope_view_id(v, r.signal_id);
                if (!o)
                        envelope_view_free(&own);
                /* The member's key as last seen; without it the node treats the
                 * reply as foreign and simply retries later, which is fine too. */
                if (o && o->found)
                        memcpy(r.member_key, o->member_key, KEYS_KEY_BYTES);
                r.status = NMO__RECEIPT_STATUS__RECEIPT_REJECTED;
                r.reason = NMO__REASON__REASON_STORE_UNAVAILABLE;
                snprintf(r.detail, sizeof(r.detail), "hub cannot store durably now; retry later");
                it->outcome = HUB_OUTCOME_REJECTED;
                it->reason = r.reason;
                if (set_body(it, &r) < 0)
                        break;
        }
        if (sign_replies(ig, items, n) < 0)
                log_error("cannot build the store-unavailable replies");
        pthread_mutex_lock(&ig->totals_lock);
        ig->totals.rejected += n;
        pthread_mutex_unlock(&ig->totals_lock);
}

/* Wipes and frees what hub_ingest_open() kept for items[0..n). */
static void opened_free_all(struct hub_item *items, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                opened_free(items[i].opened);
                items[i].opened = NULL;
        }
}

struct open_ctx {
        struct hub_ingest *ig;
        struct hub_item *items;
        size_t n;
        uint64_t now_ms;
        struct member_memo memo;
};

/* Opens, in a read transaction, every envelope that the checks before the
 * opening would let through as the store is now; hub_ingest_commit() checks
 * again in the write transaction and opens again what that changed. */
static int open_txn(MDB_txn *txn, void *userdata)
{
        struct open_ctx *c = userdata;
        struct hub_ingest *ig = c->ig;

        memo_clear(&c->memo);

        for (size_t i = 0; i < c->n; i++) {
                struct hub_item *it = &c->items[i];
                struct hub_opened *o = it->opened;
                struct hub_member m;
                const uint8_t *k;
                bool owned = false, prev;

                if (!o || !it->member_id ||
                    memo_member(&c->memo, txn, ig->st, it->member_id, &m) < 0)
                        continue;
                o->found = true;
                memcpy(o->member_key, m.payload, KEYS_KEY_BYTES);
                /* Refused before the opening anyway. */
                if (m.state != HUB_MEMBER_ACTIVE || it->extra_parts || !o->rate_ok ||
                    (it->has_key_tag &&
                     memcmp(it->key_tag, m.transport, sizeof(it->key_tag)) != 0) ||
                    hub_member_expired(&m, c->now_ms))
                        continue;
                prev = names_old_key(ig, &o->view) && ig->prev;
                k = shared_key(txn, ig, &m, prev, &owned);
                open_under(ig, &m, k, prev, owned, o);
        }
        return 0;
}

int hub_ingest_open(struct hub_ingest *ig, struct hub_item *items, size_t n)
{
        struct open_ctx c = { .ig = ig, .items = items, .n = n, .now_ms = util_now_ms() };
        int r = 0;

        /* Rate decisions are made once, here, outside the transaction that
         * may rerun; each frame is decoded once, and every step reads the view. */
        for (size_t i = 0; i < n; i++) {
                struct hub_opened *o;

                opened_free(items[i].opened);
                o = items[i].opened = calloc(1, sizeof(*o));
                if (!o) {
                        r = -ENOMEM;
                        continue;
                }
                envelope_view_parse(&o->view, items[i].frame, items[i].len);
                o->rate_ok = rate_take(ig, items[i].member_id, c.now_ms);
        }
        /* A failed read only means everything is opened in the write
         * transaction instead. */
        if (n && hub_store_read(ig->st, open_txn, &c) < 0)
                log_debug("cannot read the private store before a batch; opening inside it");
        return r;
}

int hub_ingest_commit(struct hub_ingest *ig, struct hub_item *items, size_t n)
{
        struct batch b;
        uint64_t started;
        int r;

        memset(&b, 0, sizeof(b));
        b.ig = ig;
        b.items = items;
        b.n = n;
        b.now_ms = util_now_ms();
        for (size_t i = 0; i < n; i++) {
                if (!items[i].opened) {
                        refuse_all(ig, items, n, b.now_ms);
                        opened_free_all(items, n);
                        return -ENOMEM;
                }
        }
        started = util_mono_ms();
        r = hub_store_write(ig->st, batch_txn, &b);
        if (r < 0) {
                /* At most one line a second while the store stays unwritable
                 * (a full disk refuses every batch), with the count since. */
                ig->failed_batches++;
                if (util_mono_ms() - ig->last_failure_log_ms >= 1000) {
                        log_error("cannot commit to the private store: %s; answering "
                                  "store-unavailable so nodes retry (%llu batches refused "
                                  "since the last report)", strerror(-r),
                                  (unsigned long long)ig->failed_batches);
                        ig->last_failure_log_ms = util_mono_ms();
                        ig->failed_batches = 0;
                }
                refuse_all(ig, items, n, b.now_ms);
                opened_free_all(items, n);
                return r;
        }
        /* The plaintext is not needed any more. */
        opened_free_all(items, n);
        /* This commit flushed the one before it, and, without deferral, itself. */
        durable_up_to(ig, ig->committed_seq);
        ig->committed_seq = b.last_seq;
        if (!ig->deferred)
                durable_up_to(ig, ig->committed_seq);
        r = sign_replies(ig, items, n);
        if (r < 0) {
                /* Committed but unanswered: the nodes resend and get duplicates. */
                log_error("cannot sign the receipts of a batch: %s", strerror(-r));
                for (size_t i = 0; i < n; i++)
                        item_reset(&items[i]);
        }
        pthread_mutex_lock(&ig->totals_lock);
        ig->totals.accepted += b.accepted;
        ig->totals.duplicates += b.duplicates;
        ig->totals.rejected += b.rejected;
        ig->totals.batches++;
        pthread_mutex_unlock(&ig->totals_lock);
        /* serve -v: one line a batch, counts only (never who or what). */
        log_debug("batch of %zu: %llu accepted, %llu duplicates, %llu refused; committed and "
                  "signed in %llu ms", n, (unsigned long long)b.accepted,
                  (unsigned long long)b.duplicates, (unsigned long long)b.rejected,
                  (unsigned long long)(util_mono_ms() - started));
        return 0;
}

int hub_ingest_batch(struct hub_ingest *ig, struct hub_item *items, size_t n)
{
        /* An item left without what the opening finds is refused in the commit. */
        if (hub_ingest_open(ig, items, n) < 0)
                log_error("no memory to prepare a batch of %zu envelopes", n);
        return hub_ingest_commit(ig, items, n);
}

void hub_ingest_set_rates(struct hub_ingest *ig, const struct hub_limits *limits)
{
        ig->limits.member_rate = limits->member_rate;
        ig->limits.member_burst = limits->member_burst;
}
