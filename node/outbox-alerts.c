/* outbox-alerts.c: the hub's signed alerts kept in the outbox
 * (outbox_put_alerts(), outbox_foreach_alert(), outbox.h). */
#include <errno.h>
#include <lmdb.h>

#include "db.h"
#include "outbox-db.h"
#include "alert.h"

bool outbox_alert_id_ok(const char *id)
{
        if (!id)
                return false;
        for (size_t i = 0; i < OUTBOX_ALERT_ID_LEN; i++)
                if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
                        return false;
        return id[OUTBOX_ALERT_ID_LEN] == '\0';
}

/* The revision of a stored SignedAlert; 0 when it does not decode. Only the
 * revision is read: the bytes were verified when they were stored, and
 * readers verify them again. */
static uint32_t stored_revision(const MDB_val *v)
{
        Nmo__SignedAlert *sa = NULL;
        Nmo__AlertBody *b = NULL;
        uint32_t rev = 0;

        if (v->mv_size == 0 || v->mv_size > ALERT_MAX)
                return 0;
        sa = nmo__signed_alert__unpack(NULL, v->mv_size, v->mv_data);
        if (sa && sa->has_body)
                b = nmo__alert_body__unpack(NULL, sa->body.len, sa->body.data);
        if (b && b->has_revision)
                rev = b->revision;
        if (b)
                nmo__alert_body__free_unpacked(b, NULL);
        if (sa)
                nmo__signed_alert__free_unpacked(sa, NULL);
        return rev;
}

struct put_alerts_ctx {
        const struct outbox_alert *alerts;
        size_t n;
        bool *stored;
};

static int put_alerts_fn(struct outbox *ob, MDB_txn *txn, void *userdata)
{
        const struct put_alerts_ctx *ctx = userdata;

        for (size_t i = 0; i < ctx->n; i++) {
                const struct outbox_alert *a = &ctx->alerts[i];
                MDB_val k = { OUTBOX_ALERT_ID_LEN, (void *)a->id }, v;
                int rc;

                if (ctx->stored)
                        ctx->stored[i] = false;
                /* Earlier alerts of this batch count: the transaction sees them. */
                rc = mdb_get(txn, ob->alerts, &k, &v);
                if (rc == 0 && stored_revision(&v) >= a->revision)
                        continue;
                if (rc && rc != MDB_NOTFOUND)
                        return db_errno(rc);
                v.mv_size = a->len;
                v.mv_data = (void *)a->signed_alert;
                rc = mdb_put(txn, ob->alerts, &k, &v, 0);
                if (rc)
                        return db_errno(rc);
                if (ctx->stored)
                        ctx->stored[i] = true;
        }
        return 0;
}

int outbox_put_alerts(struct outbox *ob, const struct outbox_alert *alerts, size_t n,
                      bool *stored)
{
        struct put_alerts_ctx ctx = { alerts, n, stored };

        if (ob->readonly)
                return -EROFS;
        for (size_t i = 0; i < n; i++)
                if (!outbox_alert_id_ok(alerts[i].id) || !alerts[i].signed_alert ||
                    alerts[i].len == 0 || alerts[i].len > ALERT_MAX)
                        return -EINVAL;
        if (n == 0)
                return 0;
        /* Nothing changed (a catch-up of alerts already held) commits no pages
         * and costs no fsync. */
        return outbox_db_write(ob, put_alerts_fn, &ctx);
}

struct alert_ctx {
        outbox_alert_fn fn;
        void *userdata;
};

static int alert_one(const MDB_val *k, const MDB_val *v, bool *corrupt, void *userdata)
{
        struct alert_ctx *c = userdata;

        if (k->mv_size != OUTBOX_ALERT_ID_LEN || v->mv_size == 0 || v->mv_size > ALERT_MAX) {
                *corrupt = true;
                return 0;
        }
        return c->fn(v->mv_data, v->mv_size, c->userdata);
}

int outbox_foreach_alert(struct outbox *ob, outbox_alert_fn fn, void *userdata)
{
        struct alert_ctx c = { fn, userdata };

        if (!ob->has_alerts)
                return 0;
        return outbox_db_scan(ob, ob->alerts, alert_one, &c);
}
