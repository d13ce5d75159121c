/* test-audit.c: the protection-interval audit (hub/audit.c). Every expected
 * interval below is derived by hand in the comment above it: the relations
 * of the suppressed cells are solved for one free parameter t, and each cell's
 * bounds turn into bounds on t. The audit must give them exactly (the tables
 * are totally unimodular, so the LP's vertices are integral). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "audit.h"

/* The 3x3 table with margins used by several tests (activities I-III by
 * regions A-C, in the shape of the introductory example of the cell
 * suppression literature):
 *
 *            A    B    C | total
 *     I     20   50   10 |   80
 *     II     8   19   22 |   49
 *     III   17   32   12 |   61
 *     -------------------+------
 *     total 45  101   44 |  190
 */
static const double table3[16] = {
        20, 50, 10, 80,
        8, 19, 22, 49,
        17, 32, 12, 61,
        45, 101, 44, 190,
};

/* Adds an (R+1)x(C+1) two-way table with margins, row-major (the last row
 * and column are the totals), cell states from st ('K', 'H', 'F'), every
 * unknown cell with the lower bound lower and the upper bound upper[i] (all
 * AUDIT_NO_UPPER when upper is NULL), and its R+1 row and C+1 column sums.
 * Cell (r, c) gets index r*(C+1)+c. */
static void add_grid(struct audit *a, int rows, int cols, const double *v, const char *st,
                     double lower, const double *upper)
{
        int w = cols + 1;
        int parts[64];

        for (int i = 0; i < (rows + 1) * w; i++) {
                enum audit_state s = st[i] == 'K' ? AUDIT_KNOWN :
                                     st[i] == 'H' ? AUDIT_HIDDEN : AUDIT_FREE;
                int r = audit_add_cell(a, s, v[i], lower, upper ? upper[i] : AUDIT_NO_UPPER);
                assert_int_equal(r, i);
        }
        for (int r = 0; r <= rows; r++) {
                for (int c = 0; c < cols; c++)
                        parts[c] = r * w + c;
                assert_int_equal(audit_add_sum(a, r * w + cols, parts, (size_t)cols), 0);
        }
        for (int c = 0; c <= cols; c++) {
                for (int r = 0; r < rows; r++)
                        parts[r] = r * w + c;
                assert_int_equal(audit_add_sum(a, rows * w + c, parts, (size_t)rows), 0);
        }
}

/* Fails unless cell i's interval is exactly [want_lo, want_hi]. */
static void expect(const double *lo, const double *hi, int i, double want_lo, double want_hi)
{
        if (lo[i] != want_lo || hi[i] != want_hi)
                fail_msg("cell %d: interval [%.17g, %.17g], want [%g, %g]", i, lo[i], hi[i],
                         want_lo, want_hi);
}

/* Six suppressed cells in a cycle through all rows and columns:
 *
 *            A    B    C | total
 *     I      a    b   10 |   80
 *     II     8    c    d |   49
 *     III    e   32    f |   61
 *     total 45  101   44 |  190
 *
 * Rows: a+b = 80-10 = 70, c+d = 49-8 = 41, e+f = 61-32 = 29.
 * Columns: a+e = 45-8 = 37, b+c = 101-32 = 69, d+f = 44-10 = 34.
 * With a = t: b = 70-t, c = 69-b = t-1, d = 41-c = 42-t, f = 34-d = t-8,
 * e = 29-f = 37-t (and a+e = 37 holds for every t).
 * All >= 0: t >= 0, t <= 70, t >= 1, t <= 42, t >= 8, t <= 37, so
 * t in [8, 37]: a [8, 37], b [33, 62], c [7, 36], d [5, 34], f [0, 29],
 * e [0, 29]. The true table is t = 20. */
static void test_classic_table(void **state)
{
        static const char st[] = "HHKK" "KHHK" "HKHK" "KKKK";
        struct audit *a = NULL;
        double lo[16], hi[16];

        (void)state;
        assert_int_equal(audit_new(&a), 0);
        add_grid(a, 3, 3, table3, st, 0, NULL);
        assert_int_equal(audit_cells(a), 16);
        /* Twice: the audit does not change between calls. */
        for (int round = 0; round < 2; round++) {
                assert_int_equal(audit_intervals(a, lo, hi), 0);
                expect(lo, hi, 0, 8, 37);   /* a */
                expect(lo, hi, 1, 33, 62);  /* b */
                expect(lo, hi, 5, 7, 36);   /* c */
                expect(lo, hi, 6, 5, 34);   /* d */
                expect(lo, hi, 8, 0, 29);   /* e */
                expect(lo, hi, 10, 0, 29);  /* f */
                for (int i = 0; i < 16; i++)
                        if (st[i] == 'K')
                                expect(lo, hi, i, table3[i], table3[i]);
        }
        audit_free(a);
}

/* One suppressed cell: its row total is published, so 49 - 8 - 22 = 19. */
static void test_single_hidden_is_a_point(void **state)
{
        static const char st[] = "KKKK" "KHKK" "KKKK" "KKKK";
        struct audit *a = NULL;
        double lo[16], hi[16];

        (void)state;
        assert_int_equal(audit_new(&a), 0);
        add_grid(a, 3, 3, table3, st, 0, NULL);
        assert_int_equal(audit_intervals(a, lo, hi), 0);
        expect(lo, hi, 5, 19, 19);
        audit_free(a);

        /* The same in a single relation: 15 = 5 + b + 3 gives b = 7. */
        assert_int_equal(audit_new(&a), 0);
        int t = audit_add_cell(a, AUDIT_KNOWN, 15, 0, AUDIT_NO_UPPER);
        int p[3] = {
                audit_add_cell(a, AUDIT_KNOWN, 5, 0, AUDIT_NO_UPPER),
                audit_add_cell(a, AUDIT_HIDDEN, 7, 0, AUDIT_NO_UPPER),
                audit_add_cell(a, AUDIT_KNOWN, 3, 0, AUDIT_NO_UPPER),
        };
        assert_int_equal(audit_add_sum(a, t, p, 3), 0);
        assert_int_equal(audit_intervals(a, lo, hi), 0);
        expect(lo, hi, p[1], 7, 7);
        audit_free(a);
}

/* The rectangle of four suppressed cells x, y, z, w:
 *
 *            A    B    C | total
 *     I     20   50   10 |   80
 *     II     8    x    y |   49
 *     III   17    z    w |   61
 *     total 45  101   44 |  190
 *
 * x+y = 49-8 = 41, z+w = 61-17 = 44, x+z = 101-50 = 51, y+w = 44-10 = 34.
 * With x = t: y = 41-t, z = 51-t, w = 34-y = t-7.
 * All >= 0: t >= 0, t <= 41, t <= 51, t >= 7, so t in [7, 41]:
 * x [7, 41], y [0, 34], z [10, 44], w [0, 34]. */
static const char rect_st[] = "KKKK" "KHHK" "KHHK" "KKKK";
enum { X = 5, Y = 6, Z = 9, W = 10 };

static void test_rectangle(void **state)
{
        struct audit *a = NULL;
        double lo[16], hi[16];

        (void)state;
        assert_int_equal(audit_new(&a), 0);
        add_grid(a, 3, 3, table3, rect_st, 0, NULL);
        assert_int_equal(audit_intervals(a, lo, hi), 0);
        expect(lo, hi, X, 7, 41);
        expect(lo, hi, Y, 0, 34);
        expect(lo, hi, Z, 10, 44);
        expect(lo, hi, W, 0, 34);
        audit_free(a);
}

/* The rectangle again, with known bounds.
 * Lower bound 1 on every suppressed cell: t >= 1, 41-t >= 1, 51-t >= 1,
 * t-7 >= 1, so t in [8, 40]: x [8, 40], y [1, 33], z [11, 43], w [1, 33].
 * Lower bound 0 and x <= 25: t in [7, 25]: x [7, 25], y = 41-t [16, 34],
 * z = 51-t [26, 44], w = t-7 [0, 18]. */
static void test_bounds(void **state)
{
        struct audit *a = NULL;
        double lo[16], hi[16];
        double upper[16];

        (void)state;
        assert_int_equal(audit_new(&a), 0);
        add_grid(a, 3, 3, table3, rect_st, 1, NULL);
        assert_int_equal(audit_intervals(a, lo, hi), 0);
        expect(lo, hi, X, 8, 40);
        expect(lo, hi, Y, 1, 33);
        expect(lo, hi, Z, 11, 43);
        expect(lo, hi, W, 1, 33);
        audit_free(a);

        for (int i = 0; i < 16; i++)
                upper[i] = AUDIT_NO_UPPER;
        upper[X] = 25;
        assert_int_equal(audit_new(&a), 0);
        add_grid(a, 3, 3, table3, rect_st, 0, upper);
        assert_int_equal(audit_intervals(a, lo, hi), 0);
        expect(lo, hi, X, 7, 25);
        expect(lo, hi, Y, 16, 34);
        expect(lo, hi, Z, 26, 44);
        expect(lo, hi, W, 0, 18);
        audit_free(a);
}

/* A total not published: T = e1 + e2 with T free and e2 = 4 published
 * leaves e1 = T - 4 with T >= 0 only, so e1 in [0, INFINITY). With T >= 10
 * known, e1 in [6, INFINITY). */
static void test_free_total(void **state)
{
        struct audit *a = NULL;
        double lo[3], hi[3];

        (void)state;
        for (int round = 0; round < 2; round++) {
                double lower = round == 0 ? 0 : 10;
                assert_int_equal(audit_new(&a), 0);
                int t = audit_add_cell(a, AUDIT_FREE, 11, lower, AUDIT_NO_UPPER);
                int p[2] = {
                        audit_add_cell(a, AUDIT_HIDDEN, 7, 0, AUDIT_NO_UPPER),
                        audit_add_cell(a, AUDIT_KNOWN, 4, 0, AUDIT_NO_UPPER),
                };
                assert_int_equal(audit_add_sum(a, t, p, 2), 0);
                assert_int_equal(audit_intervals(a, lo, hi), 0);
                expect(lo, hi, p[0], round == 0 ? 0 : 6, INFINITY);
                assert_true(isnan(lo[t]) && isnan(hi[t]));
                expect(lo, hi, p[1], 4, 4);
                audit_free(a);
        }
}

/* Relations the published values cannot satisfy fit no table. */
static void test_inconsistent(void **state)
{
        struct audit *a = NULL;
        double lo[16], hi[16];

        (void)state;
        /* Published only: 10 != 3 + 4 (checked without the solver). */
        assert_int_equal(audit_new(&a), 0);
        int t = audit_add_cell(a, AUDIT_KNOWN, 10, 0, AUDIT_NO_UPPER);
        int p[2] = {
                audit_add_cell(a, AUDIT_KNOWN, 3, 0, AUDIT_NO_UPPER),
                audit_add_cell(a, AUDIT_KNOWN, 4, 0, AUDIT_NO_UPPER),
        };
        assert_int_equal(audit_add_sum(a, t, p, 2), 0);
        assert_int_equal(audit_intervals(a, lo, hi), -EINVAL);
        for (int i = 0; i < 3; i++)
                assert_true(isnan(lo[i]) && isnan(hi[i]));
        audit_free(a);

        /* 10 = h + 12 needs h = -2 < 0 (the solver's infeasibility). */
        assert_int_equal(audit_new(&a), 0);
        t = audit_add_cell(a, AUDIT_KNOWN, 10, 0, AUDIT_NO_UPPER);
        p[0] = audit_add_cell(a, AUDIT_HIDDEN, 0, 0, AUDIT_NO_UPPER);
        p[1] = audit_add_cell(a, AUDIT_KNOWN, 12, 0, AUDIT_NO_UPPER);
        assert_int_equal(audit_add_sum(a, t, p, 2), 0);
        assert_int_equal(audit_intervals(a, lo, hi), -EINVAL);
        assert_true(isnan(lo[p[0]]) && isnan(hi[p[0]]));
        audit_free(a);

        /* The rectangle with row I published as 20, 105, -45 (still 80):
         * column B then gives x + z = 101 - 105 = -4, which no x, z >= 0
         * meet, though every relation of published cells alone adds up
         * (the solver's infeasibility again, in a table). */
        double v[16];
        memcpy(v, table3, sizeof(v));
        v[1] = 105;
        v[2] = -45;
        assert_int_equal(audit_new(&a), 0);
        add_grid(a, 3, 3, v, rect_st, 0, NULL);
        assert_int_equal(audit_intervals(a, lo, hi), -EINVAL);
        audit_free(a);

        /* A hidden cell with a known upper bound below what the rest
         * forces: 49 = 8 + x + 22 needs x = 19, the attacker "knows" x <= 18
         * (the true value 18 is within its own bounds, the table is not). */
        assert_int_equal(audit_new(&a), 0);
        t = audit_add_cell(a, AUDIT_KNOWN, 49, 0, AUDIT_NO_UPPER);
        int q[3] = {
                audit_add_cell(a, AUDIT_KNOWN, 8, 0, AUDIT_NO_UPPER),
                audit_add_cell(a, AUDIT_HIDDEN, 18, 0, 18),
                audit_add_cell(a, AUDIT_KNOWN, 22, 0, AUDIT_NO_UPPER),
        };
        assert_int_equal(audit_add_sum(a, t, q, 3), 0);
        assert_int_equal(audit_intervals(a, lo, hi), -EINVAL);
        audit_free(a);
}

/* Bad calls are refused with -EINVAL, change nothing and never reach GLPK. */
static void test_bad_input(void **state)
{
        struct audit *a = NULL;
        double lo[4], hi[4];

        (void)state;
        assert_int_equal(audit_new(NULL), -EINVAL);
        assert_int_equal(audit_add_cell(NULL, AUDIT_KNOWN, 1, 0, AUDIT_NO_UPPER), -EINVAL);
        assert_int_equal(audit_add_sum(NULL, 0, (int[]){ 1 }, 1), -EINVAL);
        assert_int_equal(audit_intervals(NULL, lo, hi), -EINVAL);
        assert_int_equal(audit_cells(NULL), 0);
        audit_free(NULL);

        assert_int_equal(audit_new(&a), 0);
        /* Cells. */
        assert_int_equal(audit_add_cell(a, (enum audit_state)7, 1, 0, AUDIT_NO_UPPER), -EINVAL);
        assert_int_equal(audit_add_cell(a, AUDIT_KNOWN, NAN, 0, AUDIT_NO_UPPER), -EINVAL);
        assert_int_equal(audit_add_cell(a, AUDIT_KNOWN, INFINITY, 0, AUDIT_NO_UPPER), -EINVAL);
        assert_int_equal(audit_add_cell(a, AUDIT_HIDDEN, 1, -INFINITY, AUDIT_NO_UPPER), -EINVAL);
        assert_int_equal(audit_add_cell(a, AUDIT_HIDDEN, 1, NAN, AUDIT_NO_UPPER), -EINVAL);
        assert_int_equal(audit_add_cell(a, AUDIT_HIDDEN, 1, 0, INFINITY), -EINVAL);
        assert_int_equal(audit_add_cell(a, AUDIT_HIDDEN, 1, 0, NAN), -EINVAL);
        assert_int_equal(audit_add_cell(a, AUDIT_HIDDEN, 5, 6, 9), -EINVAL);  /* value < lower */
        assert_int_equal(audit_add_cell(a, AUDIT_HIDDEN, 5, 0, 4), -EINVAL);  /* value > upper */
        assert_int_equal(audit_add_cell(a, AUDIT_HIDDEN, 5, 6, 3), -EINVAL);  /* upper < lower */
        assert_int_equal(audit_add_cell(a, AUDIT_FREE, 5, 0, 9), -EINVAL);    /* free, upper */
        assert_int_equal(audit_add_cell(a, AUDIT_FREE, 5, 6, AUDIT_NO_UPPER), -EINVAL);
        assert_int_equal(audit_cells(a), 0);

        /* t = u + v, with u hidden. */
        assert_int_equal(audit_add_cell(a, AUDIT_KNOWN, 10, 0, AUDIT_NO_UPPER), 0);
        assert_int_equal(audit_add_cell(a, AUDIT_HIDDEN, 6, 0, AUDIT_NO_UPPER), 1);
        assert_int_equal(audit_add_cell(a, AUDIT_KNOWN, 4, 0, AUDIT_NO_UPPER), 2);
        /* Relations. */
        assert_int_equal(audit_add_sum(a, 0, NULL, 2), -EINVAL);
        assert_int_equal(audit_add_sum(a, 0, (int[]){ 1, 2 }, 0), -EINVAL);
        assert_int_equal(audit_add_sum(a, -1, (int[]){ 1, 2 }, 2), -EINVAL);
        assert_int_equal(audit_add_sum(a, 3, (int[]){ 1, 2 }, 2), -EINVAL);
        assert_int_equal(audit_add_sum(a, 0, (int[]){ 1, 3 }, 2), -EINVAL);
        assert_int_equal(audit_add_sum(a, 0, (int[]){ -1, 2 }, 2), -EINVAL);
        assert_int_equal(audit_add_sum(a, 0, (int[]){ 1, 1 }, 2), -EINVAL);  /* repeated */
        assert_int_equal(audit_add_sum(a, 0, (int[]){ 1, 0 }, 2), -EINVAL);  /* total a part */
        assert_int_equal(audit_add_sum(a, 1, (int[]){ 2, 1 }, 2), -EINVAL);
        assert_int_equal(audit_intervals(a, NULL, hi), -EINVAL);
        assert_int_equal(audit_intervals(a, lo, NULL), -EINVAL);
        /* None of it stuck: no relation yet, so u keeps its own bounds. */
        assert_int_equal(audit_cells(a), 3);
        assert_int_equal(audit_intervals(a, lo, hi), 0);
        expect(lo, hi, 1, 0, INFINITY);
        /* Then the good relation: u = 10 - 4. */
        assert_int_equal(audit_add_sum(a, 0, (int[]){ 1, 2 }, 2), 0);
        assert_int_equal(audit_intervals(a, lo, hi), 0);
        expect(lo, hi, 1, 6, 6);
        audit_free(a);
}

/* A linked table: one week total W with two breakdowns, by event
 * (W = e1 + e2 + e3) and by country (W = c1 + c2). W is suppressed, e1 is
 * suppressed, e2 = 12, e3 = 8, c2 = 5; the true values are W = 30, e1 = 10,
 * c1 = 25.
 * - c1 published (25): W = 25 + 5 = 30 through the countries, so
 *   e1 = 30 - 12 - 8 = 10: suppressing the week total did not protect e1.
 * - c1 not published (free): W = c1 + 5 >= 5 and W = e1 + 20 >= 20, nothing
 *   above: e1 in [0, INFINITY), W in [20, INFINITY).
 * - c1 suppressed, known to be <= 40: W <= 45, so e1 = W - 20 <= 25, and
 *   c1 = W - 5 >= 15: e1 [0, 25], W [20, 45], c1 [15, 40]. */
static void test_linked_table(void **state)
{
        (void)state;
        for (int round = 0; round < 3; round++) {
                struct audit *a = NULL;
                double lo[6], hi[6];

                assert_int_equal(audit_new(&a), 0);
                int w = audit_add_cell(a, AUDIT_HIDDEN, 30, 0, AUDIT_NO_UPPER);
                int e[3] = {
                        audit_add_cell(a, AUDIT_HIDDEN, 10, 0, AUDIT_NO_UPPER),
                        audit_add_cell(a, AUDIT_KNOWN, 12, 0, AUDIT_NO_UPPER),
                        audit_add_cell(a, AUDIT_KNOWN, 8, 0, AUDIT_NO_UPPER),
                };
                int c[2];
                if (round == 0)
                        c[0] = audit_add_cell(a, AUDIT_KNOWN, 25, 0, AUDIT_NO_UPPER);
                else if (round == 1)
                        c[0] = audit_add_cell(a, AUDIT_FREE, 25, 0, AUDIT_NO_UPPER);
                else
                        c[0] = audit_add_cell(a, AUDIT_HIDDEN, 25, 0, 40);
                c[1] = audit_add_cell(a, AUDIT_KNOWN, 5, 0, AUDIT_NO_UPPER);
                assert_int_equal(audit_add_sum(a, w, e, 3), 0);
                assert_int_equal(audit_add_sum(a, w, c, 2), 0);
                assert_int_equal(audit_intervals(a, lo, hi), 0);
                if (round == 0) {
                        expect(lo, hi, e[0], 10, 10);
                        expect(lo, hi, w, 30, 30);
                } else if (round == 1) {
                        expect(lo, hi, e[0], 0, INFINITY);
                        expect(lo, hi, w, 20, INFINITY);
                        assert_true(isnan(lo[c[0]]) && isnan(hi[c[0]]));
                } else {
                        expect(lo, hi, e[0], 0, 25);
                        expect(lo, hi, w, 20, 45);
                        expect(lo, hi, c[0], 15, 40);
                }
                audit_free(a);
        }
}

/* The size the hub audits: a 30x5 table with margins (186 cells, 37
 * relations) and 20 suppressed cells, two in each of the first ten rows.
 * Every interval must hold the true value; the time of one call is printed. */
static void test_timing_30x5(void **state)
{
        enum { R = 30, C = 5, N = (R + 1) * (C + 1) };
        double v[N], lo[N], hi[N];
        char st[N + 1];
        struct audit *a = NULL;
        struct timespec t0, t1;

        (void)state;
        memset(v, 0, sizeof(v));
        for (int r = 0; r < R; r++)
                for (int c = 0; c < C; c++) {
                        double x = 10 + (r * 7 + c * 3) % 13;
                        v[r * (C + 1) + c] = x;
                        v[r * (C + 1) + C] += x;
                        v[R * (C + 1) + c] += x;
                        v[R * (C + 1) + C] += x;
                }
        memset(st, 'K', N);
        st[N] = 0;
        for (int r = 0; r < 10; r++) {
                st[r * (C + 1) + r % C] = 'H';
                st[r * (C + 1) + (r + 1) % C] = 'H';
        }
        assert_int_equal(audit_new(&a), 0);
        add_grid(a, R, C, v, st, 0, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(audit_intervals(a, lo, hi), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int hidden = 0;
        for (int i = 0; i < N; i++) {
                if (st[i] != 'H')
                        continue;
                hidden++;
                assert_true(lo[i] >= 0 && lo[i] <= v[i] && v[i] <= hi[i]);
                assert_true(hi[i] < INFINITY);
                /* Each row's two hidden cells share a known row total, and
                 * each column holds four of them: none is a point. */
                assert_true(lo[i] < hi[i]);
        }
        assert_int_equal(hidden, 20);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        print_message("audit_intervals, 30x5 table with margins, 20 hidden cells: %.3f ms\n", ms);
        audit_free(a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_classic_table),
                cmocka_unit_test(test_single_hidden_is_a_point),
                cmocka_unit_test(test_rectangle),
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_free_total),
                cmocka_unit_test(test_inconsistent),
                cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_linked_table),
                cmocka_unit_test(test_timing_30x5),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
