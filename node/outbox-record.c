/* outbox-record.c: the outbox's record codec and the small pieces every
 * file of the outbox shares (outbox-db.h): records, the pending and index
 * entries, and the one write transaction helper. */
#include <errno.h>
#include <string.h>
#include <lmdb.h>

#include "db.h"
#include "outbox-db.h"
#include "receipt.h"

void outbox_put_be64(uint8_t out[8], uint64_t v)
{
        for (int i = 7; i >= 0; i--) {
                out[i] = (uint8_t)(v & 0xff);
                v >>= 8;
        }
}

uint64_t outbox_get_be64(const uint8_t in[8])
{
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = (v << 8) | in[i];
        return v;
}

/* Decodes and checks one record value. The caller frees *ret with
 * nmo__node__record__free_unpacked(). */
int outbox_record_decode(const MDB_val *v, Nmo__Node__Record **ret)
{
        Nmo__Node__Record *rec;

        if (v->mv_size == 0 || v->mv_size > OUTBOX_RECORD_MAX)
                return -EBADMSG;
        rec = nmo__node__record__unpack(NULL, v->mv_size, v->mv_data);
        if (!rec)
                return -EBADMSG;
        if (!rec->has_signal_id || rec->signal_id.len != SIGNAL_ID_BYTES || !rec->has_envelope ||
            rec->envelope.len == 0 || rec->envelope.len > ENVELOPE_MAX || !rec->has_state ||
            rec->state < NMO__NODE__STATE__STATE_QUEUED ||
            rec->state > NMO__NODE__STATE__STATE_REJECTED ||
            (rec->has_signed_receipt && rec->signed_receipt.len > RECEIPT_MAX) ||
            rec->n_former > OUTBOX_FORMER_MAX) {
                nmo__node__record__free_unpacked(rec, NULL);
                return -EBADMSG;
        }
        for (size_t i = 0; i < rec->n_former; i++) {
                const Nmo__Node__FormerEnvelope *f = rec->former[i];

                if (!f->has_hash || f->hash.len != ENVELOPE_HASH_BYTES || !f->has_member_key ||
                    f->member_key.len != OUTBOX_KEY_BYTES) {
                        nmo__node__record__free_unpacked(rec, NULL);
                        return -EBADMSG;
                }
        }
        *ret = rec;
        return 0;
}

int outbox_record_load(struct outbox *ob, MDB_txn *txn, uint64_t seq, Nmo__Node__Record **ret)
{
        uint8_t kb[OUTBOX_SEQ_BYTES];
        MDB_val k = { sizeof(kb), kb }, v;
        int rc;

        outbox_put_be64(kb, seq);
        rc = mdb_get(txn, ob->records, &k, &v);
        if (rc)
                return db_errno(rc);
        return outbox_record_decode(&v, ret);
}

int outbox_record_store(struct outbox *ob, MDB_txn *txn, uint64_t seq,
                        const Nmo__Node__Record *rec)
{
        uint8_t kb[OUTBOX_SEQ_BYTES];
        MDB_val k = { sizeof(kb), kb }, v;
        size_t n = nmo__node__record__get_packed_size(rec);
        int rc;

        if (n > OUTBOX_RECORD_MAX)
                return -E2BIG;
        outbox_put_be64(kb, seq);
        v.mv_size = n;
        v.mv_data = NULL;
        rc = mdb_put(txn, ob->records, &k, &v, MDB_RESERVE);
        if (rc)
                return db_errno(rc);
        nmo__node__record__pack(rec, v.mv_data);
        return 0;
}

int outbox_pending_store(struct outbox *ob, MDB_txn *txn, uint64_t seq, enum outbox_state state,
                         uint64_t next_ms)
{
        uint8_t kb[OUTBOX_SEQ_BYTES], vb[OUTBOX_PENDING_BYTES];
        MDB_val k = { sizeof(kb), kb }, v = { sizeof(vb), vb };

        outbox_put_be64(kb, seq);
        vb[0] = (uint8_t)state;
        outbox_put_be64(vb + 1, next_ms);
        return db_errno(mdb_put(txn, ob->pending, &k, &v, 0));
}

int outbox_pending_delete(struct outbox *ob, MDB_txn *txn, uint64_t seq)
{
        uint8_t kb[OUTBOX_SEQ_BYTES];
        MDB_val k = { sizeof(kb), kb };
        int rc;

        outbox_put_be64(kb, seq);
        rc = mdb_del(txn, ob->pending, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : db_errno(rc);
}

int outbox_seq_of(struct outbox *ob, MDB_txn *txn, const uint8_t id[SIGNAL_ID_BYTES],
                  uint64_t *seq)
{
        MDB_val k = { SIGNAL_ID_BYTES, (void *)id }, v;
        int rc = mdb_get(txn, ob->index, &k, &v);

        if (rc)
                return db_errno(rc);
        if (v.mv_size != OUTBOX_SEQ_BYTES)
                return -EBADMSG;
        *seq = outbox_get_be64(v.mv_data);
        return 0;
}

struct write_call {
        struct outbox *ob;
        outbox_write_fn fn;
        void *userdata;
};

static int write_trampoline(MDB_txn *txn, void *userdata)
{
        struct write_call *c = userdata;

        return c->fn(c->ob, txn, c->userdata);
}

/* Runs fn in one write transaction and commits it (db_write(): a full map is
 * grown and fn run again from scratch, so fn must reset whatever it reports
 * through userdata; a full disk is -ENOSPC). */
int outbox_db_write(struct outbox *ob, outbox_write_fn fn, void *userdata)
{
        struct write_call c = { ob, fn, userdata };

        return db_write(ob->env, write_trampoline, &c);
}

uint64_t outbox_retry_at(uint64_t now_ms, uint32_t attempts, const struct outbox_backoff *bo)
{
        return now_ms + util_backoff_ms(attempts ? attempts : 1, bo->min_ms, bo->max_ms);
}

/* Copies text into buf of OUTBOX_TEXT_MAX + 1 bytes, cut at a character boundary. */
void outbox_clip_text(char *buf, const char *text)
{
        size_t n = strlen(text);

        if (n > OUTBOX_TEXT_MAX) {
                n = OUTBOX_TEXT_MAX;
                while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
                        n--;
        }
        memcpy(buf, text, n);
        buf[n] = '\0';
}
