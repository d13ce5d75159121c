/* test-perturb.c: the cell key method (hub/perturb.c): zero stays zero, the
 * noise bound, consistency, each row's moments and maximum-entropy form, the
 * lookup meeting the table over evenly spaced cell keys, figures of one cell
 * drawing differently, differencing two releases, volumes, and the parameter
 * refusals. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "perturb.h"

/* The default table's figures quoted in perturb.h. */
#define DEFAULT_P_ROW2_0 0.382963
#define DEFAULT_P_ROW2_1 0.244691
#define DEFAULT_P_ROW2_2 0.063827
#define DEFAULT_P_ROW1_0 0.398065
#define DEFAULT_P_ROW1_1 0.305806
#define DEFAULT_P_ROW1_2 0.194194
#define DEFAULT_P_ROW1_3 0.101935

/* Parameter sets every table test runs over: the default, the smallest and
 * largest D, and one whose small rows have their variance capped. */
static const struct perturb_params sets[] = {
        PERTURB_DEFAULT,
        { 1, 0.5, 0 },
        { 3, 2.5, 25 },
        { 5, 20.0, 50 },
        { 2, 3.6, 10 },
};

/* splitmix64: reproducible cell keys for the sweeps. */
static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint32_t rng32(void)
{
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static struct perturb_table *mk(const struct perturb_params *p)
{
        struct perturb_table *t = NULL;
        char why[256] = "";

        assert_int_equal(perturb_params_check(p, why, sizeof(why)), 0);
        assert_int_equal(perturb_table_new(&t, p), 0);
        assert_non_null(t);
        return t;
}

static double expected_var(const struct perturb_params *p, uint32_t i)
{
        double cap = PERTURB_VAR_FRACTION * i * p->max_dev;

        if (i == 0)
                return 0.0;
        if (i < p->max_dev && p->variance > cap)
                return cap;
        return p->variance;
}

static void test_zero_stays_zero(void **state)
{
        static const uint32_t qs[] = { 0, 1, 2, 7, 1000, PERTURB_Q_VOLUME };
        size_t s, q;
        uint32_t n;

        (void)state;
        for (s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
                struct perturb_table *t = mk(&sets[s]);

                for (n = 0; n < 200000; n++) {
                        uint32_t ck = n < 65536 ? n << 16 : rng32();

                        for (q = 0; q < sizeof(qs) / sizeof(qs[0]); q++)
                                assert_int_equal(perturb_count(t, 0, ck, qs[q]), 0);
                }
                perturb_table_free(t);
        }
}

static void test_bounds(void **state)
{
        size_t s;
        uint32_t v, n, q;

        (void)state;
        for (s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
                struct perturb_table *t = mk(&sets[s]);
                int64_t d = sets[s].max_dev;

                for (v = 0; v <= 1000; v++)
                        for (n = 0; n < 1000; n++)
                                for (q = 0; q < 3; q++) {
                                        int64_t out = perturb_count(t, v, rng32(), q);

                                        assert_true(out >= 0);
                                        assert_true(out - (int64_t)v <= d);
                                        assert_true((int64_t)v - out <= d);
                                }
                /* Near the top of the range the result saturates, never wraps. */
                for (n = 0; n < 10000; n++) {
                        uint32_t out = perturb_count(t, UINT32_MAX - 1, rng32(), 0);

                        assert_true(out >= UINT32_MAX - 1 - d);
                }
                perturb_table_free(t);
        }
}

static void test_consistency(void **state)
{
        size_t s;
        uint32_t n;

        (void)state;
        for (s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
                struct perturb_table *a = mk(&sets[s]), *b = mk(&sets[s]);

                for (n = 0; n < 100000; n++) {
                        uint32_t v = rng32() % 50, ck = rng32(), q = rng32() % 5;
                        uint64_t vol = rng32(), largest = vol / 3;
                        uint32_t first = perturb_count(a, v, ck, q);

                        assert_int_equal(perturb_count(a, v, ck, q), first);
                        assert_int_equal(perturb_count(b, v, ck, q), first);
                        assert_int_equal(perturb_volume(a, vol, largest, ck),
                                         perturb_volume(b, vol, largest, ck));
                }
                perturb_table_free(a);
                perturb_table_free(b);
        }
}

static void test_rows(void **state)
{
        size_t s;
        uint32_t i, j;

        (void)state;
        for (s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
                const struct perturb_params *p = &sets[s];
                struct perturb_table *t = mk(p);
                uint32_t d = p->max_dev;

                assert_true(perturb_prob(t, 0, 0) == 1.0);
                for (i = 0; i <= d + 40; i++) {
                        uint32_t lo = i > d ? i - d : 0, hi = i == 0 ? 0 : i + d;
                        double sum = 0.0, mean = 0.0, var = 0.0, m, v;

                        for (j = 0; j <= i + d + 3; j++) {
                                double pr = perturb_prob(t, i, j);

                                if (j < lo || j > hi) {
                                        assert_true(pr == 0.0);
                                        continue;
                                }
                                /* Every value of the support can be published. */
                                assert_true(pr > 0.0);
                                sum += pr;
                                mean += pr * ((double)j - i);
                        }
                        for (j = lo; j <= hi; j++)
                                var += perturb_prob(t, i, j) * ((double)j - i - mean) *
                                       ((double)j - i - mean);
                        assert_float_equal(sum, 1.0, 1e-9);
                        assert_float_equal(mean, 0.0, 1e-9);
                        assert_float_equal(var, expected_var(p, i), 1e-9);
                        perturb_row_moments(t, i, &m, &v);
                        assert_float_equal(m, (double)i, 1e-9);
                        assert_float_equal(v, expected_var(p, i), 1e-9);
                        /* Maximum entropy: log p is quadratic in j, so its
                         * second differences are all the same. */
                        if (i > 0 && i + d - lo >= 2) {
                                double dd0 = log(perturb_prob(t, i, lo + 2)) -
                                             2 * log(perturb_prob(t, i, lo + 1)) +
                                             log(perturb_prob(t, i, lo));

                                for (j = lo + 1; j + 2 <= i + d; j++) {
                                        double dd = log(perturb_prob(t, i, j + 2)) -
                                                    2 * log(perturb_prob(t, i, j + 1)) +
                                                    log(perturb_prob(t, i, j));

                                        assert_float_equal(dd, dd0, 1e-7);
                                }
                        }
                        /* Rows from D on are one distribution shifted. */
                        if (i > d)
                                for (j = lo; j <= i + d; j++)
                                        assert_true(perturb_prob(t, i, j) ==
                                                    perturb_prob(t, d, j - (i - d)));
                }
                perturb_table_free(t);
        }
}

static void test_lookup_meets_table(void **state)
{
        static const uint32_t qs[] = { 0, 1, 7, 123456, PERTURB_Q_VOLUME };
        size_t s, q;
        uint32_t i, j, x;

        (void)state;
        for (s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
                struct perturb_table *t = mk(&sets[s]);
                uint32_t d = sets[s].max_dev;

                for (q = 0; q < sizeof(qs) / sizeof(qs[0]); q++)
                        for (i = 0; i <= d + 2; i++) {
                                uint32_t freq[3 * PERTURB_D_MAX + 4] = { 0 };

                                for (x = 0; x < 65536; x++)
                                        freq[perturb_count(t, i, x << 16, qs[q])]++;
                                for (j = 0; j <= i + d; j++)
                                        assert_float_equal((double)freq[j] / 65536.0,
                                                           perturb_prob(t, i, j), 1.0 / 16384);
                        }
                perturb_table_free(t);
        }
}

static void test_mix_bijection(void **state)
{
        static const uint32_t qs[] = { 0, 1, 2, 99, PERTURB_Q_VOLUME };
        uint8_t *seen = calloc(65536, 1);
        size_t q;
        uint32_t x, h;

        (void)state;
        assert_non_null(seen);
        /* The top half is a permutation of the key's top half, and for every
         * top half the bottom half a permutation of the key's bottom half:
         * together a bijection of the 32-bit key. */
        for (q = 0; q < sizeof(qs) / sizeof(qs[0]); q++) {
                memset(seen, 0, 65536);
                for (x = 0; x < 65536; x++) {
                        uint32_t u = perturb_mix(x << 16 | (rng32() & 0xffff), qs[q]);

                        assert_int_equal(seen[u >> 16], 0);
                        seen[u >> 16] = 1;
                }
                for (h = 0; h < 8; h++) {
                        uint32_t hi = rng32() & 0xffff0000U, top = perturb_mix(hi, qs[q]) >> 16;

                        memset(seen, 0, 65536);
                        for (x = 0; x < 65536; x++) {
                                uint32_t u = perturb_mix(hi | x, qs[q]);

                                assert_int_equal(u >> 16, top);
                                assert_int_equal(seen[u & 0xffff], 0);
                                seen[u & 0xffff] = 1;
                        }
                }
        }
        free(seen);
}

/* A cell key whose lookup position for figure q is u: the mix is a bijection
 * that keeps the top half apart, so two searches of 2^16 find it. */
static uint32_t ck_for_position(uint32_t u, uint32_t q)
{
        uint32_t h, l;

        for (h = 0; h < 65536; h++)
                if (perturb_mix(h << 16, q) >> 16 == u >> 16)
                        break;
        assert_true(h < 65536);
        for (l = 0; l < 65536; l++)
                if (perturb_mix(h << 16 | l, q) == u)
                        return h << 16 | l;
        fail();
        return 0;
}

/* However small a probability, both ends of every row stay reachable: the
 * lowest position publishes the row's lowest value, the highest its highest
 * (a table with V = 0.01 and D = 5 has tails far below 2^-32). */
static void test_extremes_reachable(void **state)
{
        static const struct perturb_params tiny[] = { { 5, 0.01, 0 }, PERTURB_DEFAULT, { 5, 22.5, 0 } };
        size_t s;
        uint32_t i, q;

        (void)state;
        for (s = 0; s < sizeof(tiny) / sizeof(tiny[0]); s++) {
                struct perturb_table *t = mk(&tiny[s]);
                uint32_t d = tiny[s].max_dev;

                for (q = 0; q < 2; q++) {
                        uint32_t bottom = ck_for_position(0, q), top = ck_for_position(UINT32_MAX, q);

                        for (i = 1; i <= d + 3; i++) {
                                assert_true(perturb_prob(t, i, i + d) > 0.0);
                                assert_int_equal(perturb_count(t, i, bottom, q), i > d ? i - d : 0);
                                assert_int_equal(perturb_count(t, i, top, q), i + d);
                        }
                }
                perturb_table_free(t);
        }
}

/* Two figures of one cell (q = 0 and q = 1, same true count) draw about
 * independently: their joint frequencies are close to the products. */
static void test_figures_draw_apart(void **state)
{
        struct perturb_params p = PERTURB_DEFAULT;
        struct perturb_table *t;
        static uint32_t joint[5][5];
        uint32_t n, a, b, v = 10;
        uint32_t qa[] = { 0, 1, 2 }, qb[] = { 1, 2, 3 };
        size_t q;

        (void)state;
        t = mk(&p);
        for (q = 0; q < 3; q++) {
                uint32_t same = 0;

                memset(joint, 0, sizeof(joint));
                for (n = 0; n < 65536; n++) {
                        uint32_t ck = n << 16 | (rng32() & 0xffff);
                        uint32_t x = perturb_count(t, v, ck, qa[q]), y = perturb_count(t, v, ck, qb[q]);

                        joint[x - v + 2][y - v + 2]++;
                        same += x == y;
                }
                for (a = 0; a < 5; a++)
                        for (b = 0; b < 5; b++)
                                assert_float_equal((double)joint[a][b] / 65536.0,
                                                   perturb_prob(t, v, v + a - 2) *
                                                   perturb_prob(t, v, v + b - 2),
                                                   0.01);
                assert_true(same < 65536 / 2);
        }
        perturb_table_free(t);
}

/* The same cell with one more contribution (a fresh record key): the
 * difference of the two published counts is not the true +1 most of the time,
 * and varies like the difference of two independent noises (2V). */
static void test_differencing(void **state)
{
        size_t s;

        (void)state;
        for (s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
                const struct perturb_params *p = &sets[s];
                struct perturb_table *t = mk(p);
                uint32_t n = p->max_dev + 3, trial, r, plus_one = 0;
                double sum = 0.0, sum2 = 0.0, mean, var;
                const uint32_t trials = 10000;

                for (trial = 0; trial < trials; trial++) {
                        uint32_t ck = 0;
                        int64_t before, after, diff;

                        for (r = 0; r < n; r++)
                                ck = perturb_cell_key_add(ck, perturb_record_key());
                        before = perturb_count(t, n, ck, 0);
                        ck = perturb_cell_key_add(ck, perturb_record_key());
                        after = perturb_count(t, n + 1, ck, 0);
                        diff = after - before;
                        plus_one += diff == 1;
                        sum += (double)diff;
                        sum2 += (double)diff * diff;
                }
                mean = sum / trials;
                var = sum2 / trials - mean * mean;
                print_message("D=%u V=%g: difference +1 in %.3f of releases, mean %.3f, variance %.3f (2V = %g)\n",
                              p->max_dev, p->variance, (double)plus_one / trials, mean, var,
                              2 * p->variance);
                assert_true((double)plus_one / trials < 0.5);
                assert_float_equal(mean, 1.0, 0.1 * sqrt(2 * p->variance) + 0.02);
                assert_float_equal(var, 2 * p->variance, 0.1 * 2 * p->variance);
                perturb_table_free(t);
        }
}

static void test_volume(void **state)
{
        struct perturb_params p = PERTURB_DEFAULT, none = PERTURB_DEFAULT;
        struct perturb_table *t, *t0, *t50;
        struct perturb_params half = { 2, 1.0, 50 };
        uint32_t n, neg = 0;

        (void)state;
        none.volume_percent = 0;
        t = mk(&p);
        t0 = mk(&none);
        t50 = mk(&half);
        for (n = 0; n < 100000; n++) {
                uint32_t ck = rng32();
                uint64_t largest = 1000 + rng32() % 1000000, v = largest + rng32() % 5000000;
                int64_t noise = (int64_t)perturb_volume(t, v, largest, ck) - (int64_t)v;
                double scale = 0.10 * (double)largest, mag = fabs((double)noise);

                assert_int_equal(perturb_volume(t, 0, 0, ck), 0);
                assert_int_equal(perturb_volume(t, 0, largest, ck), 0);
                assert_int_equal(perturb_volume(t0, v, largest, ck), v);
                assert_true(noise != 0);
                assert_true(mag >= 0.5 * scale - 0.5 && mag <= scale + 0.5);
                assert_int_equal(perturb_volume(t, v, largest, ck), (uint64_t)((int64_t)v + noise));
                neg += noise < 0;
                /* A single contributor at 50%: the published volume stays
                 * positive and its noise within half of it. */
                noise = (int64_t)perturb_volume(t50, largest, largest, ck) - (int64_t)largest;
                assert_true((int64_t)largest + noise > 0);
                assert_true(fabs((double)noise) >= 0.25 * largest - 0.5 &&
                            fabs((double)noise) <= 0.5 * largest + 0.5);
        }
        /* Both signs, about evenly. */
        assert_true(neg > 45000 && neg < 55000);
        /* Tiny volumes: never 0 noise, never 0 or below. */
        for (n = 0; n < 10000; n++) {
                uint32_t ck = rng32();
                uint64_t v = 1 + n % 5, out = perturb_volume(t, v, 1, ck);

                assert_true(out != v);
                assert_true(out > 0);
                assert_int_equal(perturb_volume(t50, 1, 1, ck), 2);
        }
        /* Saturates rather than wraps. */
        assert_true(perturb_volume(t50, UINT64_MAX - 1, UINT64_MAX - 1, 0) >= UINT64_MAX / 2);
        perturb_table_free(t);
        perturb_table_free(t0);
        perturb_table_free(t50);
}

static void expect_refused(struct perturb_params p, const char *word)
{
        struct perturb_table *t = NULL;
        char why[256] = "";

        assert_int_equal(perturb_params_check(&p, why, sizeof(why)), -EINVAL);
        print_message("refused: %s\n", why);
        assert_non_null(strstr(why, word));
        assert_int_equal(perturb_table_new(&t, &p), -EINVAL);
        assert_null(t);
}

static void test_params(void **state)
{
        struct perturb_params ok1 = { 1, 0.9, 0 }, ok5 = { 5, 22.5, 50 };
        struct perturb_table *t;

        (void)state;
        expect_refused((struct perturb_params){ 0, 1.0, 10 }, "max_dev");
        expect_refused((struct perturb_params){ 6, 1.0, 10 }, "max_dev");
        expect_refused((struct perturb_params){ 2, 0.0, 10 }, "variance");
        expect_refused((struct perturb_params){ 2, -1.0, 10 }, "variance");
        expect_refused((struct perturb_params){ 2, NAN, 10 }, "variance");
        expect_refused((struct perturb_params){ 2, INFINITY, 10 }, "variance");
        expect_refused((struct perturb_params){ 1, 2.0, 10 }, "not feasible");
        expect_refused((struct perturb_params){ 1, 1.0, 10 }, "not feasible");
        expect_refused((struct perturb_params){ 2, 3.61, 10 }, "not feasible");
        expect_refused((struct perturb_params){ 2, 1.0, 51 }, "volume_percent");
        assert_int_equal(perturb_params_check(NULL, NULL, 0), -EINVAL);
        /* The edges themselves are accepted. */
        t = mk(&ok1);
        perturb_table_free(t);
        t = mk(&ok5);
        perturb_table_free(t);
        perturb_table_free(NULL);
}

/* The default table as documented in perturb.h's header comment. */
static void test_describe_default(void **state)
{
        struct perturb_params p = PERTURB_DEFAULT;
        struct perturb_table *t;
        char buf[4096], small[40];

        (void)state;
        t = mk(&p);
        assert_int_equal(perturb_table_describe(t, buf, sizeof(buf)), 0);
        print_message("%s", buf);
        assert_non_null(strstr(buf, "D=2, variance V=1,"));
        assert_int_equal(perturb_table_describe(t, small, sizeof(small)), -ENOSPC);
        assert_int_equal(strlen(small), sizeof(small) - 1);
        /* The header comment's figures. */
        assert_float_equal(perturb_prob(t, 2, 2), DEFAULT_P_ROW2_0, 5e-7);
        assert_float_equal(perturb_prob(t, 2, 1), DEFAULT_P_ROW2_1, 5e-7);
        assert_float_equal(perturb_prob(t, 2, 0), DEFAULT_P_ROW2_2, 5e-7);
        assert_float_equal(perturb_prob(t, 1, 0), DEFAULT_P_ROW1_0, 5e-7);
        assert_float_equal(perturb_prob(t, 1, 1), DEFAULT_P_ROW1_1, 5e-7);
        assert_float_equal(perturb_prob(t, 1, 2), DEFAULT_P_ROW1_2, 5e-7);
        assert_float_equal(perturb_prob(t, 1, 3), DEFAULT_P_ROW1_3, 5e-7);
        perturb_table_free(t);
}

static void test_record_key(void **state)
{
        uint32_t first = perturb_record_key(), n, differ = 0;
        double sum = 0.0;

        (void)state;
        for (n = 0; n < 10000; n++) {
                uint32_t k = perturb_record_key();

                differ += k != first;
                sum += k;
        }
        assert_true(differ > 9990);
        assert_float_equal(sum / 10000 / 4294967296.0, 0.5, 0.02);
        assert_int_equal(perturb_cell_key_add(0xffffffffU, 2), 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_zero_stays_zero),
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_consistency),
                cmocka_unit_test(test_rows),
                cmocka_unit_test(test_lookup_meets_table),
                cmocka_unit_test(test_mix_bijection),
                cmocka_unit_test(test_extremes_reachable),
                cmocka_unit_test(test_figures_draw_apart),
                cmocka_unit_test(test_differencing),
                cmocka_unit_test(test_volume),
                cmocka_unit_test(test_params),
                cmocka_unit_test(test_describe_default),
                cmocka_unit_test(test_record_key),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
