/* test-journal.c: the journal of accepted signals (hub/journal.c) on a real
 * private store in a temporary hub directory: entries appended inside a write
 * transaction, folded by row into the contributions, only up to the durable
 * sequence, trimmed a few at a time once folded, settled before an epoch
 * closes, and never counted twice across a restart. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "contrib.h"
#include "epochkey.h"
#include "journal.h"
#include "store.h"
#include "unit-tmp.h"

#define MONTH 202611
#define OTHER_MONTH 202612

struct fixture {
        char dir[PATH_MAX];
        struct hub_store *st;
        struct hub_epoch_keys *keys;
        struct hub_journal *j;
        /* What the last fold reported changed. */
        size_t nchanged;
        uint32_t changed_month[8];
};

static void open_all(struct fixture *f)
{
        assert_int_equal(hub_store_open(&f->st, f->dir, false), 0);
        assert_int_equal(hub_epoch_keys_new(&f->keys, f->dir), 0);
        assert_int_equal(hub_journal_new(&f->j, f->st, f->keys), 0);
}

static void close_all(struct fixture *f)
{
        hub_journal_free(f->j);
        hub_epoch_keys_free(f->keys);
        hub_store_free(f->st);
        f->j = NULL;
        f->keys = NULL;
        f->st = NULL;
}

static void fixture_up(struct fixture *f)
{
        memset(f, 0, sizeof(*f));
        assert_non_null(unit_tmp_make(f->dir, sizeof(f->dir), "journal"));
        open_all(f);
}

static void fixture_down(struct fixture *f)
{
        close_all(f);
        assert_int_equal(unit_tmp_remove(f->dir), 0);
}

struct append_ctx {
        struct fixture *f;
        uint64_t seq;
        uint32_t month;
        const char *material;
        uint8_t reporter;       /* the row: one per reporter */
};

static int do_append(MDB_txn *txn, void *u)
{
        struct append_ctx *c = u;
        struct hub_epoch_key ek;
        struct hub_contrib_row w;
        uint8_t key[HUB_CONTRIB_KEY_MAX], *val = NULL;
        size_t klen, vlen = 0;
        int r;

        r = hub_epoch_key_get(c->f->keys, c->month, true, &ek);
        if (r < 0)
                return r;
        klen = hub_contrib_prefix(c->month, c->material, key);
        memset(key + klen, c->reporter, 8);
        klen += 8;
        memset(&w, 0, sizeof(w));
        memset(w.pseudonym, c->reporter, sizeof(w.pseudonym));
        w.week = 46;
        strcpy(w.event, "export-ban");
        strcpy(w.country, "CN");
        w.reports = 1;
        w.severity[2] = 1;
        r = hub_contrib_row_seal(&w, &ek, &val, &vlen);
        if (r == 0)
                r = hub_journal_append(c->f->j, txn, c->seq, key, klen, val, vlen);
        free(val);
        sodium_memzero(&ek, sizeof(ek));
        return r;
}

static void append(struct fixture *f, uint64_t seq, uint32_t month, const char *material,
                   uint8_t reporter)
{
        struct append_ctx c = { f, seq, month, material, reporter };

        assert_int_equal(hub_store_write(f->st, do_append, &c), 0);
}

static int on_changed(void *userdata, uint32_t month, const char *material)
{
        struct fixture *f = userdata;

        (void)material;
        if (f->nchanged < 8)
                f->changed_month[f->nchanged] = month;
        f->nchanged++;
        return 0;
}

static void fold(struct fixture *f)
{
        f->nchanged = 0;
        assert_int_equal(hub_journal_fold(f->j, on_changed, f), 0);
}

/* Entries in the journal, folded or not. */
static size_t entries(struct fixture *f)
{
        MDB_txn *txn;
        MDB_stat ms;

        assert_int_equal(mdb_txn_begin(f->st->env, NULL, MDB_RDONLY, &txn), 0);
        assert_int_equal(mdb_stat(txn, f->st->journal, &ms), 0);
        mdb_txn_abort(txn);
        return ms.ms_entries;
}

static uint64_t backlog(struct fixture *f)
{
        MDB_txn *txn;
        uint64_t n = 99;

        assert_int_equal(mdb_txn_begin(f->st->env, NULL, MDB_RDONLY, &txn), 0);
        assert_int_equal(hub_journal_backlog(f->st, txn, &n), 0);
        mdb_txn_abort(txn);
        return n;
}

static uint64_t stored_folded(struct fixture *f)
{
        MDB_txn *ctxn;
        uint64_t seq = 99;

        assert_int_equal(mdb_txn_begin(f->st->cenv, NULL, MDB_RDONLY, &ctxn), 0);
        assert_int_equal(hub_journal_folded_get(ctxn, f->st, &seq), 0);
        mdb_txn_abort(ctxn);
        return seq;
}

/* Total reports over the rows of (month, material), and the number of rows. */
static uint32_t reports(struct fixture *f, uint32_t month, const char *material, size_t *nrows)
{
        struct hub_contrib_row *rows = NULL;
        uint32_t total = 0;
        size_t n = 0;

        assert_int_equal(hub_contrib_load(f->st, f->keys, month, material, &rows, &n), 0);
        for (size_t i = 0; i < n; i++)
                total += rows[i].reports;
        hub_contrib_rows_free(rows, n);
        if (nrows)
                *nrows = n;
        return total;
}

struct trim_ctx {
        struct fixture *f;
        size_t max;
        uint32_t month;
};

static int do_trim(MDB_txn *txn, void *u)
{
        struct trim_ctx *c = u;

        return hub_journal_trim(c->f->j, txn, c->max);
}

static void trim(struct fixture *f, size_t max)
{
        struct trim_ctx c = { f, max, 0 };

        assert_int_equal(hub_store_write(f->st, do_trim, &c), 0);
}

static int do_settle(MDB_txn *txn, void *u)
{
        struct trim_ctx *c = u;

        return hub_journal_settle_epoch(c->f->j, txn, c->month);
}

static int settle(struct fixture *f, uint32_t month)
{
        struct trim_ctx c = { f, 0, month };

        return hub_store_write(f->st, do_settle, &c);
}

/* Appended entries become rows, one per key, counts merged. */
static void test_append_and_fold(void **state)
{
        struct fixture f;
        size_t nrows = 0;

        (void)state;
        fixture_up(&f);
        append(&f, 1, MONTH, "gallium", 7);
        append(&f, 2, MONTH, "gallium", 7);
        append(&f, 3, MONTH, "gallium", 8);
        append(&f, 4, MONTH, "cobalt", 7);
        assert_int_equal(entries(&f), 4);
        assert_int_equal(backlog(&f), 4);
        assert_int_equal(hub_journal_folded(f.j), 0);

        fold(&f);
        /* Three rows written: two of gallium, one of cobalt. */
        assert_int_equal(f.nchanged, 3);
        assert_int_equal(f.changed_month[0], MONTH);
        assert_int_equal(reports(&f, MONTH, "gallium", &nrows), 3);
        assert_int_equal(nrows, 2);
        assert_int_equal(reports(&f, MONTH, "cobalt", &nrows), 1);
        assert_int_equal(nrows, 1);
        assert_int_equal(hub_journal_folded(f.j), 4);
        assert_int_equal(stored_folded(&f), 4);
        assert_int_equal(backlog(&f), 0);
        /* Folded, not yet deleted: the ingest trims. */
        assert_int_equal(entries(&f), 4);

        /* A second fold finds nothing new and counts nothing twice. */
        fold(&f);
        assert_int_equal(f.nchanged, 0);
        assert_int_equal(reports(&f, MONTH, "gallium", NULL), 3);

        /* A later entry adds to its row. */
        append(&f, 5, MONTH, "gallium", 8);
        fold(&f);
        assert_int_equal(f.nchanged, 1);
        assert_int_equal(reports(&f, MONTH, "gallium", &nrows), 4);
        assert_int_equal(nrows, 2);
        fixture_down(&f);
}

/* Entries above the durable sequence wait. */
static void test_durable_sequence(void **state)
{
        struct fixture f;

        (void)state;
        fixture_up(&f);
        hub_journal_durable(f.j, 1);
        append(&f, 1, MONTH, "gallium", 1);
        append(&f, 2, MONTH, "gallium", 2);
        append(&f, 3, MONTH, "gallium", 3);
        fold(&f);
        assert_int_equal(reports(&f, MONTH, "gallium", NULL), 1);
        assert_int_equal(hub_journal_folded(f.j), 1);
        assert_int_equal(backlog(&f), 2);

        hub_journal_durable(f.j, 3);
        fold(&f);
        assert_int_equal(reports(&f, MONTH, "gallium", NULL), 3);
        assert_int_equal(hub_journal_folded(f.j), 3);
        assert_int_equal(backlog(&f), 0);
        fixture_down(&f);
}

/* Only folded entries go, oldest first, at most max a call. */
static void test_trim(void **state)
{
        struct fixture f;

        (void)state;
        fixture_up(&f);
        for (uint64_t s = 1; s <= 5; s++)
                append(&f, s, MONTH, "gallium", (uint8_t)s);
        /* Nothing folded yet: nothing to trim. */
        trim(&f, 100);
        assert_int_equal(entries(&f), 5);

        fold(&f);
        append(&f, 6, MONTH, "gallium", 6);
        trim(&f, 2);
        assert_int_equal(entries(&f), 4);
        trim(&f, 100);
        /* Entry 6 is not folded: it stays. */
        assert_int_equal(entries(&f), 1);
        assert_int_equal(backlog(&f), 1);
        fold(&f);
        trim(&f, 100);
        assert_int_equal(entries(&f), 0);
        assert_int_equal(reports(&f, MONTH, "gallium", NULL), 6);

        /* A key of the wrong length is refused. */
        {
                MDB_txn *txn;
                uint8_t key[4] = { 0 }, val[1] = { 0 };

                assert_int_equal(mdb_txn_begin(f.st->env, NULL, 0, &txn), 0);
                assert_int_equal(hub_journal_append(f.j, txn, 7, key, sizeof(key), val,
                                                    sizeof(val)), -EINVAL);
                mdb_txn_abort(txn);
        }
        fixture_down(&f);
}

/* After a restart nothing is trimmed before the first fold, and entries
 * folded before the restart (but not deleted) are not counted again. */
static void test_restart(void **state)
{
        struct fixture f;

        (void)state;
        fixture_up(&f);
        append(&f, 1, MONTH, "gallium", 1);
        append(&f, 2, MONTH, "gallium", 1);
        fold(&f);
        append(&f, 3, MONTH, "gallium", 2);
        close_all(&f);

        open_all(&f);
        assert_int_equal(hub_journal_folded(f.j), 0);
        assert_int_equal(stored_folded(&f), 2);
        trim(&f, 100);
        assert_int_equal(entries(&f), 3);
        fold(&f);
        /* Only entry 3 was new. */
        assert_int_equal(f.nchanged, 1);
        assert_int_equal(hub_journal_folded(f.j), 3);
        assert_int_equal(reports(&f, MONTH, "gallium", NULL), 3);
        trim(&f, 100);
        assert_int_equal(entries(&f), 0);
        fixture_down(&f);
}

/* Before an epoch closes: folded entries go; an unfolded one of the epoch
 * holds the close back, one of another epoch does not. */
static void test_settle_epoch(void **state)
{
        struct fixture f;

        (void)state;
        fixture_up(&f);
        append(&f, 1, MONTH, "gallium", 1);
        fold(&f);
        append(&f, 2, OTHER_MONTH, "gallium", 1);
        assert_int_equal(settle(&f, MONTH), 0);
        assert_int_equal(entries(&f), 1);

        append(&f, 3, MONTH, "gallium", 2);
        assert_int_equal(settle(&f, MONTH), -EAGAIN);
        fold(&f);
        assert_int_equal(settle(&f, MONTH), 0);
        assert_int_equal(entries(&f), 0);
        fixture_down(&f);
}

/* A damaged entry, or one whose epoch key is gone, is skipped for good. */
static void test_damaged_skipped(void **state)
{
        struct fixture f;
        MDB_txn *txn;
        uint8_t k[8], junk[3] = { 200, 1, 2 };
        MDB_val kv = { sizeof(k), k }, vv = { sizeof(junk), junk };

        (void)state;
        fixture_up(&f);
        append(&f, 1, MONTH, "gallium", 1);
        hub_store_put_u64(k, 2);
        assert_int_equal(mdb_txn_begin(f.st->env, NULL, 0, &txn), 0);
        assert_int_equal(mdb_put(txn, f.st->journal, &kv, &vv, 0), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
        append(&f, 3, OTHER_MONTH, "gallium", 1);
        assert_int_equal(hub_epoch_key_destroy(f.keys, OTHER_MONTH), 0);
        append(&f, 4, MONTH, "gallium", 1);
        fold(&f);
        assert_int_equal(hub_journal_folded(f.j), 4);
        assert_int_equal(reports(&f, MONTH, "gallium", NULL), 2);
        assert_int_equal(backlog(&f), 0);
        fixture_down(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_append_and_fold),
                cmocka_unit_test(test_durable_sequence),
                cmocka_unit_test(test_trim),
                cmocka_unit_test(test_restart),
                cmocka_unit_test(test_settle_epoch),
                cmocka_unit_test(test_damaged_skipped),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
