/* epochs.c: see epochs.h. */
#include "epochs.h"

#include <errno.h>
#include <stdlib.h>

#include "db.h"
#include "log.h"
#include "period.h"

static int epoch_get(MDB_txn *txn, struct hub_store *st, uint32_t month,
                     Nmo__Hub__EpochRecord **rec)
{
        uint8_t key[4];
        MDB_val k = { 4, key }, v;
        int rc;

        hub_store_put_u32(key, month);
        rc = mdb_get(txn, st->epochs, &k, &v);
        if (rc)
                return db_errno(rc);
        *rec = nmo__hub__epoch_record__unpack(NULL, v.mv_size, v.mv_data);
        return *rec ? 0 : -EBADMSG;
}

int hub_epochs_put(MDB_txn *txn, struct hub_store *st, uint32_t month,
                   Nmo__Hub__EpochState state, uint64_t opened, uint64_t closed,
                   uint32_t released_through)
{
        Nmo__Hub__EpochRecord rec = NMO__HUB__EPOCH_RECORD__INIT;
        uint8_t key[4], buf[64];
        MDB_val k = { 4, key }, v;

        rec.has_month = 1;
        rec.month = month;
        rec.has_state = 1;
        rec.state = state;
        rec.has_opened_ms = 1;
        rec.opened_ms = opened;
        if (closed) {
                rec.has_closed_ms = 1;
                rec.closed_ms = closed;
        }
        if (released_through) {
                rec.has_released_through = 1;
                rec.released_through = released_through;
        }
        hub_store_put_u32(key, month);
        v.mv_size = nmo__hub__epoch_record__pack(&rec, buf);
        v.mv_data = buf;
        return db_errno(mdb_put(txn, st->epochs, &k, &v, 0));
}

int hub_epochs_list(struct hub_store *st, struct hub_epoch_info **out, size_t *n)
{
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        size_t cap = 0;
        int rc, r;

        *out = NULL;
        *n = 0;
        r = db_txn_begin(st->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, st->epochs, &cur);
        if (rc) {
                db_txn_abort(txn);
                return db_errno(rc);
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                Nmo__Hub__EpochRecord *rec = nmo__hub__epoch_record__unpack(NULL, v.mv_size,
                                                                            v.mv_data);
                if (!rec || k.mv_size != 4) {
                        if (rec)
                                nmo__hub__epoch_record__free_unpacked(rec, NULL);
                        r = -EBADMSG;
                        break;
                }
                if (*n == cap) {
                        size_t ncap = cap ? cap * 2 : 8;
                        struct hub_epoch_info *g = realloc(*out, ncap * sizeof(*g));

                        if (!g) {
                                nmo__hub__epoch_record__free_unpacked(rec, NULL);
                                r = -ENOMEM;
                                break;
                        }
                        *out = g;
                        cap = ncap;
                }
                (*out)[*n].month = hub_store_get_u32(k.mv_data);
                (*out)[*n].state = rec->state;
                (*out)[*n].opened_ms = rec->opened_ms;
                (*out)[*n].released_through = rec->has_released_through ? rec->released_through
                                                                        : 0;
                (*n)++;
                nmo__hub__epoch_record__free_unpacked(rec, NULL);
        }
        mdb_cursor_close(cur);
        db_txn_abort(txn);
        return r;
}

int hub_epochs_for_signal(MDB_txn *txn, struct hub_store *st, uint32_t *week, uint32_t *month,
                          bool *was_open)
{
        Nmo__Hub__EpochRecord *rec = NULL;
        uint32_t m = period_month_of_week(*week);
        int r = 0;

        *was_open = false;
        /* A clock stepped back into a closed epoch: count the signal in the
         * first open one after it instead of reopening a destroyed key. */
        for (int guard = 0; guard < 120; guard++) {
                r = epoch_get(txn, st, m, &rec);
                if (r == -ENOENT) {
                        /* The epoch's start, not now: the first signal's
                         * time would outlive the epoch in this record. */
                        r = hub_epochs_put(txn, st, m, NMO__HUB__EPOCH_STATE__EPOCH_OPEN,
                                           period_month_start_ms(m), 0, 0);
                        break;
                }
                if (r < 0)
                        return r;
                if (rec->state != NMO__HUB__EPOCH_STATE__EPOCH_CLOSED) {
                        uint32_t through = rec->has_released_through ? rec->released_through : 0;

                        nmo__hub__epoch_record__free_unpacked(rec, NULL);
                        /* A released week's figures never change: a signal
                         * arriving in it (a clock stepped back) counts in the
                         * first week not yet released. */
                        if (through && *week <= through) {
                                uint32_t next = period_week_next(through);

                                log_warn("clock is inside released week %u; counting the signal "
                                         "in %u", *week, next);
                                *week = next;
                                if (period_month_of_week(next) != m) {
                                        m = period_month_of_week(next);
                                        continue;
                                }
                        }
                        *was_open = true;
                        break;
                }
                nmo__hub__epoch_record__free_unpacked(rec, NULL);
                m = period_month_next(m);
                {
                        uint32_t weeks[PERIOD_WEEKS_MAX];
                        (void)period_month_weeks(m, weeks);
                        *week = weeks[0];
                }
                log_warn("clock is inside a closed epoch; counting the signal in %06u", m);
        }
        if (r < 0)
                return r;
        *month = m;
        return 0;
}

int hub_epochs_set_released(MDB_txn *txn, struct hub_store *st, uint32_t month, uint32_t week)
{
        Nmo__Hub__EpochRecord *rec = NULL;
        int r = epoch_get(txn, st, month, &rec);

        if (r < 0)
                return r;
        if (!rec->has_released_through || rec->released_through < week)
                r = hub_epochs_put(txn, st, month, rec->state, rec->opened_ms,
                                   rec->has_closed_ms ? rec->closed_ms : 0, week);
        nmo__hub__epoch_record__free_unpacked(rec, NULL);
        return r;
}
