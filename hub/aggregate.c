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
#include "writer.h"

#define MATERIAL_MAX HUB_MATERIAL_MAX

struct dirty {
        uint32_t month;
        char material[MATERIAL_MAX];
};

/* How long the last recomputation of (month, material) took, and when it may
 * run again: at most every RECOMPUTE_SHARE times its own cost, so that the
 * aggregation of a large epoch takes a bounded share of the machine and the
 * analytics store lags by a time proportional to the epoch's size. */
#define RECOMPUTE_SHARE 10
#define RECOMPUTE_LAG_MAX_MS 60000

struct pace {
        uint32_t month;
        char material[MATERIAL_MAX];
        uint64_t not_before_ms;
};

struct hub_aggregate {
        struct hub_store *st;
        struct analytics *an;
        const struct keys_secret *hub;
        struct hub_privacy privacy;
        struct hub_alert_rules rules;
        struct hub_epoch_keys *keys;
        struct hub_journal *journal;
        struct dirty *dirty;
        size_t ndirty, capdirty;
        struct pace *pace;
        size_t npace, cappace;
        /* The ingest thread's last check: in write transaction open_txn the
         * epoch of open_week (open_month) is open. */
        size_t open_txn;
        uint32_t open_week, open_month;
        /* The ingest thread adds contributions while the aggregation thread
         * flushes: the dirty set is shared (the keys and the journal have
         * locks of their own). */
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
        struct hub_aggregate *ag = calloc(1, sizeof(*ag));
        int r;

        if (!ag)
                return -ENOMEM;
        pthread_mutex_init(&ag->lock, NULL);
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
        free(ag->dirty);
        free(ag->pace);
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

static int mark_dirty_locked(struct hub_aggregate *ag, uint32_t month, const char *material)
{
        for (size_t i = 0; i < ag->ndirty; i++)
                if (ag->dirty[i].month == month && strcmp(ag->dirty[i].material, material) == 0)
                        return 0;
        if (ag->ndirty == ag->capdirty) {
                size_t cap = ag->capdirty ? ag->capdirty * 2 : 16;
                struct dirty *grown = realloc(ag->dirty, cap * sizeof(*grown));

                if (!grown)
                        return -ENOMEM;
                ag->dirty = grown;
                ag->capdirty = cap;
        }
        ag->dirty[ag->ndirty].month = month;
        snprintf(ag->dirty[ag->ndirty].material, MATERIAL_MAX, "%s", material);
        ag->ndirty++;
        return 0;
}

static int mark_dirty(struct hub_aggregate *ag, uint32_t month, const char *material)
{
        int r;

        pthread_mutex_lock(&ag->lock);
        r = mark_dirty_locked(ag, month, material);
        pthread_mutex_unlock(&ag->lock);
        return r;
}

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

static int changed_fn(void *userdata, uint32_t month, const char *material)
{
        return mark_dirty(userdata, month, material);
}

/* Folds the journal (journal.h) and marks every row it changed dirty. */
static int journal_fold(struct hub_aggregate *ag)
{
        return hub_journal_fold(ag->journal, changed_fn, ag);
}

/* Decrypted summaries of one (month, material). */
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
                d->notes = (const char *const *)w->notes;
                d->nnotes = w->nnotes;
        }
        return 0;
}

/* ---- the analytics store ---- */

/* The store record of a computed cell. A suppressed cell carries its status
 * and nothing else (analytics_put_cell refuses it otherwise). */
static int put_cell(MDB_txn *txn, struct analytics *an, const char *material,
                    const struct dc_cell *d, bool final)
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

/* ---- recomputation ---- */

/* One (epoch, material) to recompute, with what it needs. */
struct job {
        uint32_t month;
        char material[MATERIAL_MAX];
        bool final;
        bool loaded;
        struct contribs cs;
        struct dc_result res;
};

struct recompute {
        struct hub_aggregate *ag;
        struct job *jobs;
        size_t njobs;
        uint64_t now_ms;
        struct alert_list *alerts;
        size_t alerts_before;
};

static int recompute_txn(MDB_txn *txn, struct recompute *rc)
{
        int r = 0;

        /* The write may run again after the map grew: drop alerts of a failed try. */
        for (size_t i = rc->alerts_before; i < rc->alerts->n; i++)
                free(rc->alerts->a[i].signed_alert);
        rc->alerts->n = rc->alerts_before;
        for (size_t j = 0; r == 0 && j < rc->njobs; j++) {
                struct job *jb = &rc->jobs[j];

                if (!jb->loaded)
                        continue;
                r = analytics_delete_month(txn, rc->ag->an, jb->material, jb->month);
                for (size_t i = 0; r == 0 && i < jb->res.ncells; i++)
                        r = put_cell(txn, rc->ag->an, jb->material, &jb->res.cells[i],
                                     jb->final);
                if (r == 0)
                        r = evaluate_alerts(txn, rc->ag, jb->material, &jb->res, rc->now_ms,
                                            rc->alerts);
        }
        return r;
}

static int recompute_fn(MDB_txn *txn, void *userdata)
{
        return recompute_txn(txn, userdata);
}

/* Writes every job in one durable write transaction on the analytics store
 * (one sync however many materials changed), growing its map when full. */
static int write_jobs(struct analytics *an, struct recompute *rc)
{
        return db_write(an->env, recompute_fn, rc);
}

/* Loads and computes every job, then writes them all at once. A job whose
 * epoch key is missing is reported and skipped (nothing of it can be read). */
static int recompute_jobs(struct hub_aggregate *ag, struct job *jobs, size_t n, uint64_t now_ms,
                          struct alert_list *alerts)
{
        struct dc_params p = { ag->privacy.min_reporters, ag->privacy.dominance_n,
                               ag->privacy.dominance_k };
        struct recompute rc;
        int r = 0;

        for (size_t j = 0; r == 0 && j < n; j++) {
                r = load_contribs(ag, jobs[j].month, jobs[j].material, &jobs[j].cs);
                if (r == -ENOENT) {
                        log_error("the key of epoch %06u is missing: its figures for %s cannot "
                                  "be recomputed", jobs[j].month, jobs[j].material);
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                r = dc_compute(jobs[j].cs.c, jobs[j].cs.n, jobs[j].month, &p, &jobs[j].res);
                if (r < 0) {
                        contribs_free(&jobs[j].cs);
                        break;
                }
                jobs[j].loaded = true;
        }
        if (r == 0) {
                rc = (struct recompute){ ag, jobs, n, now_ms, alerts, alerts->n };
                r = write_jobs(ag->an, &rc);
        }
        for (size_t j = 0; j < n; j++) {
                if (!jobs[j].loaded)
                        continue;
                dc_result_free(&jobs[j].res);
                contribs_free(&jobs[j].cs);
                jobs[j].loaded = false;
        }
        return r;
}

static struct pace *pace_find(struct hub_aggregate *ag, uint32_t month, const char *material,
                              bool add)
{
        for (size_t i = 0; i < ag->npace; i++)
                if (ag->pace[i].month == month && strcmp(ag->pace[i].material, material) == 0)
                        return &ag->pace[i];
        if (!add)
                return NULL;
        if (ag->npace == ag->cappace) {
                size_t cap = ag->cappace ? ag->cappace * 2 : 16;
                struct pace *g = realloc(ag->pace, cap * sizeof(*g));

                if (!g)
                        return NULL;
                ag->pace = g;
                ag->cappace = cap;
        }
        memset(&ag->pace[ag->npace], 0, sizeof(ag->pace[0]));
        ag->pace[ag->npace].month = month;
        snprintf(ag->pace[ag->npace].material, MATERIAL_MAX, "%s", material);
        return &ag->pace[ag->npace++];
}

static int flush(struct hub_aggregate *ag, uint64_t now_ms, bool paced,
                 struct hub_alert_out **alerts, size_t *nalerts);

int hub_aggregate_flush(struct hub_aggregate *ag, uint64_t now_ms, struct hub_alert_out **alerts,
                        size_t *nalerts)
{
        return flush(ag, now_ms, true, alerts, nalerts);
}

int hub_aggregate_flush_all(struct hub_aggregate *ag, uint64_t now_ms,
                            struct hub_alert_out **alerts, size_t *nalerts)
{
        return flush(ag, now_ms, false, alerts, nalerts);
}

static int flush(struct hub_aggregate *ag, uint64_t now_ms, bool paced,
                 struct hub_alert_out **alerts, size_t *nalerts)
{
        struct alert_list out = { NULL, 0, 0 };
        struct job *jobs;
        size_t n;
        int r;

        *alerts = NULL;
        *nalerts = 0;
        /* What the ingest journaled becomes part of its rows first. */
        r = journal_fold(ag);
        if (r < 0)
                log_error("cannot fold the journal into the contributions: %s; will retry",
                          strerror(-r));
        /* Take what is dirty now; what is marked meanwhile waits for the next
         * flush. */
        pthread_mutex_lock(&ag->lock);
        jobs = ag->ndirty ? calloc(ag->ndirty, sizeof(*jobs)) : NULL;
        n = 0;
        for (size_t i = 0; jobs && i < ag->ndirty;) {
                struct pace *pc = pace_find(ag, ag->dirty[i].month, ag->dirty[i].material, false);

                /* Not yet: it stays dirty for a later flush. */
                if (paced && pc && pc->not_before_ms > util_mono_ms()) {
                        i++;
                        continue;
                }
                jobs[n].month = ag->dirty[i].month;
                memcpy(jobs[n].material, ag->dirty[i].material, MATERIAL_MAX);
                n++;
                ag->dirty[i] = ag->dirty[--ag->ndirty];
        }
        pthread_mutex_unlock(&ag->lock);
        if (n == 0) {
                free(jobs);
                return jobs || !ag->ndirty ? 0 : -ENOMEM;
        }
        {
                uint64_t started = util_mono_ms(), cost;

                r = recompute_jobs(ag, jobs, n, now_ms, &out);
                cost = (util_mono_ms() - started) / n + 1;
                pthread_mutex_lock(&ag->lock);
                for (size_t i = 0; i < n; i++) {
                        struct pace *pc = pace_find(ag, jobs[i].month, jobs[i].material, true);
                        uint64_t wait = cost * RECOMPUTE_SHARE;

                        if (pc)
                                pc->not_before_ms = util_mono_ms() +
                                                    (wait > RECOMPUTE_LAG_MAX_MS
                                                             ? RECOMPUTE_LAG_MAX_MS : wait);
                }
                pthread_mutex_unlock(&ag->lock);
        }
        if (r < 0) {
                /* Dirty again: the next flush tries again. */
                log_error("cannot update the analytics store: %s", strerror(-r));
                for (size_t i = 0; i < n; i++)
                        (void)mark_dirty(ag, jobs[i].month, jobs[i].material);
                free(jobs);
                hub_alert_out_free(out.a, out.n);
                return r;
        }
        free(jobs);
        *alerts = out.a;
        *nalerts = out.n;
        return 0;
}

/* Distinct materials with contributions in month. */
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
                         c->opened_ms, c->now_ms);
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

/* Final cells, then the epoch's signal records cut down, then contributions
 * gone, then the key destroyed. A crash anywhere in between is finished by
 * the next housekeeping: the epoch is marked closed only once its records
 * are cut down. */
static int close_epoch(struct hub_aggregate *ag, const struct hub_epoch_info *e, uint64_t now_ms,
                       struct alert_list *alerts)
{
        char (*materials)[MATERIAL_MAX] = NULL;
        struct close_ctx c = { ag, e->month, e->opened_ms, now_ms };
        size_t n = 0;
        int r;

        r = materials_of(ag, e->month, &materials, &n);
        if (r == 0 && n > 0) {
                struct job *jobs = calloc(n, sizeof(*jobs));

                if (!jobs) {
                        r = -ENOMEM;
                } else {
                        for (size_t i = 0; i < n; i++) {
                                jobs[i].month = e->month;
                                jobs[i].final = true;
                                memcpy(jobs[i].material, materials[i], MATERIAL_MAX);
                        }
                        r = recompute_jobs(ag, jobs, n, now_ms, alerts);
                        free(jobs);
                }
        }
        free(materials);
        if (r == 0)
                r = strip_records(ag, e->month);
        if (r < 0)
                return r;
        r = hub_store_write(ag->st, close_txn, &c);
        /* Durable before anything is destroyed (the hub defers meta syncs). */
        if (r == 0)
                r = db_errno(mdb_env_sync(ag->st->env, 1));
        if (r == 0)
                r = hub_store_write_contrib(ag->st, close_contrib_txn, &c);
        if (r < 0)
                return r;
        pthread_mutex_lock(&ag->lock);
        for (size_t i = 0; i < ag->ndirty;) {
                if (ag->dirty[i].month == e->month)
                        ag->dirty[i] = ag->dirty[--ag->ndirty];
                else
                        i++;
        }
        pthread_mutex_unlock(&ag->lock);
        r = hub_epoch_key_destroy(ag->keys, e->month);
        if (r == 0)
                log_info("epoch %06u closed: final cells written, contributions deleted, key "
                         "destroyed", e->month);
        return r;
}

int hub_aggregate_housekeeping(struct hub_aggregate *ag, uint64_t now_ms, bool recount,
                               struct hub_alert_out **alerts, size_t *nalerts)
{
        struct alert_list out = { NULL, 0, 0 };
        struct hub_epoch_info *epochs = NULL;
        uint32_t stripped = 0;
        size_t n = 0;
        int r;

        *alerts = NULL;
        *nalerts = 0;
        (void)mdb_reader_check(ag->st->env, NULL);
        (void)mdb_reader_check(ag->st->cenv, NULL);
        (void)mdb_reader_check(ag->an->env, NULL);
        /* Nothing journaled may be left behind by a close or a recount. */
        r = journal_fold(ag);
        if (r == 0)
                r = hub_epochs_list(ag->st, &epochs, &n);
        if (r == 0)
                r = hub_records_stripped_through(ag->st, &stripped);
        for (size_t i = 0; r == 0 && i < n; i++) {
                if (epochs[i].state == NMO__HUB__EPOCH_STATE__EPOCH_CLOSED) {
                        /* A close interrupted after the commit: the contributions
                         * and the key must still go. */
                        struct close_ctx c = { ag, epochs[i].month, epochs[i].opened_ms,
                                               now_ms };
                        char (*left)[MATERIAL_MAX] = NULL;
                        size_t nleft = 0;

                        r = materials_of(ag, epochs[i].month, &left, &nleft);
                        free(left);
                        /* A store whose epochs closed before records were
                         * cut down at the close. */
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
                } else if (period_month_end_ms(epochs[i].month) <= now_ms) {
                        r = close_epoch(ag, &epochs[i], now_ms, &out);
                } else if (recount) {
                        char (*materials)[MATERIAL_MAX] = NULL;
                        size_t nm = 0;

                        r = materials_of(ag, epochs[i].month, &materials, &nm);
                        for (size_t j = 0; r == 0 && j < nm; j++)
                                r = mark_dirty(ag, epochs[i].month, materials[j]);
                        free(materials);
                }
        }
        free(epochs);
        if (r == 0 && recount) {
                struct hub_alert_out *more = NULL;
                size_t nmore = 0;

                r = hub_aggregate_flush_all(ag, now_ms, &more, &nmore);
                for (size_t i = 0; i < nmore && r == 0; i++) {
                        r = alert_list_add(&out, more[i].signed_alert, more[i].len);
                        if (r == 0)
                                more[i].signed_alert = NULL;
                }
                hub_alert_out_free(more, nmore);
        }
        *alerts = out.a;
        *nalerts = out.n;
        return r;
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
