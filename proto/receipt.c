/* receipt.c: see receipt.h. */
#include "receipt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hubkey.h"
#include "signed.h"

static const char receipt_context[] = "nmo-signal receipt v1";
static const char receipt_batch_context[] = "nmo-signal receipt batch v1";

const char *reason_name(Nmo__Reason reason)
{
        static const char *const names[] = {
                "none", "malformed", "unsupported-version", "oversized", "sender-mismatch",
                "decrypt-failed", "invalid-signal", "id-mismatch", "unknown-hub-key",
                "member-suspended", "member-revoked", "clock-skew", "rate-limited",
                "store-unavailable", "member-expired",
        };
        if ((unsigned int)reason < NMO_ARRAY_SIZE(names))
                return names[reason];
        return "unknown";
}

bool reason_is_temporary(Nmo__Reason reason)
{
        switch (reason) {
        case NMO__REASON__REASON_MEMBER_SUSPENDED:
        case NMO__REASON__REASON_CLOCK_SKEW:
        case NMO__REASON__REASON_RATE_LIMITED:
        case NMO__REASON__REASON_STORE_UNAVAILABLE:
        case NMO__REASON__REASON_MEMBER_EXPIRED:
                return true;
        default:
                return false;
        }
}

/* The batch form signs, under its own context, tree_size (4 bytes,
 * big-endian) || root. */
#define BATCH_BODY_BYTES (4 + RECEIPT_HASH_BYTES)

static void batch_body(uint32_t tree_size, const uint8_t root[RECEIPT_HASH_BYTES],
                       uint8_t m[BATCH_BODY_BYTES])
{
        m[0] = (uint8_t)(tree_size >> 24);
        m[1] = (uint8_t)(tree_size >> 16);
        m[2] = (uint8_t)(tree_size >> 8);
        m[3] = (uint8_t)tree_size;
        memcpy(m + 4, root, RECEIPT_HASH_BYTES);
}

/* Leaf hash: BLAKE2b-256(0x00 || body); inner node: BLAKE2b-256(0x01 || left ||
 * right). The tree is RFC 9162's (2.1.1) with that hash. */
static void leaf_hash(const uint8_t *body, size_t len, uint8_t out[RECEIPT_HASH_BYTES])
{
        crypto_generichash_state st;
        const uint8_t prefix = 0x00;

        crypto_generichash_init(&st, NULL, 0, RECEIPT_HASH_BYTES);
        crypto_generichash_update(&st, &prefix, 1);
        if (len)
                crypto_generichash_update(&st, body, len);
        crypto_generichash_final(&st, out, RECEIPT_HASH_BYTES);
}

static void node_hash(const uint8_t *left, const uint8_t *right, uint8_t out[RECEIPT_HASH_BYTES])
{
        uint8_t in[1 + 2 * RECEIPT_HASH_BYTES];

        in[0] = 0x01;
        memcpy(in + 1, left, RECEIPT_HASH_BYTES);
        memcpy(in + 1 + RECEIPT_HASH_BYTES, right, RECEIPT_HASH_BYTES);
        crypto_generichash(out, RECEIPT_HASH_BYTES, in, sizeof(in), NULL, 0);
}

int receipt_body_pack(const struct receipt *r, uint8_t **out, size_t *len)
{
        Nmo__ReceiptBody b = NMO__RECEIPT_BODY__INIT;
        uint8_t *body;
        size_t n;

        b.has_version = 1;
        b.version = 1;
        if (r->has_id) {
                b.has_signal_id = 1;
                b.signal_id.data = (uint8_t *)r->signal_id;
                b.signal_id.len = SIGNAL_ID_BYTES;
        }
        b.has_status = 1;
        b.status = r->status;
        b.has_reason = 1;
        b.reason = r->reason;
        if (r->detail[0])
                b.detail = (char *)r->detail;
        b.has_hub_time_ms = 1;
        b.hub_time_ms = r->hub_time_ms;
        b.has_envelope_hash = 1;
        b.envelope_hash.data = (uint8_t *)r->envelope_hash;
        b.envelope_hash.len = ENVELOPE_HASH_BYTES;
        b.has_member_key = 1;
        b.member_key.data = (uint8_t *)r->member_key;
        b.member_key.len = KEYS_KEY_BYTES;
        if (r->sequence) {
                b.has_sequence = 1;
                b.sequence = r->sequence;
        }
        n = nmo__receipt_body__get_packed_size(&b);
        body = malloc(n ? n : 1);
        if (!body)
                return -ENOMEM;
        *len = nmo__receipt_body__pack(&b, body);
        *out = body;
        return 0;
}

int receipt_sign(const struct receipt *r, const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES],
                 uint8_t **out, size_t *len)
{
        Nmo__SignedReceipt sr = NMO__SIGNED_RECEIPT__INIT;
        uint8_t sig[crypto_sign_BYTES];
        uint8_t *body = NULL, *buf = NULL;
        size_t body_len = 0, n;
        int ret;

        ret = receipt_body_pack(r, &body, &body_len);
        if (ret < 0)
                return ret;
        ret = signed_sign(receipt_context, body, body_len, sign_sk, sig);
        if (ret < 0)
                goto out;
        ret = -ENOMEM;
        sr.has_body = 1;
        sr.body.data = body;
        sr.body.len = body_len;
        sr.has_signature = 1;
        sr.signature.data = sig;
        sr.signature.len = sizeof(sig);
        n = nmo__signed_receipt__get_packed_size(&sr);
        buf = malloc(n);
        if (!buf)
                goto out;
        *len = nmo__signed_receipt__pack(&sr, buf);
        *out = buf;
        ret = 0;
out:
        free(body);
        return ret;
}

/* The tree over the n leaf hashes (n * RECEIPT_HASH_BYTES bytes at leaves),
 * level by level: level 0 is the leaves; a level's last node without a
 * sibling moves up unchanged (which gives RFC 9162's tree). Returns the
 * hashes, all levels one after the other, or NULL. */
static uint8_t *build_tree(const uint8_t *leaves, size_t n, size_t *levels)
{
        size_t total = 0, count = n, at = 0;
        uint8_t *h;

        *levels = 0;
        for (;;) {
                total += count;
                (*levels)++;
                if (count == 1)
                        break;
                count = (count + 1) / 2;
        }
        h = malloc(total * RECEIPT_HASH_BYTES);
        if (!h)
                return NULL;
        memcpy(h, leaves, n * RECEIPT_HASH_BYTES);
        count = n;
        while (count > 1) {
                uint8_t *lo = h + at * RECEIPT_HASH_BYTES;
                uint8_t *up = lo + count * RECEIPT_HASH_BYTES;

                for (size_t i = 0; i + 1 < count; i += 2)
                        node_hash(lo + i * RECEIPT_HASH_BYTES, lo + (i + 1) * RECEIPT_HASH_BYTES,
                                  up + (i / 2) * RECEIPT_HASH_BYTES);
                if (count % 2)
                        memcpy(up + (count / 2) * RECEIPT_HASH_BYTES,
                               lo + (count - 1) * RECEIPT_HASH_BYTES, RECEIPT_HASH_BYTES);
                at += count;
                count = (count + 1) / 2;
        }
        return h;
}

size_t receipt_batch_tree_size(size_t n)
{
        size_t size = RECEIPT_BATCH_MIN_TREE;

        while (size < n)
                size *= 2;
        return size;
}

int receipt_sign_batch(uint8_t *const *bodies, const size_t *lens, const bool *dup, size_t n,
                       const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES], uint8_t **frames,
                       size_t *frame_lens)
{
        return receipt_sign_batch_ann(bodies, lens, dup, n, sign_sk, NULL, NULL, 0, frames,
                                      frame_lens);
}

int receipt_sign_batch_ann(uint8_t *const *bodies, const size_t *lens, const bool *dup, size_t n,
                           const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES], const bool *announce,
                           const uint8_t *ann, size_t ann_len, uint8_t **frames,
                           size_t *frame_lens)
{
        uint32_t *perm = NULL;
        uint8_t *filler = NULL;
        size_t size;
        int r = -ENOMEM;

        if (n == 0 || n > RECEIPT_BATCH_MAX)
                return -EINVAL;
        size = receipt_batch_tree_size(n);
        perm = malloc(size * sizeof(*perm));
        filler = malloc((size - n) * RECEIPT_HASH_BYTES + 1);
        if (!perm || !filler)
                goto out;
        /* A uniformly random permutation of the leaves (Fisher-Yates); the
         * receipts take the first n places, random filler hashes the rest. */
        for (size_t i = 0; i < size; i++)
                perm[i] = (uint32_t)i;
        for (size_t i = size - 1; i > 0; i--) {
                size_t j = randombytes_uniform((uint32_t)(i + 1));
                uint32_t t = perm[i];

                perm[i] = perm[j];
                perm[j] = t;
        }
        randombytes_buf(filler, (size - n) * RECEIPT_HASH_BYTES);
        r = receipt_sign_batch_layout(bodies, lens, dup, n, size, perm, filler, sign_sk,
                                      announce, ann, ann_len, frames, frame_lens);
out:
        free(perm);
        free(filler);
        return r;
}

int receipt_sign_batch_layout(uint8_t *const *bodies, const size_t *lens, const bool *dup,
                              size_t n, size_t tree_size, const uint32_t *pos,
                              const uint8_t *filler, const uint8_t sign_sk[KEYS_SIGN_SECRET_BYTES],
                              const bool *announce, const uint8_t *ann, size_t ann_len,
                              uint8_t **frames, size_t *frame_lens)
{
        uint8_t msg[BATCH_BODY_BYTES], sig[crypto_sign_BYTES];
        uint8_t path[16 * RECEIPT_HASH_BYTES];
        size_t levels, root_at = 0, count = tree_size, f = 0;
        uint8_t *leaves, *tree, *used;

        if (n == 0 || tree_size < n || tree_size > RECEIPT_BATCH_MAX)
                return -EINVAL;
        leaves = malloc(tree_size * RECEIPT_HASH_BYTES);
        used = calloc(tree_size, 1);
        if (!leaves || !used) {
                free(leaves);
                free(used);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                if (pos[i] >= tree_size || used[pos[i]]) {
                        free(leaves);
                        free(used);
                        return -EINVAL;
                }
                used[pos[i]] = 1;
                leaf_hash(bodies[i], lens[i], leaves + pos[i] * RECEIPT_HASH_BYTES);
        }
        for (size_t l = 0; l < tree_size; l++) {
                if (!used[l])
                        memcpy(leaves + l * RECEIPT_HASH_BYTES, filler + f++ * RECEIPT_HASH_BYTES,
                               RECEIPT_HASH_BYTES);
        }
        free(used);
        tree = build_tree(leaves, tree_size, &levels);
        free(leaves);
        if (!tree)
                return -ENOMEM;
        for (size_t l = 0; l + 1 < levels; l++) {
                root_at += count;
                count = (count + 1) / 2;
        }
        batch_body((uint32_t)tree_size, tree + root_at * RECEIPT_HASH_BYTES, msg);
        if (signed_sign(receipt_batch_context, msg, sizeof(msg), sign_sk, sig) < 0) {
                free(tree);
                return -ENOMEM;
        }

        for (size_t i = 0; i < n; i++) {
                Nmo__SignedReceipt sr = NMO__SIGNED_RECEIPT__INIT;
                Nmo__Reply rp = NMO__REPLY__INIT;
                size_t plen = 0, idx = pos[i], at = 0, c = tree_size, size;
                uint8_t *buf;

                /* The path: at each level the sibling, when there is one. */
                for (size_t l = 0; l + 1 < levels; l++) {
                        size_t sib = idx ^ 1u;

                        if (sib < c) {
                                memcpy(path + plen, tree + (at + sib) * RECEIPT_HASH_BYTES,
                                       RECEIPT_HASH_BYTES);
                                plen += RECEIPT_HASH_BYTES;
                        }
                        at += c;
                        c = (c + 1) / 2;
                        idx >>= 1;
                }
                sr.has_body = 1;
                sr.body.data = bodies[i];
                sr.body.len = lens[i];
                sr.has_signature = 1;
                sr.signature.data = sig;
                sr.signature.len = sizeof(sig);
                sr.has_tree_size = 1;
                sr.tree_size = (uint32_t)tree_size;
                sr.has_leaf_index = 1;
                sr.leaf_index = pos[i];
                sr.has_path = 1;
                sr.path.data = path;
                sr.path.len = plen;
                rp.has_version = 1;
                rp.version = 1;
                rp.has_duplicate = 1;
                rp.duplicate = dup ? dup[i] : false;
                rp.receipt = &sr;
                if (announce && announce[i] && ann) {
                        rp.has_hub_key_announcement = 1;
                        rp.hub_key_announcement.data = (uint8_t *)ann;
                        rp.hub_key_announcement.len = ann_len;
                }
                size = nmo__reply__get_packed_size(&rp);
                buf = malloc(size);
                if (!buf) {
                        while (i--)
                                free(frames[i]);
                        free(tree);
                        return -ENOMEM;
                }
                frame_lens[i] = nmo__reply__pack(&rp, buf);
                frames[i] = buf;
        }
        free(tree);
        return 0;
}

/* Folds a leaf hash up its path (RFC 9162, 2.1.3.2) into root; false when the
 * path does not fit the index and size. */
static bool fold_path(uint32_t index, uint32_t size, const uint8_t leaf[RECEIPT_HASH_BYTES],
                      const uint8_t *path, size_t path_len, uint8_t root[RECEIPT_HASH_BYTES])
{
        uint32_t fn = index, sn;
        uint8_t r[RECEIPT_HASH_BYTES];

        if (size == 0 || index >= size || path_len % RECEIPT_HASH_BYTES != 0)
                return false;
        sn = size - 1;
        memcpy(r, leaf, RECEIPT_HASH_BYTES);
        for (size_t off = 0; off < path_len; off += RECEIPT_HASH_BYTES) {
                const uint8_t *p = path + off;

                if (sn == 0)
                        return false;
                if ((fn & 1u) || fn == sn) {
                        node_hash(p, r, r);
                        if (!(fn & 1u)) {
                                while (!(fn & 1u) && fn != 0) {
                                        fn >>= 1;
                                        sn >>= 1;
                                }
                        }
                } else {
                        node_hash(r, p, r);
                }
                fn >>= 1;
                sn >>= 1;
        }
        if (sn != 0)
                return false;
        memcpy(root, r, RECEIPT_HASH_BYTES);
        return true;
}

/* Checks the signature of sr under sign_pk: over the body (single form) or
 * over the root its path leads to (batch form). */
static int check_signature(const Nmo__SignedReceipt *sr, const uint8_t sign_pk[KEYS_KEY_BYTES],
                           struct receipt_cache *cache)
{
        uint8_t leaf[RECEIPT_HASH_BYTES], root[RECEIPT_HASH_BYTES], msg[BATCH_BODY_BYTES];
        int r;

        if (!sr->has_tree_size) {
                if (sr->has_leaf_index || sr->has_path)
                        return -EBADMSG;
                return signed_verify(receipt_context, sr->body.data, sr->body.len,
                                     sr->signature.data, sign_pk);
        }
        if (!sr->has_leaf_index || sr->tree_size == 0 || sr->tree_size > RECEIPT_BATCH_MAX ||
            sr->leaf_index >= sr->tree_size ||
            (sr->has_path && (sr->path.len > 16 * RECEIPT_HASH_BYTES ||
                              sr->path.len % RECEIPT_HASH_BYTES != 0)))
                return -EBADMSG;
        leaf_hash(sr->body.data, sr->body.len, leaf);
        if (!fold_path(sr->leaf_index, sr->tree_size, leaf, sr->has_path ? sr->path.data : NULL,
                       sr->has_path ? sr->path.len : 0, root))
                return -EKEYREJECTED;
        if (cache) {
                for (size_t i = 0; i < RECEIPT_CACHE_SLOTS; i++) {
                        if (cache->slot[i].used && cache->slot[i].tree_size == sr->tree_size &&
                            memcmp(cache->slot[i].root, root, sizeof(root)) == 0 &&
                            memcmp(cache->slot[i].signature, sr->signature.data, 64) == 0 &&
                            memcmp(cache->slot[i].sign_pk, sign_pk, KEYS_KEY_BYTES) == 0)
                                return 0;
                }
        }
        batch_body(sr->tree_size, root, msg);
        r = signed_verify(receipt_batch_context, msg, sizeof(msg), sr->signature.data, sign_pk);
        if (r < 0)
                return r;
        if (cache) {
                unsigned int s = cache->next++ % RECEIPT_CACHE_SLOTS;

                memcpy(cache->slot[s].sign_pk, sign_pk, KEYS_KEY_BYTES);
                memcpy(cache->slot[s].root, root, sizeof(root));
                memcpy(cache->slot[s].signature, sr->signature.data, 64);
                cache->slot[s].tree_size = sr->tree_size;
                cache->slot[s].used = true;
        }
        return 0;
}

int receipt_verify(const uint8_t *buf, size_t len, const uint8_t sign_pk[KEYS_KEY_BYTES],
                   struct receipt *r)
{
        return receipt_verify_cached(buf, len, sign_pk, NULL, r);
}

/* Checks a decoded SignedReceipt under sign_pk and decodes its body into r
 * (zeroed first). */
static int verify_signed(const Nmo__SignedReceipt *sr, const uint8_t sign_pk[KEYS_KEY_BYTES],
                         struct receipt_cache *cache, struct receipt *r)
{
        Nmo__ReceiptBody *b = NULL;
        int ret = -EBADMSG;

        memset(r, 0, sizeof(*r));
        if (!sr || !sr->has_body || !sr->has_signature || sr->signature.len != crypto_sign_BYTES)
                goto out;
        ret = check_signature(sr, sign_pk, cache);
        if (ret < 0)
                goto out;
        ret = -EBADMSG;
        b = nmo__receipt_body__unpack(NULL, sr->body.len, sr->body.data);
        if (!b || !b->has_version || b->version != 1 || !b->has_status ||
            (b->status != NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED &&
             b->status != NMO__RECEIPT_STATUS__RECEIPT_REJECTED) ||
            (b->has_signal_id && b->signal_id.len != SIGNAL_ID_BYTES) ||
            !b->has_envelope_hash || b->envelope_hash.len != ENVELOPE_HASH_BYTES ||
            !b->has_member_key || b->member_key.len != KEYS_KEY_BYTES ||
            (b->detail && strlen(b->detail) > RECEIPT_DETAIL_MAX))
                goto out;
        r->has_id = b->has_signal_id;
        if (r->has_id)
                memcpy(r->signal_id, b->signal_id.data, SIGNAL_ID_BYTES);
        r->status = b->status;
        r->reason = b->has_reason ? b->reason : NMO__REASON__REASON_NONE;
        if (b->detail)
                memcpy(r->detail, b->detail, strlen(b->detail) + 1);
        r->hub_time_ms = b->has_hub_time_ms ? b->hub_time_ms : 0;
        memcpy(r->envelope_hash, b->envelope_hash.data, ENVELOPE_HASH_BYTES);
        memcpy(r->member_key, b->member_key.data, KEYS_KEY_BYTES);
        r->sequence = b->has_sequence ? b->sequence : 0;
        ret = 0;
out:
        if (b)
                nmo__receipt_body__free_unpacked(b, NULL);
        return ret;
}

int receipt_verify_cached(const uint8_t *buf, size_t len, const uint8_t sign_pk[KEYS_KEY_BYTES],
                          struct receipt_cache *cache, struct receipt *r)
{
        Nmo__SignedReceipt *sr = NULL;
        int ret;

        memset(r, 0, sizeof(*r));
        if (len > RECEIPT_MAX)
                return -EBADMSG;
        sr = nmo__signed_receipt__unpack(NULL, len, buf);
        if (!sr)
                return -EBADMSG;
        ret = verify_signed(sr, sign_pk, cache, r);
        nmo__signed_receipt__free_unpacked(sr, NULL);
        return ret;
}

int reply_pack(bool duplicate, const uint8_t *signed_receipt, size_t signed_len,
               uint8_t **frame, size_t *len)
{
        return reply_pack_ann(duplicate, signed_receipt, signed_len, NULL, 0, frame, len);
}

int reply_pack_ann(bool duplicate, const uint8_t *signed_receipt, size_t signed_len,
                   const uint8_t *ann, size_t ann_len, uint8_t **frame, size_t *len)
{
        Nmo__Reply rp = NMO__REPLY__INIT;
        Nmo__SignedReceipt *sr;
        uint8_t *buf;
        size_t n;

        sr = nmo__signed_receipt__unpack(NULL, signed_len, signed_receipt);
        if (!sr)
                return -EBADMSG;
        rp.has_version = 1;
        rp.version = 1;
        rp.has_duplicate = 1;
        rp.duplicate = duplicate;
        rp.receipt = sr;
        if (ann) {
                rp.has_hub_key_announcement = 1;
                rp.hub_key_announcement.data = (uint8_t *)ann;
                rp.hub_key_announcement.len = ann_len;
        }
        n = nmo__reply__get_packed_size(&rp);
        buf = malloc(n);
        if (!buf) {
                nmo__signed_receipt__free_unpacked(sr, NULL);
                return -ENOMEM;
        }
        *len = nmo__reply__pack(&rp, buf);
        *frame = buf;
        nmo__signed_receipt__free_unpacked(sr, NULL);
        return 0;
}

/* Decodes a Reply frame of version 1 with a receipt into *ret (free with
 * nmo__reply__free_unpacked()) and copies its SignedReceipt out. */
static int reply_open(const uint8_t *frame, size_t len, Nmo__Reply **ret,
                      uint8_t **signed_receipt, size_t *signed_len)
{
        Nmo__Reply *rp;
        uint8_t *buf;

        *ret = NULL;
        if (len > RECEIPT_MAX)
                return -EBADMSG;
        rp = nmo__reply__unpack(NULL, len, frame);
        if (!rp)
                return -EBADMSG;
        if (!rp->has_version || rp->version != 1 || !rp->receipt) {
                nmo__reply__free_unpacked(rp, NULL);
                return -EBADMSG;
        }
        buf = malloc(nmo__signed_receipt__get_packed_size(rp->receipt));
        if (!buf) {
                nmo__reply__free_unpacked(rp, NULL);
                return -ENOMEM;
        }
        *signed_len = nmo__signed_receipt__pack(rp->receipt, buf);
        *signed_receipt = buf;
        *ret = rp;
        return 0;
}

int reply_unpack(const uint8_t *frame, size_t len, bool *duplicate, uint8_t **signed_receipt,
                 size_t *signed_len)
{
        Nmo__Reply *rp;
        int r = reply_open(frame, len, &rp, signed_receipt, signed_len);

        if (r < 0)
                return r;
        *duplicate = rp->has_duplicate && rp->duplicate;
        nmo__reply__free_unpacked(rp, NULL);
        return 0;
}

int reply_decode(const uint8_t *frame, size_t len, struct reply *out)
{
        int r;

        memset(out, 0, sizeof(*out));
        r = reply_open(frame, len, &out->msg, &out->signed_receipt, &out->signed_len);
        if (r < 0)
                return r;
        out->duplicate = out->msg->has_duplicate && out->msg->duplicate;
        if (out->msg->has_hub_key_announcement) {
                if (out->msg->hub_key_announcement.len == 0 ||
                    out->msg->hub_key_announcement.len > HUBKEY_ANNOUNCEMENT_MAX)
                        return -EBADMSG;
                out->announcement = out->msg->hub_key_announcement.data;
                out->announcement_len = out->msg->hub_key_announcement.len;
        }
        return 0;
}

int reply_verify(const struct reply *rp, const uint8_t sign_pk[KEYS_KEY_BYTES],
                 struct receipt_cache *cache, struct receipt *r)
{
        return verify_signed(rp->msg ? rp->msg->receipt : NULL, sign_pk, cache, r);
}

void reply_free(struct reply *rp)
{
        if (rp->msg)
                nmo__reply__free_unpacked(rp->msg, NULL);
        free(rp->signed_receipt);
        memset(rp, 0, sizeof(*rp));
}
