/* test-analytics.c: the analytics store's writer (analytics/writer.c) and
 * reader (analytics/analytics.c) on a store in a temporary directory: a
 * suppressed cell that carries a figure is refused, released reports read
 * back, a month's cells (its ISO weeks and the month itself) are deleted
 * together and nothing else, alerts are stored and read back, and the reader
 * refuses a directory that is not an analytics store. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "alert.h"
#include "analytics.h"
#include "db.h"
#include "unit-tmp.h"
#include "writer.h"

#define KW NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK
#define KM NMO__HUB__CELL_KIND__CELL_EVENT_MONTH

static Nmo__Hub__Cell cell(Nmo__Hub__CellKind kind, const char *material, const char *period,
                           const char *event, bool released, uint32_t reports)
{
        Nmo__Hub__Cell c = NMO__HUB__CELL__INIT;

        c.has_kind = 1;
        c.kind = kind;
        c.material = (char *)material;
        c.period = (char *)period;
        c.event = (char *)event;
        c.country = "";
        c.has_suppression = 1;
        c.suppression = released ? NMO__HUB__SUPPRESSION__SUPPRESSION_NONE
                                 : NMO__HUB__SUPPRESSION__SUPPRESSION_FREQUENCY;
        if (released) {
                c.has_reporters = 1;
                c.reporters = 3;
                c.has_reports = 1;
                c.reports = reports;
        }
        return c;
}

static int count_one(const Nmo__Hub__Cell *c, void *userdata)
{
        (void)c;
        (*(size_t *)userdata)++;
        return 0;
}

static size_t count(struct analytics *an, const char *material)
{
        size_t n = 0;

        assert_int_equal(analytics_foreach_cell(an, material, count_one, &n), 0);
        return n;
}

/* Counts releases, checking they come in id order. */
static int count_release(const Nmo__Hub__Release *rel, void *u)
{
        size_t *n = u;

        assert_int_equal(rel->id, *n + 1);
        (*n)++;
        return 0;
}

static void test_write_read(void **state)
{
        char dir[PATH_MAX], path[PATH_MAX + 16];
        struct analytics *an = NULL, *ro = NULL;
        Nmo__Hub__Cell c;
        Nmo__AlertBody *b = NULL;
        MDB_txn *txn = NULL;
        const char id[] = "0123456789abcdef0123456789abcdef";
        const uint8_t junk[] = { 1, 2, 3 };

        (void)state;
        assert_non_null(unit_tmp_make(dir, sizeof(dir), "analytics"));
        snprintf(path, sizeof(path), "%s/analytics", dir);
        assert_int_equal(analytics_open(&an, path, false), 0);
        assert_int_equal(db_txn_begin(an->env, 0, &txn), 0);

        /* The store's promise, kept by the writer: a suppressed cell carries
         * no figure. */
        c = cell(KW, "gallium", "2026-W45", "", false, 0);
        c.has_reports = 1;
        c.reports = 2;
        assert_int_equal(analytics_put_cell(txn, an, &c), -EINVAL);
        c = cell(KW, "gallium", "2026-W45", "", false, 0);
        c.n_notes = 1;
        c.notes = (char *[]){ "a note" };
        assert_int_equal(analytics_put_cell(txn, an, &c), -EINVAL);

        /* 2026-11 is 2026-W45..W48; W44 is October's, W49 December's. */
        c = cell(KW, "gallium", "2026-W45", "", false, 0);
        assert_int_equal(analytics_put_cell(txn, an, &c), 0);
        c = cell(KW, "gallium", "2026-W48", "", true, 12);
        assert_int_equal(analytics_put_cell(txn, an, &c), 0);
        c = cell(KM, "gallium", "2026-11", "strike", true, 30);
        assert_int_equal(analytics_put_cell(txn, an, &c), 0);
        c = cell(KW, "gallium", "2026-W44", "", true, 4);
        assert_int_equal(analytics_put_cell(txn, an, &c), 0);
        c = cell(KW, "gallium", "2026-W49", "", true, 5);
        assert_int_equal(analytics_put_cell(txn, an, &c), 0);
        c = cell(KW, "germanium", "2026-W46", "", true, 7);
        assert_int_equal(analytics_put_cell(txn, an, &c), 0);

        assert_int_equal(analytics_released_reports(txn, an, KW, "gallium", "2026-W48", NULL),
                         12);
        assert_int_equal(analytics_released_reports(txn, an, KW, "gallium", "2026-W45", NULL),
                         0); /* suppressed */
        assert_int_equal(analytics_released_reports(txn, an, KW, "gallium", "2026-W47", ""),
                         0); /* absent */
        assert_int_equal(analytics_released_reports(txn, an, KM, "gallium", "2026-11",
                                                    "strike"), 30);

        assert_int_equal(analytics_get_alert(txn, an, id, &b), -ENOENT);
        assert_null(b);
        assert_int_equal(analytics_put_alert(txn, an, id, junk, sizeof(junk)), 0);
        assert_int_equal(analytics_get_alert(txn, an, id, &b), -EBADMSG);
        assert_null(b);
        assert_int_equal(db_txn_commit(txn), 0);

        assert_int_equal(count(an, "gallium"), 5);
        /* The cells of one month: W45, W48 and 2026-11, not W44 or W49. */
        {
                size_t n = 0;

                assert_int_equal(db_txn_begin(an->env, MDB_RDONLY, &txn), 0);
                assert_int_equal(analytics_month_cells(txn, an, "gallium", 202611, count_one, &n),
                                 0);
                db_txn_abort(txn);
                assert_int_equal(n, 3);
        }
        /* The ledger of releases: ids in order, walked in order. */
        {
                Nmo__Hub__Release rel = NMO__HUB__RELEASE__INIT;
                char *weeks[] = { "2026-W48" };
                uint32_t next = 0;
                size_t n = 0;

                assert_int_equal(analytics_foreach_release(an, count_release, &n), 0);
                assert_int_equal(n, 0);
                assert_int_equal(db_txn_begin(an->env, 0, &txn), 0);
                assert_int_equal(analytics_put_release(txn, an, &rel), -EINVAL);
                for (int i = 0; i < 2; i++) {
                        assert_int_equal(analytics_release_next_id(txn, an, &next), 0);
                        assert_int_equal(next, (uint32_t)i + 1);
                        rel.has_id = 1;
                        rel.id = next;
                        rel.epoch = "2026-11";
                        rel.n_weeks = 1;
                        rel.weeks = weeks;
                        assert_int_equal(analytics_put_release(txn, an, &rel), 0);
                }
                assert_int_equal(db_txn_commit(txn), 0);
                assert_int_equal(analytics_foreach_release(an, count_release, &n), 0);
                assert_int_equal(n, 2);
        }

        /* The reader refuses what is not an analytics store. */
        assert_int_equal(analytics_open(&ro, dir, true), -EMEDIUMTYPE);
        snprintf(path, sizeof(path), "%s/none", dir);
        assert_int_equal(analytics_open(&ro, path, true), -ENOENT);
        analytics_free(an);
        assert_int_equal(unit_tmp_remove(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_write_read),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
