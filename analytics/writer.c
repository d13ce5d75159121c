/* writer.c: see writer.h. The cells and alerts the hub's aggregation writes,
 * in the layout analytics.h describes. */
#include "writer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "db.h"
#include "period.h"

int analytics_month_cells(MDB_txn *txn, struct analytics *an, const char *material,
                          uint32_t month, int (*fn)(const Nmo__Hub__Cell *, void *),
                          void *userdata)
{
        uint32_t weeks[PERIOD_WEEKS_MAX];
        size_t nweeks = period_month_weeks(month, weeks), mlen = strlen(material) + 1;
        char periods[PERIOD_WEEKS_MAX + 1][12];
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r = 0;

        for (size_t i = 0; i < nweeks; i++)
                period_week_str(weeks[i], periods[i], sizeof(periods[i]));
        period_month_str(month, periods[nweeks], sizeof(periods[nweeks]));
        rc = mdb_cursor_open(txn, an->cells, &cur);
        if (rc)
                return db_errno(rc);
        k.mv_size = mlen;
        k.mv_data = (void *)material;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                const char *period;
                Nmo__Hub__Cell *c;
                bool ours = false;

                if (k.mv_size < mlen + 2 || memcmp(k.mv_data, material, mlen) != 0)
                        break;
                period = (const char *)k.mv_data + mlen + 1;
                if (!memchr(period, 0, k.mv_size - mlen - 1))
                        continue;
                for (size_t i = 0; i <= nweeks && !ours; i++)
                        ours = strcmp(period, periods[i]) == 0;
                if (!ours)
                        continue;
                c = nmo__hub__cell__unpack(NULL, v.mv_size, v.mv_data);
                if (!c) {
                        r = -EBADMSG;
                        break;
                }
                r = fn(c, userdata);
                nmo__hub__cell__free_unpacked(c, NULL);
        }
        if (r == 0 && rc && rc != MDB_NOTFOUND)
                r = db_errno(rc);
        mdb_cursor_close(cur);
        return r;
}

int analytics_release_next_id(MDB_txn *txn, struct analytics *an, uint32_t *id)
{
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc;

        *id = 1;
        rc = mdb_cursor_open(txn, an->releases, &cur);
        if (rc)
                return db_errno(rc);
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (rc == 0 && k.mv_size == 4) {
                const uint8_t *b = k.mv_data;

                *id = ((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]) +
                      1;
        }
        mdb_cursor_close(cur);
        return rc && rc != MDB_NOTFOUND ? db_errno(rc) : 0;
}

int analytics_put_release(MDB_txn *txn, struct analytics *an, const Nmo__Hub__Release *rel)
{
        uint8_t key[4], *buf;
        MDB_val k, v;
        size_t len;
        int r;

        if (!rel->has_id || rel->id == 0)
                return -EINVAL;
        len = nmo__hub__release__get_packed_size(rel);
        buf = malloc(len ? len : 1);
        if (!buf)
                return -ENOMEM;
        nmo__hub__release__pack(rel, buf);
        key[0] = (uint8_t)(rel->id >> 24);
        key[1] = (uint8_t)(rel->id >> 16);
        key[2] = (uint8_t)(rel->id >> 8);
        key[3] = (uint8_t)rel->id;
        k.mv_size = 4;
        k.mv_data = key;
        v.mv_size = len;
        v.mv_data = buf;
        r = db_errno(mdb_put(txn, an->releases, &k, &v, 0));
        free(buf);
        return r;
}

/* Does a cell carry anything beyond what a suppressed cell may show? */
static bool has_figures(const Nmo__Hub__Cell *c)
{
        return c->has_reporters || c->has_reports || c->n_severity || c->n_status ||
               c->n_share || c->has_volume_status || c->has_volume_t ||
               c->has_reporters_high || c->n_notes;
}

int analytics_put_cell(MDB_txn *txn, struct analytics *an, const Nmo__Hub__Cell *c)
{
        uint8_t key[ANALYTICS_KEY_MAX], *buf;
        size_t klen = 0;
        MDB_val k, v;
        int r;

        if (c->has_suppression && c->suppression != NMO__HUB__SUPPRESSION__SUPPRESSION_NONE &&
            has_figures(c))
                return -EINVAL;
        r = analytics_cell_key(c, key, &klen);
        if (r < 0)
                return r;
        v.mv_size = nmo__hub__cell__get_packed_size(c);
        buf = malloc(v.mv_size ? v.mv_size : 1);
        if (!buf)
                return -ENOMEM;
        nmo__hub__cell__pack(c, buf);
        v.mv_data = buf;
        k.mv_size = klen;
        k.mv_data = key;
        r = db_errno(mdb_put(txn, an->cells, &k, &v, 0));
        free(buf);
        return r;
}

uint32_t analytics_released_reports(MDB_txn *txn, struct analytics *an,
                                    Nmo__Hub__CellKind kind, const char *material,
                                    const char *period, const char *event)
{
        Nmo__Hub__Cell c = NMO__HUB__CELL__INIT, *got;
        uint8_t key[ANALYTICS_KEY_MAX];
        size_t klen = 0;
        MDB_val k, v;
        uint32_t reports = 0;

        c.kind = kind;
        c.material = (char *)material;
        c.period = (char *)period;
        c.event = (char *)(event ? event : "");
        c.country = "";
        if (analytics_cell_key(&c, key, &klen) < 0)
                return 0;
        k.mv_size = klen;
        k.mv_data = key;
        if (mdb_get(txn, an->cells, &k, &v) != 0)
                return 0;
        got = nmo__hub__cell__unpack(NULL, v.mv_size, v.mv_data);
        if (!got)
                return 0;
        if (got->has_suppression && got->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE)
                reports = got->reports;
        nmo__hub__cell__free_unpacked(got, NULL);
        return reports;
}

int analytics_get_alert(MDB_txn *txn, struct analytics *an, const char *id,
                        Nmo__AlertBody **body)
{
        MDB_val k = { ANALYTICS_ALERT_ID_LEN, (void *)id }, v;
        Nmo__SignedAlert *sa;
        int r;

        *body = NULL;
        r = db_errno(mdb_get(txn, an->alerts, &k, &v));
        if (r < 0)
                return r;
        sa = nmo__signed_alert__unpack(NULL, v.mv_size, v.mv_data);
        if (sa && sa->has_body)
                *body = nmo__alert_body__unpack(NULL, sa->body.len, sa->body.data);
        if (sa)
                nmo__signed_alert__free_unpacked(sa, NULL);
        return *body ? 0 : -EBADMSG;
}

int analytics_put_alert(MDB_txn *txn, struct analytics *an, const char *id,
                        const uint8_t *signed_alert, size_t len)
{
        MDB_val k = { ANALYTICS_ALERT_ID_LEN, (void *)id };
        MDB_val v = { len, (void *)signed_alert };

        return db_errno(mdb_put(txn, an->alerts, &k, &v, 0));
}
