/* outbox-hub.c: what the outbox remembers of the hub for `nmo-node status`:
 * the last error it reported and the state of the link (outbox.h,
 * outbox_set_hub_error(), outbox_set_hub_link()). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <lmdb.h>

#include "db.h"
#include "outbox-db.h"

struct hub_error_ctx {
        const char *message;
        uint64_t time_ms;
};

static int hub_error_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        const struct hub_error_ctx *ctx = userdata;
        MDB_val k = { sizeof(OUTBOX_META_HUB_ERROR) - 1, (void *)OUTBOX_META_HUB_ERROR }, v;
        Nmo__Node__HubError he = NMO__NODE__HUB_ERROR__INIT;
        char text[OUTBOX_TEXT_MAX + 1];
        int rc;

        if (!ctx->message) {
                rc = mdb_del(txn, ob->meta, &k, NULL);
                return rc == MDB_NOTFOUND ? 0 : db_errno(rc);
        }
        outbox_clip_text(text, ctx->message);
        he.message = text;
        he.has_time_ms = 1;
        he.time_ms = ctx->time_ms;
        v.mv_size = nmo__node__hub_error__get_packed_size(&he);
        v.mv_data = NULL;
        rc = mdb_put(txn, ob->meta, &k, &v, MDB_RESERVE);
        if (rc)
                return db_errno(rc);
        nmo__node__hub_error__pack(&he, v.mv_data);
        return 0;
}

int outbox_set_hub_error(struct outbox *ob, const char *message, uint64_t time_ms)
{
        struct hub_error_ctx ctx = { message, time_ms };

        if (ob->readonly)
                return -EROFS;
        return outbox_db_write(ob, hub_error_fn, &ctx);
}

int outbox_get_hub_error(struct outbox *ob, char *buf, size_t len, uint64_t *time_ms)
{
        MDB_val k = { sizeof(OUTBOX_META_HUB_ERROR) - 1, (void *)OUTBOX_META_HUB_ERROR }, v;
        Nmo__Node__HubError *he = NULL;
        MDB_txn *txn = NULL;
        int rc, r;

        if (len == 0)
                return -EINVAL;
        r = db_txn_begin(ob->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_get(txn, ob->meta, &k, &v);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        r = -EBADMSG;
        if (v.mv_size == 0 || v.mv_size > OUTBOX_META_MAX)
                goto out;
        he = nmo__node__hub_error__unpack(NULL, v.mv_size, v.mv_data);
        if (!he || !he->message)
                goto out;
        snprintf(buf, len, "%s", he->message);
        if (time_ms)
                *time_ms = he->has_time_ms ? he->time_ms : 0;
        r = 0;
out:
        if (he)
                nmo__node__hub_error__free_unpacked(he, NULL);
        db_txn_abort(txn);
        return r;
}

static int hub_link_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        const struct outbox_hub_link *link = userdata;
        MDB_val k = { sizeof(OUTBOX_META_HUB_LINK) - 1, (void *)OUTBOX_META_HUB_LINK }, v;
        Nmo__Node__HubLink hl = NMO__NODE__HUB_LINK__INIT;
        int rc;

        hl.has_last_contact_ms = 1;
        hl.last_contact_ms = link->last_contact_ms;
        hl.has_next_retry_ms = 1;
        hl.next_retry_ms = link->next_retry_ms;
        v.mv_size = nmo__node__hub_link__get_packed_size(&hl);
        v.mv_data = NULL;
        rc = mdb_put(txn, ob->meta, &k, &v, MDB_RESERVE);
        if (rc)
                return db_errno(rc);
        nmo__node__hub_link__pack(&hl, v.mv_data);
        return 0;
}

int outbox_set_hub_link(struct outbox *ob, const struct outbox_hub_link *link)
{
        if (ob->readonly)
                return -EROFS;
        return outbox_db_write(ob, hub_link_fn, (void *)(uintptr_t)link);
}

int outbox_get_hub_link(struct outbox *ob, struct outbox_hub_link *link)
{
        MDB_val k = { sizeof(OUTBOX_META_HUB_LINK) - 1, (void *)OUTBOX_META_HUB_LINK }, v;
        Nmo__Node__HubLink *hl = NULL;
        MDB_txn *txn = NULL;
        int rc, r;

        memset(link, 0, sizeof(*link));
        r = db_txn_begin(ob->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_get(txn, ob->meta, &k, &v);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        r = -EBADMSG;
        if (v.mv_size > OUTBOX_META_MAX)
                goto out;
        hl = nmo__node__hub_link__unpack(NULL, v.mv_size, v.mv_data);
        if (!hl)
                goto out;
        link->last_contact_ms = hl->has_last_contact_ms ? hl->last_contact_ms : 0;
        link->next_retry_ms = hl->has_next_retry_ms ? hl->next_retry_ms : 0;
        r = 0;
out:
        if (hl)
                nmo__node__hub_link__free_unpacked(hl, NULL);
        db_txn_abort(txn);
        return r;
}
