/* test-aggregate.c: the aggregation path (hub/aggregate.c) on real LMDB stores
 * in a temporary hub directory: contributions become released cells; nothing
 * that names or links to a member reaches the analytics store (a raw byte
 * scan); at epoch close the cells turn final, the contributions go and the
 * epoch key is destroyed, after which the private store can no longer link
 * the epoch to members. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "aggregate.h"
#include "alert.h"
#include "date.h"
#include "db.h"
#include "member.h"
#include "period.h"
#include "unit-tmp.h"

#define NMEMBERS 4

static const char *names[NMEMBERS] = { "acme-alpha", "bravo-metals", "charlie-chips",
                                       "delta-cells" };

struct fixture {
        char dir[PATH_MAX];
        struct hub_store *st;
        struct analytics *an;
        struct hub_aggregate *ag;
        struct keys_secret *hub;
        struct keys_secret *member[NMEMBERS];
        struct hub_member m[NMEMBERS];
        struct hub_config cfg;
        int64_t day;
        uint64_t now;
        uint64_t seq;           /* the journal's key, as the ingest's sequence */
};

struct add_ctx {
        struct fixture *f;
        int who;
        const char *material;
        const char *event;
        const char *severity;
        const char *note;
        uint64_t volume;
        uint64_t now;
};

static int do_member(MDB_txn *txn, void *u)
{
        struct add_ctx *c = u;

        return hub_member_add(txn, c->f->st, names[c->who], &c->f->member[c->who]->pub, 1,
                              &c->f->m[c->who]);
}

static int do_signal(MDB_txn *txn, void *u)
{
        struct add_ctx *c = u;
        struct signal s;
        char err[200];

        signal_init(&s);
        assert_int_equal(signal_set(&s, "material", c->material, err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "event", c->event, err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "severity", c->severity, err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "country", "CN", err, sizeof(err)), 0);
        if (c->volume)
                s.volume_t = c->volume;
        if (c->note) {
                assert_int_equal(signal_set(&s, "note", c->note, err, sizeof(err)), 0);
                assert_int_equal(signal_set(&s, "note-consent", "note-may-be-shared", err,
                                            sizeof(err)), 0);
        }
        return hub_aggregate_add(c->f->ag, txn, c->f->m[c->who].id, ++c->f->seq, &s, c->now);
}

static void submit(struct fixture *f, int who, const char *material, const char *event,
                   const char *severity, uint64_t volume, const char *note)
{
        struct add_ctx c = { f, who, material, event, severity, note, volume, f->now };

        assert_int_equal(hub_store_write(f->st, do_signal, &c), 0);
}

static void fixture_up(struct fixture *f)
{
        char *an_path;

        memset(f, 0, sizeof(*f));
        assert_non_null(unit_tmp_make(f->dir, sizeof(f->dir), "aggregate"));
        assert_int_equal(hub_store_open(&f->st, f->dir, false), 0);
        an_path = util_path(f->dir, "analytics");
        assert_int_equal(analytics_open(&f->an, an_path, false), 0);
        free(an_path);
        assert_int_equal(keys_generate(&f->hub, KEYS_ROLE_HUB, NULL), 0);
        hub_config_defaults(&f->cfg);
        assert_int_equal(hub_aggregate_new(&f->ag, f->dir, f->st, f->an, f->hub, &f->cfg), 0);
        for (int i = 0; i < NMEMBERS; i++) {
                struct add_ctx c = { .f = f, .who = i };

                assert_int_equal(keys_generate(&f->member[i], KEYS_ROLE_MEMBER, names[i]), 0);
                assert_int_equal(hub_store_write(f->st, do_member, &c), 0);
        }
        /* Tuesday 2026-11-10, noon: ISO week 46, epoch 2026-11. */
        assert_int_equal(date_parse("2026-11-10", &f->day), 0);
        f->now = (uint64_t)f->day * DATE_MS_PER_DAY + 12u * 3600u * 1000u;
}

static void fixture_down(struct fixture *f)
{
        hub_aggregate_free(f->ag);
        analytics_free(f->an);
        hub_store_free(f->st);
        keys_free(f->hub);
        for (int i = 0; i < NMEMBERS; i++)
                keys_free(f->member[i]);
        assert_int_equal(unit_tmp_remove(f->dir), 0);
}

/* When the hub releases week (its end plus the default delay), and a minute. */
static uint64_t due(uint32_t week)
{
        return (uint64_t)(period_week_monday(week) + 7) * DATE_MS_PER_DAY + 6u * 3600u * 1000u +
               60000u;
}

static void flush(struct fixture *f, size_t *nalerts)
{
        struct hub_alert_out *alerts = NULL;
        size_t n = 0;

        assert_int_equal(hub_aggregate_flush(f->ag, f->now, &alerts, &n), 0);
        for (size_t i = 0; i < n; i++) {
                Nmo__AlertBody *b = NULL;

                assert_int_equal(alert_verify(alerts[i].signed_alert, alerts[i].len,
                                              f->hub->pub.sign, &b), 0);
                nmo__alert_body__free_unpacked(b, NULL);
        }
        hub_alert_out_free(alerts, n);
        if (nalerts)
                *nalerts = n;
}

struct find_ctx {
        const char *event;
        Nmo__Hub__CellKind kind;
        const char *period;
        bool found;
        bool released;
        bool final;
        uint32_t reporters;
        uint32_t reports;
        size_t notes;
};

static int find_cell(const Nmo__Hub__Cell *c, void *u)
{
        struct find_ctx *fc = u;

        if (c->kind != fc->kind || strcmp(c->event, fc->event) != 0 ||
            strcmp(c->period, fc->period) != 0)
                return 0;
        fc->found = true;
        fc->released = c->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;
        fc->final = c->final;
        fc->reporters = c->reporters;
        fc->reports = c->reports;
        fc->notes = c->n_notes;
        /* A suppressed cell carries no values at all. */
        if (!fc->released)
                assert_false(c->has_reporters || c->has_reports || c->n_severity ||
                             c->has_volume_t || c->n_notes);
        return 0;
}

static struct find_ctx cell(struct fixture *f, const char *material, Nmo__Hub__CellKind kind,
                            const char *event, const char *period)
{
        struct find_ctx fc = { .event = event, .kind = kind, .period = period };

        assert_int_equal(analytics_foreach_cell(f->an, material, find_cell, &fc), 0);
        return fc;
}

static char *slurp(const char *path, size_t *len)
{
        char *data = NULL;

        assert_int_equal(util_read_file(path, 1u << 30, &data, len), 0);
        return data;
}

static bool contains(const char *hay, size_t n, const void *needle, size_t m)
{
        return m > 0 && memmem(hay, n, needle, m) != NULL;
}

/* Everything that could name or link a member, searched for in raw bytes. */
static void assert_no_identity(struct fixture *f, const char *path,
                               const uint8_t pseudonyms[NMEMBERS][16])
{
        size_t len = 0;
        char *data = slurp(path, &len);

        for (int i = 0; i < NMEMBERS; i++) {
                struct keys_public *pk = &f->member[i]->pub;
                char fp[KEYS_FINGERPRINT_LEN], b64[64], idtext[16];
                uint8_t id_be[4];

                keys_fingerprint(pk, fp);
                hub_store_put_u32(id_be, f->m[i].id);
                snprintf(idtext, sizeof(idtext), "member %u", f->m[i].id);
                if (contains(data, len, names[i], strlen(names[i])))
                        fail_msg("%s holds member name %s", path, names[i]);
                if (contains(data, len, fp, strlen(fp)))
                        fail_msg("%s holds a member fingerprint", path);
                if (contains(data, len, pk->transport, KEYS_KEY_BYTES) ||
                    contains(data, len, pk->payload, KEYS_KEY_BYTES))
                        fail_msg("%s holds a member key", path);
                sodium_bin2base64(b64, sizeof(b64), pk->payload, KEYS_KEY_BYTES,
                                  sodium_base64_VARIANT_ORIGINAL);
                if (contains(data, len, b64, strlen(b64)))
                        fail_msg("%s holds a member key in base64", path);
                if (pseudonyms && contains(data, len, pseudonyms[i], 16))
                        fail_msg("%s holds a pseudonym", path);
        }
        free(data);
}

/* The pseudonyms the hub computes while the epoch is open, recomputed here
 * from the key file the way PROTOCOL.md describes. */
static bool pseudonyms_of(struct fixture *f, uint32_t month, uint8_t out[NMEMBERS][16])
{
        char *path = hub_aggregate_key_path(f->dir, month);
        uint8_t secret[32], pkey[32];
        FILE *fp = fopen(path, "rb");
        bool ok = fp && fread(secret, 1, 32, fp) == 32;

        if (fp)
                fclose(fp);
        free(path);
        if (!ok)
                return false;
        crypto_kdf_derive_from_key(pkey, sizeof(pkey), 1, "nmoepoch", secret);
        for (int i = 0; i < NMEMBERS; i++) {
                uint8_t id[4];

                hub_store_put_u32(id, f->m[i].id);
                crypto_generichash(out[i], 16, id, 4, pkey, sizeof(pkey));
        }
        return true;
}

static void test_cells_and_privacy(void **state)
{
        struct fixture f;
        struct find_ctx fc;
        uint8_t pseud[NMEMBERS][16];
        char *an_data, *priv_data, *contrib_data, *key_path;
        size_t nalerts = 0;
        struct stat st;

        (void)state;
        fixture_up(&f);
        /* Gallium export ban: three companies, one of them three times, with
         * a shared note; lithium: only two companies. */
        submit(&f, 0, "gallium", "export-ban", "critical", 100, "Licences stopped overnight.");
        submit(&f, 0, "gallium", "export-ban", "critical", 100, NULL);
        submit(&f, 0, "gallium", "export-ban", "high", 100, NULL);
        submit(&f, 1, "gallium", "export-ban", "high", 120, NULL);
        submit(&f, 2, "gallium", "export-ban", "high", 90, NULL);
        submit(&f, 1, "lithium", "price-spike", "low", 0, NULL);
        submit(&f, 3, "lithium", "price-spike", "low", 0, NULL);
        /* Nothing is released while the week runs: not a cell, not an alert. */
        flush(&f, &nalerts);
        fc = cell(&f, "gallium", NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, "export-ban", "2026-W46");
        assert_false(fc.found);
        assert_int_equal(nalerts, 0);
        f.now = due(202646) - 120000;
        flush(&f, &nalerts);
        fc = cell(&f, "gallium", NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, "export-ban", "2026-W46");
        assert_false(fc.found);
        /* Its release point: Monday 06:00 UTC after the week. */
        f.now = due(202646);
        flush(&f, &nalerts);

        fc = cell(&f, "gallium", NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, "export-ban", "2026-W46");
        assert_true(fc.found && fc.released && !fc.final);
        /* Perturbed (at most 2 either way), never below the threshold. */
        assert_in_range(fc.reporters, 3, 5);
        assert_in_range(fc.reports, 3, 7);
        assert_int_equal(fc.notes, 1);
        /* Month cells come with the epoch's final release only. */
        fc = cell(&f, "gallium", NMO__HUB__CELL_KIND__CELL_EVENT_MONTH, "export-ban", "2026-11");
        assert_false(fc.found);
        fc = cell(&f, "lithium", NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, "price-spike", "2026-W46");
        assert_true(fc.found && !fc.released);
        /* Three companies at high or critical, and a new export ban: alerts. */
        assert_true(nalerts >= 2);

        /* Raw bytes of both stores: no member identity anywhere; the private
         * store holds pseudonyms only inside encrypted contributions. */
        assert_true(pseudonyms_of(&f, 202611, pseud));
        an_data = util_path(f.dir, "analytics/data.mdb");
        priv_data = util_path(f.dir, "private/data.mdb");
        contrib_data = util_path(f.dir, "private/contributions/data.mdb");
        assert_no_identity(&f, an_data, (const uint8_t(*)[16])pseud);
        for (int p = 0; p < 2; p++) {
                size_t len = 0;
                char *data = slurp(p ? contrib_data : priv_data, &len);
                for (int i = 0; i < NMEMBERS; i++)
                        assert_false(contains(data, len, pseud[i], 16));
                /* No note in clear either: it is inside the encrypted contribution. */
                assert_false(contains(data, len, "Licences stopped", 16));
                free(data);
        }

        /* The epoch ends: final cells, contributions gone, key destroyed. */
        {
                struct hub_alert_out *alerts = NULL;
                size_t n = 0;

                f.now = due(202648);
                assert_int_equal(hub_aggregate_housekeeping(f.ag, f.now, &alerts, &n), 0);
                hub_alert_out_free(alerts, n);
        }
        key_path = hub_aggregate_key_path(f.dir, 202611);
        assert_int_equal(stat(key_path, &st), -1);
        assert_int_equal(errno, ENOENT);
        fc = cell(&f, "gallium", NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, "export-ban", "2026-W46");
        assert_true(fc.found && fc.released && fc.final);
        assert_in_range(fc.reporters, 3, 5);
        fc = cell(&f, "gallium", NMO__HUB__CELL_KIND__CELL_EVENT_MONTH, "export-ban", "2026-11");
        assert_true(fc.found && fc.released && fc.final);
        fc = cell(&f, "lithium", NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, "price-spike", "2026-W46");
        assert_true(fc.found && !fc.released && fc.final);
        {
                MDB_txn *txn;
                MDB_stat ms;

                assert_int_equal(mdb_txn_begin(f.st->cenv, NULL, MDB_RDONLY, &txn), 0);
                assert_int_equal(mdb_stat(txn, f.st->contributions, &ms), 0);
                assert_int_equal(ms.ms_entries, 0);
                mdb_txn_abort(txn);
                /* Nothing of the epoch waits in the journal either. */
                assert_int_equal(mdb_txn_begin(f.st->env, NULL, MDB_RDONLY, &txn), 0);
                assert_int_equal(mdb_stat(txn, f.st->journal, &ms), 0);
                assert_int_equal(ms.ms_entries, 0);
                mdb_txn_abort(txn);
        }
        assert_no_identity(&f, an_data, (const uint8_t(*)[16])pseud);
        for (int p = 0; p < 2; p++) {
                size_t len = 0;
                char *data = slurp(p ? contrib_data : priv_data, &len);
                for (int i = 0; i < NMEMBERS; i++)
                        assert_false(contains(data, len, pseud[i], 16));
                free(data);
        }

        /* A clock stepped back into the closed epoch does not reopen it: the
         * signal counts in the next epoch and no key for 2026-11 comes back. */
        f.now = (uint64_t)f.day * DATE_MS_PER_DAY;
        submit(&f, 3, "nickel", "strike", "low", 0, NULL);
        assert_int_equal(stat(key_path, &st), -1);
        f.now = due(202649);
        flush(&f, NULL);
        fc = cell(&f, "nickel", NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, "strike", "2026-W49");
        assert_true(fc.found && !fc.released);

        free(key_path);
        free(an_data);
        free(priv_data);
        free(contrib_data);
        fixture_down(&f);
}

struct figures {
        uint32_t reporters, reports;
        bool released;
};

static int take_figures(const Nmo__Hub__Cell *c, void *u)
{
        struct figures *fg = u;
        size_t i = 0;

        while (fg[i].reports || fg[i].released)
                i++;
        fg[i].reporters = c->reporters;
        fg[i].reports = c->reports;
        fg[i].released = c->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;
        return 0;
}

static int wipe_txn(MDB_txn *txn, void *u)
{
        MDB_dbi dbi;

        (void)u;
        assert_int_equal(mdb_dbi_open(txn, "cells", 0, &dbi), 0);
        assert_int_equal(mdb_drop(txn, dbi, 0), 0);
        assert_int_equal(mdb_dbi_open(txn, "releases", 0, &dbi), 0);
        assert_int_equal(mdb_drop(txn, dbi, 0), 0);
        assert_int_equal(mdb_dbi_open(txn, "alerts", 0, &dbi), 0);
        return mdb_drop(txn, dbi, 0);
}

/* The cell key method: the same contributions give the same published
 * figures every time. An analytics store lost and released again (a restart
 * after a restore of private/ only, or a recount) shows exactly what it
 * showed before: no second draw of noise to average out. */
static void test_release_repeatable(void **state)
{
        struct fixture f;
        struct figures before[64], after[64];
        struct hub_alert_out *alerts = NULL;
        size_t n = 0;

        (void)state;
        fixture_up(&f);
        for (int i = 0; i < 4; i++)
                for (int k = 0; k <= i; k++)
                        submit(&f, i, "tungsten", k ? "export-quota" : "strike",
                               i % 2 ? "high" : "medium", 100 + 10 * (uint64_t)i, NULL);
        f.now = due(202646);
        flush(&f, NULL);
        memset(before, 0, sizeof(before));
        assert_int_equal(analytics_foreach_cell(f.an, "tungsten", take_figures, before), 0);
        assert_true(before[0].reports > 0);
        assert_int_equal(db_write(f.an->env, wipe_txn, NULL), 0);
        hub_aggregate_free(f.ag);
        /* The epoch record says W46 is released: take that back too, as a
         * store restored to before the release would. */
        {
                MDB_txn *txn;
                MDB_dbi dbi;

                assert_int_equal(mdb_txn_begin(f.st->env, NULL, 0, &txn), 0);
                assert_int_equal(mdb_dbi_open(txn, "epochs", 0, &dbi), 0);
                assert_int_equal(mdb_drop(txn, dbi, 0), 0);
                assert_int_equal(mdb_txn_commit(txn), 0);
        }
        assert_int_equal(hub_aggregate_new(&f.ag, f.dir, f.st, f.an, f.hub, &f.cfg), 0);
        /* A signal opens the epoch record again (the restore's view). */
        f.now = (uint64_t)f.day * DATE_MS_PER_DAY + 13u * 3600u * 1000u;
        submit(&f, 0, "cobalt", "strike", "low", 0, NULL);
        f.now = due(202646);
        assert_int_equal(hub_aggregate_housekeeping(f.ag, f.now, &alerts, &n), 0);
        hub_alert_out_free(alerts, n);
        memset(after, 0, sizeof(after));
        assert_int_equal(analytics_foreach_cell(f.an, "tungsten", take_figures, after), 0);
        assert_memory_equal(before, after, sizeof(before));
        fixture_down(&f);
}

/* A released week never changes: a signal arriving with the clock stepped
 * back into it counts in the next week, and the released figures stay. */
static void test_released_week_fixed(void **state)
{
        struct fixture f;
        struct figures before[64], after[64];
        struct find_ctx fc;

        (void)state;
        fixture_up(&f);
        for (int i = 0; i < 3; i++)
                submit(&f, i, "cobalt", "strike", "medium", 0, NULL);
        f.now = due(202646);
        flush(&f, NULL);
        memset(before, 0, sizeof(before));
        assert_int_equal(analytics_foreach_cell(f.an, "cobalt", take_figures, before), 0);
        /* Back to Tuesday of W46. */
        f.now = (uint64_t)f.day * DATE_MS_PER_DAY + 14u * 3600u * 1000u;
        submit(&f, 3, "cobalt", "strike", "critical", 0, NULL);
        f.now = due(202647);
        flush(&f, NULL);
        memset(after, 0, sizeof(after));
        assert_int_equal(analytics_foreach_cell(f.an, "cobalt", take_figures, after), 0);
        /* W46's cells first in key order, unchanged; then W47's. */
        for (size_t i = 0; before[i].reports || before[i].released; i++)
                assert_memory_equal(&before[i], &after[i], sizeof(before[i]));
        fc = cell(&f, "cobalt", NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, "strike", "2026-W47");
        assert_true(fc.found && !fc.released);
        fixture_down(&f);
}

/* Journal entries the store may not hold durably yet are not counted: the
 * fold stops at the durable sequence, and takes the rest once it moves. */
static size_t contribution_rows(struct fixture *f)
{
        MDB_txn *txn;
        MDB_stat ms;

        assert_int_equal(mdb_txn_begin(f->st->cenv, NULL, MDB_RDONLY, &txn), 0);
        assert_int_equal(mdb_stat(txn, f->st->contributions, &ms), 0);
        mdb_txn_abort(txn);
        return ms.ms_entries;
}

static void test_durable_gate(void **state)
{
        struct fixture f;

        (void)state;
        fixture_up(&f);
        for (int i = 0; i < 3; i++)
                submit(&f, i, "cobalt", "strike", "medium", 0, NULL);
        hub_aggregate_durable(f.ag, f.seq);
        flush(&f, NULL);
        assert_int_equal(contribution_rows(&f), 3);
        /* Two more, not durable yet: they wait in the journal (one from a
         * fourth member, a row of its own once folded). */
        submit(&f, 3, "cobalt", "strike", "medium", 0, NULL);
        submit(&f, 0, "cobalt", "strike", "medium", 0, NULL);
        flush(&f, NULL);
        assert_int_equal(contribution_rows(&f), 3);
        hub_aggregate_durable(f.ag, f.seq);
        flush(&f, NULL);
        assert_int_equal(contribution_rows(&f), 4);
        fixture_down(&f);
}

/* The noise differs from cell to cell: cells with the same true figures but
 * other signals get other draws (the record keys reach the cell keys). With
 * working noise, twelve cells all showing the same reports happen with
 * probability about 1e-5. */
static int take_reports(const Nmo__Hub__Cell *c, void *u)
{
        uint32_t *v = u;

        if (c->kind == NMO__HUB__CELL_KIND__CELL_EVENT_WEEK &&
            c->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE)
                *v = c->reports;
        return 0;
}

static void test_noise_differs(void **state)
{
        static const char *const materials[] = { "gallium", "germanium", "lithium", "nickel",
                                                 "cobalt", "tungsten", "antimony", "graphite",
                                                 "magnesium", "manganese", "vanadium",
                                                 "niobium" };
        struct fixture f;
        uint32_t shown[NMO_ARRAY_SIZE(materials)];
        bool differ = false;

        (void)state;
        fixture_up(&f);
        for (size_t m = 0; m < NMO_ARRAY_SIZE(materials); m++)
                for (int i = 0; i < 3; i++)
                        for (int k = 0; k < 2; k++)
                                submit(&f, i, materials[m], "strike", "medium", 0, NULL);
        f.now = due(202646);
        flush(&f, NULL);
        for (size_t m = 0; m < NMO_ARRAY_SIZE(materials); m++) {
                shown[m] = 0;
                assert_int_equal(analytics_foreach_cell(f.an, materials[m], take_reports,
                                                        &shown[m]), 0);
                assert_in_range(shown[m], 4, 8);
                differ |= shown[m] != shown[0];
        }
        assert_true(differ);
        fixture_down(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cells_and_privacy),
                cmocka_unit_test(test_release_repeatable),
                cmocka_unit_test(test_released_week_fixed),
                cmocka_unit_test(test_noise_differs),
                cmocka_unit_test(test_durable_gate),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("aggregate", tests, NULL, NULL);
}
