/* aggregate.c: see aggregate.h. */
#include "aggregate.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "alert.h"
#include "contrib.h"
#include "date.h"
#include "db.h"
#include "disclosure.h"
#include "epochkey.h"
#include "epochs.h"
#include "journal.h"
#include "log.h"
#include "period.h"
#include "records.h"
#include "store.pb-c.h"
#include "vocab.h"
#include "perturb.h"
#include "writer.h"

#define MATERIAL_MAX HUB_MATERIAL_MAX

struct hub_aggregate {
        struct hub_store *st;
        struct analytics *an;
        const struct keys_secret *hub;
        struct hub_privacy privacy;
        struct hub_release release;
        struct hub_alert_rules rules;
        struct hub_epoch_keys *keys;
        struct hub_journal *journal;
        struct perturb_table *noise;
        /* The ingest thread's last check: in write transaction open_txn the
         * epoch of open_week (open_month) is open. */
        size_t open_txn;
        uint32_t open_week, open_month;
        /* The rules may change from the hub's loop (a reload). */
        pthread_mutex_t lock;
};

char *hub_aggregate_key_path(const char *hub_dir, uint32_t month)
{
        return hub_epoch_key_path(hub_dir, month);
}

int hub_aggregate_new(struct hub_aggregate **ret, const char *hub_dir, struct hub_store *st,
                      struct analytics *an, const struct keys_secret *hub,
                      const struct hub_config *cfg)
{
        struct perturb_params pp = { cfg->privacy.noise_max, cfg->privacy.noise_variance,
                                     cfg->privacy.noise_volume };
        struct hub_aggregate *ag = calloc(1, sizeof(*ag));
        int r;

        if (!ag)
                return -ENOMEM;
        pthread_mutex_init(&ag->lock, NULL);
        r = perturb_table_new(&ag->noise, &pp);
        if (r < 0)
                log_error("the noise settings of [privacy] cannot make a perturbation table "
                          "(noise_max %u, noise_variance %g)", pp.max_dev, pp.variance);
        if (r == 0)
                r = hub_epoch_keys_new(&ag->keys, hub_dir);
        if (r == 0)
                r = hub_journal_new(&ag->journal, st, ag->keys);
        if (r < 0) {
                hub_aggregate_free(ag);
                return r;
        }
        ag->st = st;
        ag->an = an;
        ag->hub = hub;
        ag->privacy = cfg->privacy;
        ag->release = cfg->release;
        ag->rules = cfg->alerts;
        *ret = ag;
        return 0;
}

void hub_aggregate_free(struct hub_aggregate *ag)
{
        if (!ag)
                return;
        hub_journal_free(ag->journal);
        hub_epoch_keys_free(ag->keys);
        perturb_table_free(ag->noise);
        pthread_mutex_destroy(&ag->lock);
        free(ag);
}

struct hub_journal *hub_aggregate_journal(struct hub_aggregate *ag)
{
        return ag->journal;
}

void hub_alert_out_free(struct hub_alert_out *alerts, size_t n)
{
        if (!alerts)
                return;
        for (size_t i = 0; i < n; i++)
                free(alerts[i].signed_alert);
        free(alerts);
}

/* ---- contributions ---- */

/* Finds the epoch a signal arriving in *week counts in (epochs.h), once a
 * transaction for each week. */
static int open_epoch(struct hub_aggregate *ag, MDB_txn *txn, uint32_t *week, uint32_t *month)
{
        bool was_open;
        int r;

        /* Checked already in this transaction (a batch is one transaction,
         * and its signals share the clock). */
        if (ag->open_txn && ag->open_txn == mdb_txn_id(txn) && ag->open_week == *week) {
                *month = ag->open_month;
                return 0;
        }
        r = hub_epochs_for_signal(txn, ag->st, week, month, &was_open);
        if (r < 0)
                return r;
        /* Only an epoch open before this transaction: a transaction that
         * aborts and runs again has the same id, and must write a new
         * epoch's record again. */
        if (was_open && period_month_of_week(*week) == *month) {
                ag->open_txn = mdb_txn_id(txn);
                ag->open_week = *week;
                ag->open_month = *month;
        }
        return 0;
}

int hub_aggregate_add(struct hub_aggregate *ag, MDB_txn *txn, uint32_t member_id, uint64_t seq,
                      const struct signal *s, uint64_t now_ms)
{
        struct hub_epoch_key ek;
        uint8_t key[HUB_CONTRIB_KEY_MAX], *val = NULL;
        size_t klen = 0, vlen = 0;
        uint32_t week = period_week_of_day(date_day_of_ms(now_ms)), month;
        int r;

        if (strlen(s->material) >= MATERIAL_MAX)
                return -EINVAL;
        r = open_epoch(ag, txn, &week, &month);
        if (r < 0)
                return r;
        r = hub_epoch_key_get(ag->keys, month, true, &ek);
        if (r < 0) {
                log_error("cannot load or create the epoch key for %06u: %s", month, strerror(-r));
                return r;
        }
        r = hub_contrib_of_signal(&ek, week, member_id, s, key, &klen, &val, &vlen);
        if (r == 0)
                r = hub_journal_append(ag->journal, txn, seq, key, klen, val, vlen);
        sodium_memzero(&ek, sizeof(ek));
        free(val);
        return r;
}

int hub_aggregate_record_key(struct hub_aggregate *ag, MDB_txn *txn, uint64_t now_ms,
                             uint32_t *month, struct hub_epoch_key *ek)
{
        uint32_t week = period_week_of_day(date_day_of_ms(now_ms));
        int r = open_epoch(ag, txn, &week, month);

        if (r == 0)
                r = hub_epoch_key_get(ag->keys, *month, true, ek);
        return r;
}

int hub_aggregate_epoch_key(struct hub_aggregate *ag, uint32_t month, struct hub_epoch_key *ek)
{
        return hub_epoch_key_get(ag->keys, month, false, ek);
}

void hub_aggregate_durable(struct hub_aggregate *ag, uint64_t seq)
{
        hub_journal_durable(ag->journal, seq);
}

/* Folds the journal (journal.h) into the contribution rows. Nothing needs
 * telling: figures move only at releases, which read the rows then. */
static int journal_fold(struct hub_aggregate *ag)
{
        return hub_journal_fold(ag->journal, NULL, NULL);
}

struct contribs {
        struct dc_contrib *c;
        struct hub_contrib_row *rows;
        size_t n;
};

static void contribs_free(struct contribs *cs)
{
        hub_contrib_rows_free(cs->rows, cs->n);
        free(cs->c);
        memset(cs, 0, sizeof(*cs));
}

/* The rows of (month, material), as disclosure control takes them. */
static int load_contribs(struct hub_aggregate *ag, uint32_t month, const char *material,
                         struct contribs *out)
{
        int r;

        memset(out, 0, sizeof(*out));
        r = hub_contrib_load(ag->st, ag->keys, month, material, &out->rows, &out->n);
        if (r < 0)
                return r;
        out->c = calloc(out->n ? out->n : 1, sizeof(*out->c));
        if (!out->c) {
                contribs_free(out);
                return -ENOMEM;
        }
        for (size_t i = 0; i < out->n; i++) {
                struct dc_contrib *d = &out->c[i];
                const struct hub_contrib_row *w = &out->rows[i];

                memcpy(d->reporter, w->pseudonym, DC_PSEUDONYM_BYTES);
                d->week = w->week;
                memcpy(d->event, w->event, sizeof(d->event));
                memcpy(d->country, w->country, sizeof(d->country));
                d->reports = w->reports;
                memcpy(d->severity, w->severity, sizeof(d->severity));
                memcpy(d->status, w->status, sizeof(d->status));
                memcpy(d->share, w->share, sizeof(d->share));
                d->volume_t = w->volume_t;
                d->record_key = w->record_key;
                d->notes = (const char *const *)w->notes;
                d->nnotes = w->nnotes;
        }
        return 0;
}

/* ---- the analytics store ---- */

/* The store record of a computed cell. A suppressed cell carries its status
 * and nothing else (analytics_put_cell refuses it otherwise). */
static int put_cell(MDB_txn *txn, struct analytics *an, const char *material,
                    const struct dc_cell *d, bool final, uint32_t release)
{
        Nmo__Hub__Cell c = NMO__HUB__CELL__INIT;
        char period[PERIOD_STR_MAX];
        bool rel = d->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;

        if (d->kind == NMO__HUB__CELL_KIND__CELL_EVENT_MONTH)
                period_month_str(d->period, period, sizeof(period));
        else
                period_week_str(d->period, period, sizeof(period));
        c.has_kind = 1;
        c.kind = d->kind;
        c.material = (char *)material;
        c.event = (char *)d->event;
        c.country = (char *)d->country;
        c.period = period;
        c.has_suppression = 1;
        c.suppression = d->suppression;
        c.has_final = 1;
        c.final = final;
        c.has_release = 1;
        c.release = release;
        if (rel) {
                c.has_reporters = 1;
                c.reporters = d->reporters;
                c.has_reports = 1;
                c.reports = d->reports;
                c.n_severity = 4;
                c.severity = (uint32_t *)&d->severity[1];
                c.n_status = 5;
                c.status = (uint32_t *)d->status;
                c.n_share = 6;
                c.share = (uint32_t *)d->share;
                c.has_volume_status = 1;
                c.volume_status = d->volume_status;
                if (d->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED) {
                        c.has_volume_t = 1;
                        c.volume_t = d->volume_t;
                }
                if (d->reporters_high) {
                        c.has_reporters_high = 1;
                        c.reporters_high = d->reporters_high;
                }
                c.n_notes = d->nnotes;
                c.notes = (char **)d->notes;
        }
        return analytics_put_cell(txn, an, &c);
}

/* ---- alerts ---- */

struct alert_list {
        struct hub_alert_out *a;
        size_t n, cap;
};

static int alert_list_add(struct alert_list *l, uint8_t *signed_alert, size_t len)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 8;
                struct hub_alert_out *g = realloc(l->a, cap * sizeof(*g));

                if (!g)
                        return -ENOMEM;
                l->a = g;
                l->cap = cap;
        }
        l->a[l->n].signed_alert = signed_alert;
        l->a[l->n].len = len;
        l->n++;
        return 0;
}

/* A released weekly cell's reports; 0 when absent or suppressed. */
static uint32_t released_reports(MDB_txn *txn, struct analytics *an, const char *material,
                                 Nmo__Hub__CellKind kind, uint32_t week, const char *event)
{
        char period[PERIOD_STR_MAX];

        period_week_str(week, period, sizeof(period));
        return analytics_released_reports(txn, an, kind, material, period, event);
}

/* Stores the alert (new, or a new revision when level or figures changed) and
 * appends its signed form to out. */
static int raise_alert(MDB_txn *txn, struct hub_aggregate *ag, Nmo__AlertBody *b,
                       uint64_t now_ms, struct alert_list *out)
{
        uint8_t h[16], *sig = NULL;
        char id[ANALYTICS_ALERT_ID_LEN + 1], issued[11];
        size_t len = 0;
        Nmo__AlertBody *old = NULL;
        crypto_generichash_state gs;
        int r;

        crypto_generichash_init(&gs, NULL, 0, sizeof(h));
        crypto_generichash_update(&gs, (const uint8_t *)b->rule, strlen(b->rule) + 1);
        crypto_generichash_update(&gs, (const uint8_t *)b->material, strlen(b->material) + 1);
        crypto_generichash_update(&gs, (const uint8_t *)b->event, strlen(b->event) + 1);
        crypto_generichash_update(&gs, (const uint8_t *)b->period, strlen(b->period) + 1);
        crypto_generichash_final(&gs, h, sizeof(h));
        util_hex(h, sizeof(h), id);
        date_str(date_day_of_ms(now_ms), issued, sizeof(issued));
        b->has_version = 1;
        b->version = 1;
        b->id = id;
        b->issued = issued;
        b->has_revision = 1;
        b->revision = 1;
        r = analytics_get_alert(txn, ag->an, id, &old);
        if (r == 0) {
                bool same = old->level && strcmp(old->level, b->level) == 0 &&
                            old->reporters == b->reporters && old->reports == b->reports;

                b->revision = old->revision + 1;
                if (same)
                        b->issued = NULL;
                nmo__alert_body__free_unpacked(old, NULL);
                if (same)
                        return 0;
        } else if (r != -ENOENT && r != -EBADMSG) {
                /* An undecodable record is replaced by revision 1. */
                return r;
        }
        r = alert_sign(b, ag->hub->sign_sk, &sig, &len);
        if (r < 0)
                return r;
        r = analytics_put_alert(txn, ag->an, id, sig, len);
        if (r == 0) {
                log_info("alert %s: %s %s %s%s%s", b->level, b->rule, b->period, b->material,
                         b->event[0] ? "/" : "", b->event);
                r = alert_list_add(out, sig, len);
                if (r == 0)
                        sig = NULL;
        }
        free(sig);
        return r;
}

static bool is_export_restriction(const char *event)
{
        return strcmp(event, "export-ban") == 0 || strcmp(event, "export-quota") == 0 ||
               strcmp(event, "export-licensing") == 0 || strcmp(event, "export-tax") == 0;
}

/* Evaluates the rules over the released cells of material in month. */
static int evaluate_alerts(MDB_txn *txn, struct hub_aggregate *ag, const char *material,
                           const struct dc_result *res, uint64_t now_ms, struct alert_list *out)
{
        struct hub_alert_rules rules;
        const struct hub_alert_rules *ru = &rules;
        char summary[256], period[12], wstart[12];
        int r = 0;

        /* A reload may change them from the hub's loop meanwhile. */
        pthread_mutex_lock(&ag->lock);
        rules = ag->rules;
        pthread_mutex_unlock(&ag->lock);

        for (size_t i = 0; i < res->ncells && r == 0; i++) {
                const struct dc_cell *d = &res->cells[i];
                Nmo__AlertBody b = NMO__ALERT_BODY__INIT;

                if (d->suppression != NMO__HUB__SUPPRESSION__SUPPRESSION_NONE)
                        continue;
                period_week_str(d->period, period, sizeof(period));
                b.material = (char *)material;
                b.period = period;
                b.window_end = period;
                b.event = "";
                if (d->kind == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK &&
                    d->reporters_high >= ru->severity_reporters) {
                        period_week_str(period_week_prev(d->period), wstart, sizeof(wstart));
                        snprintf(summary, sizeof(summary),
                                 "%u companies report high or critical severity for %s within "
                                 "14 days (%s to %s)", d->reporters_high, material, wstart,
                                 period);
                        b.rule = "severity";
                        b.level = d->reporters_high >= 2 * ru->severity_reporters ? "critical"
                                                                                 : "warning";
                        b.window_start = wstart;
                        b.summary = summary;
                        b.has_reporters = 1;
                        b.reporters = d->reporters_high;
                        r = raise_alert(txn, ag, &b, now_ms, out);
                        if (r < 0)
                                break;
                }
                if (d->kind == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK &&
                    d->reports >= ru->surge_min_reports) {
                        uint32_t w = d->period, total = 0;

                        for (uint32_t j = 0; j < ru->surge_weeks; j++) {
                                w = period_week_prev(w);
                                total += released_reports(txn, ag->an, material,
                                                          NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK,
                                                          w, NULL);
                        }
                        period_week_str(w, wstart, sizeof(wstart));
                        /* reports > percent/100 * total/weeks, in integers. */
                        if ((uint64_t)d->reports * 100 * ru->surge_weeks >
                            (uint64_t)ru->surge_percent * total) {
                                double base = (double)total / ru->surge_weeks;

                                if (total == 0)
                                        snprintf(summary, sizeof(summary),
                                                 "%u reports for %s in %s, none in the "
                                                 "previous %u weeks", d->reports, material,
                                                 period, ru->surge_weeks);
                                else
                                        snprintf(summary, sizeof(summary),
                                                 "%u reports for %s in %s against a mean of "
                                                 "%.1f a week over the previous %u weeks",
                                                 d->reports, material, period, base,
                                                 ru->surge_weeks);
                                b.rule = "surge";
                                b.level = total > 0 && (uint64_t)d->reports * 100 * ru->surge_weeks >
                                                               2ULL * ru->surge_percent * total
                                                  ? "critical"
                                                  : "warning";
                                b.window_start = wstart;
                                b.summary = summary;
                                b.has_reports = 1;
                                b.reports = d->reports;
                                b.has_reporters = 1;
                                b.reporters = d->reporters;
                                b.has_baseline = 1;
                                b.baseline = base;
                                r = raise_alert(txn, ag, &b, now_ms, out);
                                if (r < 0)
                                        break;
                        }
                }
                if (d->kind == NMO__HUB__CELL_KIND__CELL_EVENT_WEEK && ru->new_restriction &&
                    is_export_restriction(d->event)) {
                        uint32_t w = d->period, before = 0;

                        for (uint32_t j = 0; j < ru->surge_weeks; j++) {
                                w = period_week_prev(w);
                                before += released_reports(txn, ag->an, material,
                                                           NMO__HUB__CELL_KIND__CELL_EVENT_WEEK,
                                                           w, d->event);
                        }
                        if (before == 0) {
                                period_week_str(w, wstart, sizeof(wstart));
                                snprintf(summary, sizeof(summary),
                                         "%u companies report a new %s affecting %s in %s, none "
                                         "in the %u weeks before", d->reporters, d->event,
                                         material, period, ru->surge_weeks);
                                b.rule = "new-restriction";
                                b.event = (char *)d->event;
                                b.level = strcmp(d->event, "export-ban") == 0 ? "critical"
                                                                              : "warning";
                                b.window_start = wstart;
                                b.summary = summary;
                                b.has_reporters = 1;
                                b.reporters = d->reporters;
                                b.has_reports = 1;
                                b.reports = d->reports;
                                r = raise_alert(txn, ag, &b, now_ms, out);
                        }
                }
        }
        return r;
}

static int materials_of(struct hub_aggregate *ag, uint32_t month, char (**out)[MATERIAL_MAX],
                        size_t *n)
{
        return hub_contrib_materials(ag->st, month, out, n);
}

/* Cuts the signal records of month and before down to their epoch (records.h). */
static int strip_records(struct hub_aggregate *ag, uint32_t month)
{
        uint64_t n = 0, t0 = util_mono_ms();
        int r = hub_records_strip(ag->st, month, &n);

        if (r < 0)
                log_error("cannot cut down the signal records of epoch %06u: %s", month,
                          strerror(-r));
        else if (n)
                log_info("epoch %06u: %llu signal records cut down to their epoch in %llu ms",
                         month, (unsigned long long)n,
                         (unsigned long long)(util_mono_ms() - t0));
        return r;
}

struct close_ctx {
        struct hub_aggregate *ag;
        uint32_t month;
        uint64_t opened_ms;
        uint64_t now_ms;
        uint32_t released_through;
};

static int close_txn(MDB_txn *txn, void *userdata)
{
        struct close_ctx *c = userdata;
        int r;

        r = hub_journal_settle_epoch(c->ag->journal, txn, c->month);
        if (r == 0)
                r = hub_records_mark_stripped(txn, c->ag->st, c->month);
        if (r < 0)
                return r;
        return hub_epochs_put(txn, c->ag->st, c->month, NMO__HUB__EPOCH_STATE__EPOCH_CLOSED,
                              c->opened_ms, c->now_ms, c->released_through);
}

static int mark_stripped_txn(MDB_txn *txn, void *userdata)
{
        struct close_ctx *c = userdata;

        return hub_records_mark_stripped(txn, c->ag->st, c->month);
}

/* Deletes the contributions of a closed epoch (again, harmlessly, after a
 * crash). */
static int close_contrib_txn(MDB_txn *ctxn, void *userdata)
{
        struct close_ctx *c = userdata;

        return hub_contrib_delete_epoch(ctxn, c->ag->st, c->month);
}

/* After the epoch's final release: the epoch's signal records are cut down,
 * the epoch is recorded closed, then its contributions are deleted, then its
 * key destroyed. A crash anywhere in between is finished by the next
 * housekeeping: the epoch is marked closed only once its records are cut
 * down. */
static int close_epoch(struct hub_aggregate *ag, const struct hub_epoch_info *e, uint64_t now_ms)
{
        struct close_ctx c = { ag, e->month, e->opened_ms, now_ms, e->released_through };
        int r;

        r = strip_records(ag, e->month);
        if (r < 0)
                return r;
        r = hub_store_write(ag->st, close_txn, &c);
        /* Durable before anything is destroyed (the hub defers meta syncs). */
        if (r == 0)
                r = db_errno(mdb_env_sync(ag->st->env, 1));
        if (r == 0)
                r = hub_store_write_contrib(ag->st, close_contrib_txn, &c);
        if (r == 0)
                r = hub_epoch_key_destroy(ag->keys, e->month);
        if (r == 0)
                log_info("epoch %06u closed: final cells released, contributions deleted, key "
                         "destroyed", e->month);
        return r;
}

/* ---- releases ---- */

/* When week's figures are due: its end (Monday 00:00 UTC) plus the delay. */
static uint64_t week_due_ms(const struct hub_aggregate *ag, uint32_t week)
{
        return (uint64_t)(period_week_monday(week) + 7) * 86400000ULL +
               (uint64_t)ag->release.delay_hours * 3600000ULL;
}

/* "2026-12-07T06:00Z" for a time in ms. */
static void point_str(uint64_t ms, char *buf, size_t len)
{
        char day[11];

        date_str(date_day_of_ms(ms), day, sizeof(day));
        snprintf(buf, len, "%sT%02u:%02uZ", day, (unsigned)(ms / 3600000ULL % 24),
                 (unsigned)(ms / 60000ULL % 60));
}

/* The next release point after now_ms: the due time of the week now is in,
 * or of the one after. */
static uint64_t next_point_ms(const struct hub_aggregate *ag, uint64_t now_ms)
{
        uint32_t week = period_week_of_day(date_day_of_ms(now_ms));
        uint64_t due = week_due_ms(ag, period_week_prev(week));

        while (due <= now_ms)
                due += 7 * 86400000ULL;
        return due;
}

/* A cell an earlier release published, as disclosure control needs it. */
struct ledger_cell {
        Nmo__Hub__CellKind kind;
        uint32_t period;
        char event[32];
        char country[3];
        Nmo__Hub__Suppression supp;
        Nmo__Hub__VolumeStatus vol;
};

/* The ledger of one (epoch, material) for one release: what earlier releases
 * published, and what this one may. */
struct ledger {
        struct ledger_cell *cells;
        size_t n, cap;
        const uint32_t *weeks;          /* the weeks this release publishes */
        size_t nweeks;
        bool final;
};

static int ledger_add(const Nmo__Hub__Cell *c, void *userdata)
{
        struct ledger *l = userdata;
        struct ledger_cell *lc;

        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 32;
                struct ledger_cell *g = realloc(l->cells, cap * sizeof(*g));

                if (!g)
                        return -ENOMEM;
                l->cells = g;
                l->cap = cap;
        }
        lc = &l->cells[l->n];
        memset(lc, 0, sizeof(*lc));
        lc->kind = c->kind;
        if ((c->kind == NMO__HUB__CELL_KIND__CELL_EVENT_MONTH
                     ? period_parse_month(c->period ? c->period : "", &lc->period)
                     : period_parse_week(c->period ? c->period : "", &lc->period)) < 0)
                return 0;       /* not one of ours: it cannot match */
        snprintf(lc->event, sizeof(lc->event), "%s", c->event ? c->event : "");
        snprintf(lc->country, sizeof(lc->country), "%s", c->country ? c->country : "");
        lc->supp = c->suppression;
        lc->vol = c->has_volume_status ? c->volume_status
                                       : NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN;
        l->n++;
        return 0;
}

static bool ledger_lookup(void *userdata, const struct dc_cell *c, Nmo__Hub__Suppression *supp,
                          Nmo__Hub__VolumeStatus *vol)
{
        const struct ledger *l = userdata;

        for (size_t i = 0; i < l->n; i++) {
                const struct ledger_cell *lc = &l->cells[i];

                if (lc->kind == c->kind && lc->period == c->period &&
                    strcmp(lc->event, c->event) == 0 && strcmp(lc->country, c->country) == 0) {
                        *supp = lc->supp;
                        *vol = lc->vol;
                        return true;
                }
        }
        return false;
}

static bool ledger_in_scope(void *userdata, const struct dc_cell *c)
{
        const struct ledger *l = userdata;

        if (c->kind == NMO__HUB__CELL_KIND__CELL_EVENT_MONTH)
                return l->final;
        for (size_t i = 0; i < l->nweeks; i++)
                if (l->weeks[i] == c->period)
                        return true;
        return false;
}

struct ledger_load {
        struct analytics *an;
        const char *material;
        uint32_t month;
        struct ledger *l;
};

static int ledger_load_txn(MDB_txn *txn, void *userdata)
{
        struct ledger_load *ll = userdata;

        ll->l->n = 0;
        return analytics_month_cells(txn, ll->an, ll->material, ll->month, ledger_add, ll->l);
}

/* The figures one cell publishes: the true ones with the cell key method's
 * noise (perturb.h). Reporters never show below the threshold the cell
 * passed, nor reports below reporters. */
enum {
        FIG_REPORTERS = 0,
        FIG_REPORTS = 1,
        FIG_SEVERITY = 2,       /* 5 */
        FIG_STATUS = 7,         /* 5 */
        FIG_SHARE = 12,         /* 6 */
        FIG_HIGH = 18,
};

static void perturb_cell(const struct hub_aggregate *ag, const struct dc_cell *d,
                         uint32_t min_reporters, struct dc_cell *pub)
{
        const struct perturb_table *t = ag->noise;
        uint32_t ck = d->cell_key, v;

        *pub = *d;
        v = perturb_count(t, d->reporters, ck, FIG_REPORTERS);
        pub->reporters = v < min_reporters ? min_reporters : v;
        v = perturb_count(t, d->reports, ck, FIG_REPORTS);
        pub->reports = v < pub->reporters ? pub->reporters : v;
        for (uint32_t k = 0; k < 5; k++) {
                pub->severity[k] = perturb_count(t, d->severity[k], ck, FIG_SEVERITY + k);
                pub->status[k] = perturb_count(t, d->status[k], ck, FIG_STATUS + k);
        }
        for (uint32_t k = 0; k < 6; k++)
                pub->share[k] = perturb_count(t, d->share[k], ck, FIG_SHARE + k);
        if (d->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED)
                pub->volume_t = perturb_volume(t, d->volume_t, d->volume_max, ck);
        else
                pub->volume_t = 0;
        if (d->reporters_high) {
                /* Never more than the cell's own reporters as shown. */
                v = perturb_count(t, d->reporters_high, ck, FIG_HIGH);
                pub->reporters_high = v < min_reporters ? min_reporters : v;
                if (pub->reporters_high > pub->reporters && d->reporters_high <= d->reporters)
                        pub->reporters_high = pub->reporters;
        }
}

/* One material of one release. */
struct job {
        char material[MATERIAL_MAX];
        struct dc_params params;
        bool loaded;
        struct contribs cs;
        struct ledger led;
        struct dc_result res;
};

static void job_clear(struct job *jb)
{
        if (jb->loaded) {
                dc_result_free(&jb->res);
                contribs_free(&jb->cs);
        }
        free(jb->led.cells);
        memset(&jb->led, 0, sizeof(jb->led));
        jb->loaded = false;
}

/* The rules for material: [privacy], stricter for a sensitive one. */
static struct dc_params params_for(const struct hub_aggregate *ag, const char *material)
{
        const struct hub_privacy *pv = &ag->privacy;
        struct dc_params p = { pv->min_reporters, pv->dominance_n, pv->dominance_k,
                               pv->protection_reports };

        if (hub_privacy_sensitive(pv, material)) {
                p.min_reporters = pv->sensitive_min_reporters;
                p.dominance_n = pv->sensitive_dominance_n;
                p.dominance_k = pv->sensitive_dominance_k;
        }
        return p;
}

struct release_ctx {
        struct hub_aggregate *ag;
        uint32_t month;
        const uint32_t *weeks;
        size_t nweeks;
        bool final;
        struct job *jobs;
        size_t njobs;
        uint64_t now_ms;
        struct alert_list *alerts;
        size_t alerts_before;
        uint32_t released, suppressed;
        uint64_t point_ms;      /* the release point: the due time of its last week */
};

/* Cells of an earlier release, copied out to be written back as final. */
struct final_list {
        Nmo__Hub__Cell **cells;
        size_t n, cap;
};

static int final_collect(const Nmo__Hub__Cell *c, void *userdata)
{
        struct final_list *fl = userdata;
        size_t len = nmo__hub__cell__get_packed_size(c);
        uint8_t *buf;
        Nmo__Hub__Cell *copy;

        if (c->has_final && c->final)
                return 0;
        if (fl->n == fl->cap) {
                size_t cap = fl->cap ? fl->cap * 2 : 32;
                Nmo__Hub__Cell **g = realloc(fl->cells, cap * sizeof(*g));

                if (!g)
                        return -ENOMEM;
                fl->cells = g;
                fl->cap = cap;
        }
        buf = malloc(len ? len : 1);
        if (!buf)
                return -ENOMEM;
        nmo__hub__cell__pack(c, buf);
        copy = nmo__hub__cell__unpack(NULL, len, buf);
        free(buf);
        if (!copy)
                return -ENOMEM;
        fl->cells[fl->n++] = copy;
        return 0;
}

/* Marks every cell an earlier release published for (material, month) final. */
static int mark_final(MDB_txn *txn, struct analytics *an, const char *material, uint32_t month)
{
        struct final_list fl = { NULL, 0, 0 };
        int r = analytics_month_cells(txn, an, material, month, final_collect, &fl);

        for (size_t i = 0; i < fl.n; i++) {
                if (r == 0) {
                        fl.cells[i]->has_final = 1;
                        fl.cells[i]->final = 1;
                        r = analytics_put_cell(txn, an, fl.cells[i]);
                }
                nmo__hub__cell__free_unpacked(fl.cells[i], NULL);
        }
        free(fl.cells);
        return r;
}

static int release_txn(MDB_txn *txn, void *userdata)
{
        struct release_ctx *rc = userdata;
        struct hub_aggregate *ag = rc->ag;
        Nmo__Hub__Release rel = NMO__HUB__RELEASE__INIT;
        char epoch[PERIOD_STR_MAX], issued[24], next[24];
        char wbuf[PERIOD_WEEKS_MAX][PERIOD_STR_MAX], *wptr[PERIOD_WEEKS_MAX];
        uint32_t id = 0;
        int r = 0;

        /* The write may run again after the map grew: drop alerts of a failed try. */
        for (size_t i = rc->alerts_before; i < rc->alerts->n; i++)
                free(rc->alerts->a[i].signed_alert);
        rc->alerts->n = rc->alerts_before;
        rc->released = rc->suppressed = 0;
        r = analytics_release_next_id(txn, ag->an, &id);
        for (size_t j = 0; r == 0 && j < rc->njobs; j++) {
                struct job *jb = &rc->jobs[j];
                struct dc_result pub = { NULL, 0 };

                if (!jb->loaded)
                        continue;
                if (rc->final)
                        r = mark_final(txn, ag->an, jb->material, rc->month);
                pub.cells = calloc(jb->res.ncells ? jb->res.ncells : 1, sizeof(*pub.cells));
                if (r == 0 && !pub.cells)
                        r = -ENOMEM;
                for (size_t i = 0; r == 0 && i < jb->res.ncells; i++) {
                        const struct dc_cell *d = &jb->res.cells[i];
                        struct dc_cell *out = &pub.cells[pub.ncells];

                        if (d->fate != DC_NEW)
                                continue;
                        if (dc_released(d)) {
                                perturb_cell(ag, d, jb->params.min_reporters, out);
                                rc->released++;
                        } else {
                                *out = *d;
                                rc->suppressed++;
                        }
                        pub.ncells++;
                        r = put_cell(txn, ag->an, jb->material, out, rc->final, id);
                }
                /* Alerts from what this release published, as published. */
                if (r == 0)
                        r = evaluate_alerts(txn, ag, jb->material, &pub, rc->point_ms, rc->alerts);
                free(pub.cells);
        }
        if (r < 0)
                return r;
        period_month_str(rc->month, epoch, sizeof(epoch));
        point_str(rc->point_ms, issued, sizeof(issued));
        point_str(next_point_ms(ag, rc->now_ms), next, sizeof(next));
        for (size_t i = 0; i < rc->nweeks; i++) {
                period_week_str(rc->weeks[i], wbuf[i], sizeof(wbuf[i]));
                wptr[i] = wbuf[i];
        }
        rel.has_id = 1;
        rel.id = id;
        rel.issued = issued;
        rel.epoch = epoch;
        rel.n_weeks = rc->nweeks;
        rel.weeks = wptr;
        rel.has_final = 1;
        rel.final = rc->final;
        rel.has_cells_released = 1;
        rel.cells_released = rc->released;
        rel.has_cells_suppressed = 1;
        rel.cells_suppressed = rc->suppressed;
        rel.has_noise_max = 1;
        rel.noise_max = ag->privacy.noise_max;
        rel.has_noise_variance = 1;
        rel.noise_variance = ag->privacy.noise_variance;
        rel.has_noise_volume = 1;
        rel.noise_volume = ag->privacy.noise_volume;
        rel.has_protection_reports = 1;
        rel.protection_reports = ag->privacy.protection_reports;
        rel.next = next;
        return analytics_put_release(txn, ag->an, &rel);
}

static int released_txn(MDB_txn *txn, void *userdata)
{
        struct release_ctx *rc = userdata;

        if (rc->nweeks == 0)
                return 0;
        return hub_epochs_set_released(txn, rc->ag->st, rc->month, rc->weeks[rc->nweeks - 1]);
}

/* Publishes weeks (nweeks >= 1, in order; with final, also the event-month
 * cells, and every cell of the epoch is marked final) for every material of
 * epoch month, in one transaction on the analytics store, then records in
 * the private store how far the epoch is released. */
static int release_epoch(struct hub_aggregate *ag, uint32_t month, const uint32_t *weeks,
                         size_t nweeks, bool final, uint64_t now_ms, struct alert_list *alerts)
{
        char (*materials)[MATERIAL_MAX] = NULL;
        struct release_ctx rc;
        struct job *jobs = NULL;
        size_t n = 0;
        int r;

        r = materials_of(ag, month, &materials, &n);
        if (r == 0 && n > 0) {
                jobs = calloc(n, sizeof(*jobs));
                if (!jobs)
                        r = -ENOMEM;
        }
        for (size_t j = 0; r == 0 && j < n; j++) {
                struct job *jb = &jobs[j];
                struct ledger_load ll = { ag->an, jb->material, month, &jb->led };
                struct dc_ledger dl = { ledger_lookup, ledger_in_scope, &jb->led };

                memcpy(jb->material, materials[j], MATERIAL_MAX);
                jb->params = params_for(ag, jb->material);
                jb->led.weeks = weeks;
                jb->led.nweeks = nweeks;
                jb->led.final = final;
                r = db_read(ag->an->env, ledger_load_txn, &ll);
                if (r < 0)
                        break;
                r = load_contribs(ag, month, jb->material, &jb->cs);
                if (r == -ENOENT) {
                        log_error("the key of epoch %06u is missing: its figures for %s cannot "
                                  "be released", month, jb->material);
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                r = dc_compute(jb->cs.c, jb->cs.n, month, &jb->params, &dl, &jb->res);
                if (r < 0) {
                        contribs_free(&jb->cs);
                        break;
                }
                jb->loaded = true;
        }
        if (r == 0) {
                uint32_t mweeks[PERIOD_WEEKS_MAX];
                size_t nm = period_month_weeks(month, mweeks);

                /* Issued at its point in the calendar, also when the hub
                 * was down then and releases later. */
                rc = (struct release_ctx){ ag, month, weeks, nweeks, final, jobs, n, now_ms,
                                           alerts, alerts->n, 0, 0,
                                           week_due_ms(ag, nweeks ? weeks[nweeks - 1]
                                                                  : mweeks[nm - 1]) };
                r = db_write(ag->an->env, release_txn, &rc);
        }
        if (r == 0)
                r = hub_store_write(ag->st, released_txn, &rc);
        if (r == 0 && nweeks == 0) {
                log_info("released epoch %06u final: %u cells with figures, %u suppressed", month,
                         rc.released, rc.suppressed);
        } else if (r == 0) {
                char first[PERIOD_STR_MAX], last[PERIOD_STR_MAX];

                period_week_str(weeks[0], first, sizeof(first));
                period_week_str(weeks[nweeks - 1], last, sizeof(last));
                log_info("released %s%s%s%s: %u cells with figures, %u suppressed", first,
                         nweeks > 1 ? " to " : "", nweeks > 1 ? last : "",
                         final ? " (epoch final)" : "", rc.released, rc.suppressed);
        }
        for (size_t j = 0; j < n; j++)
                job_clear(&jobs[j]);
        free(jobs);
        free(materials);
        return r;
}

/* The weeks of epoch e due by now_ms and not yet released (in order), and
 * whether the epoch's final release is due. */
static size_t due_weeks(const struct hub_aggregate *ag, const struct hub_epoch_info *e,
                        uint64_t now_ms, uint32_t out[PERIOD_WEEKS_MAX], bool *final)
{
        uint32_t weeks[PERIOD_WEEKS_MAX];
        size_t nw = period_month_weeks(e->month, weeks), n = 0;

        /* Not e->released_through: the analytics store's ledger says what
         * is released (ledger_weeks()), so that one restored from an older
         * backup gets its releases again, with the same figures. */
        (void)e;
        *final = week_due_ms(ag, weeks[nw - 1]) <= now_ms;
        for (size_t i = 0; i < nw; i++)
                if (week_due_ms(ag, weeks[i]) <= now_ms)
                        out[n++] = weeks[i];
        return n;
}

struct ledger_weeks {
        uint32_t month;
        uint32_t *weeks;
        size_t *n;
        bool final;
};

static int ledger_weeks_one(const Nmo__Hub__Release *rel, void *userdata)
{
        struct ledger_weeks *lw = userdata;
        uint32_t month = 0, week = 0;

        if (!rel->epoch || period_parse_month(rel->epoch, &month) < 0 || month != lw->month)
                return 0;
        lw->final |= rel->has_final && rel->final;
        for (size_t i = 0; i < rel->n_weeks; i++) {
                if (period_parse_week(rel->weeks[i], &week) < 0)
                        continue;
                for (size_t j = 0; j < *lw->n; j++) {
                        if (lw->weeks[j] != week)
                                continue;
                        memmove(&lw->weeks[j], &lw->weeks[j + 1],
                                (*lw->n - j - 1) * sizeof(*lw->weeks));
                        (*lw->n)--;
                        break;
                }
        }
        return 0;
}

/* Leaves out of weeks those the ledger says are released already (a crash
 * between the analytics store's commit and the private store's); *final
 * tells whether the epoch's final release is there. */
static int ledger_weeks(struct hub_aggregate *ag, uint32_t month, uint32_t *weeks, size_t *n,
                        bool *final)
{
        struct ledger_weeks lw = { month, weeks, n, false };
        int r = analytics_foreach_release(ag->an, ledger_weeks_one, &lw);

        *final = lw.final;
        return r;
}

/* Releases whatever of the open epochs is due by now_ms, closing those whose
 * last release it was. */
static int release_due(struct hub_aggregate *ag, uint64_t now_ms, struct alert_list *out)
{
        struct hub_epoch_info *epochs = NULL;
        size_t n = 0;
        int r;

        r = hub_epochs_list(ag->st, &epochs, &n);
        for (size_t i = 0; r == 0 && i < n; i++) {
                uint32_t weeks[PERIOD_WEEKS_MAX];
                bool final = false;
                size_t nw;

                if (epochs[i].state == NMO__HUB__EPOCH_STATE__EPOCH_CLOSED)
                        continue;
                nw = due_weeks(ag, &epochs[i], now_ms, weeks, &final);
                if (nw > 0) {
                        bool done = false;

                        r = ledger_weeks(ag, epochs[i].month, weeks, &nw, &done);
                        if (r == 0 && (nw > 0 || (final && !done)))
                                r = release_epoch(ag, epochs[i].month, weeks, nw, final, now_ms,
                                                  out);
                }
                if (r == 0 && final)
                        r = close_epoch(ag, &epochs[i], now_ms);
        }
        free(epochs);
        return r;
}

static int flush(struct hub_aggregate *ag, uint64_t now_ms, struct hub_alert_out **alerts,
                 size_t *nalerts)
{
        struct alert_list out = { NULL, 0, 0 };
        int r;

        *alerts = NULL;
        *nalerts = 0;
        /* What the ingest journaled becomes part of its rows first. */
        r = journal_fold(ag);
        if (r < 0) {
                log_error("cannot fold the journal into the contributions: %s; will retry",
                          strerror(-r));
                return r;
        }
        r = release_due(ag, now_ms, &out);
        if (r < 0) {
                log_error("cannot release to the analytics store: %s; will retry",
                          strerror(-r));
                hub_alert_out_free(out.a, out.n);
                return r;
        }
        *alerts = out.a;
        *nalerts = out.n;
        return 0;
}

int hub_aggregate_flush(struct hub_aggregate *ag, uint64_t now_ms, struct hub_alert_out **alerts,
                        size_t *nalerts)
{
        return flush(ag, now_ms, alerts, nalerts);
}



int hub_aggregate_housekeeping(struct hub_aggregate *ag, uint64_t now_ms,
                               struct hub_alert_out **alerts, size_t *nalerts)
{
        struct hub_epoch_info *epochs = NULL;
        uint32_t stripped = 0;
        size_t n = 0;
        int r;

        *alerts = NULL;
        *nalerts = 0;
        (void)mdb_reader_check(ag->st->env, NULL);
        (void)mdb_reader_check(ag->st->cenv, NULL);
        (void)mdb_reader_check(ag->an->env, NULL);
        /* A close interrupted after its commit: the contributions and the key
         * must still go. */
        r = hub_epochs_list(ag->st, &epochs, &n);
        if (r == 0)
                r = hub_records_stripped_through(ag->st, &stripped);
        for (size_t i = 0; r == 0 && i < n; i++) {
                struct close_ctx c = { ag, epochs[i].month, epochs[i].opened_ms, now_ms,
                                       epochs[i].released_through };
                char (*left)[MATERIAL_MAX] = NULL;
                size_t nleft = 0;

                if (epochs[i].state != NMO__HUB__EPOCH_STATE__EPOCH_CLOSED)
                        continue;
                r = materials_of(ag, epochs[i].month, &left, &nleft);
                free(left);
                /* A store whose epochs closed before records were cut down
                 * at the close. */
                if (r == 0 && epochs[i].month > stripped) {
                        r = strip_records(ag, epochs[i].month);
                        if (r == 0)
                                r = hub_store_write(ag->st, mark_stripped_txn, &c);
                        if (r == 0)
                                stripped = epochs[i].month;
                }
                if (r == 0 && nleft > 0)
                        r = hub_store_write_contrib(ag->st, close_contrib_txn, &c);
                if (r == 0)
                        r = hub_epoch_key_destroy(ag->keys, epochs[i].month);
        }
        free(epochs);
        if (r < 0)
                return r;
        /* Then whatever release is due (the clock may have passed several). */
        return flush(ag, now_ms, alerts, nalerts);
}

struct recent_ctx {
        char since[11];
        struct alert_list *out;
};

static int recent_one(const uint8_t *signed_alert, size_t len, const Nmo__AlertBody *b,
                      void *userdata)
{
        struct recent_ctx *rc = userdata;
        uint8_t *copy;

        if (!b->issued || strcmp(b->issued, rc->since) < 0)
                return 0;
        copy = malloc(len);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, signed_alert, len);
        if (alert_list_add(rc->out, copy, len) < 0) {
                free(copy);
                return -ENOMEM;
        }
        return 0;
}

int hub_aggregate_recent_alerts(struct hub_aggregate *ag, uint64_t now_ms, unsigned int days,
                                struct hub_alert_out **alerts, size_t *nalerts)
{
        struct alert_list out = { NULL, 0, 0 };
        struct recent_ctx rc = { "", &out };
        int r;

        date_str(date_day_of_ms(now_ms) - (int64_t)days, rc.since, sizeof(rc.since));
        r = analytics_foreach_alert(ag->an, recent_one, &rc);
        if (r < 0) {
                hub_alert_out_free(out.a, out.n);
                return r;
        }
        *alerts = out.a;
        *nalerts = out.n;
        return 0;
}

void hub_aggregate_set_rules(struct hub_aggregate *ag, const struct hub_alert_rules *rules)
{
        pthread_mutex_lock(&ag->lock);
        ag->rules = *rules;
        pthread_mutex_unlock(&ag->lock);
}
