/* perturb.c: the cell key method's perturbation table, its lookup, and the
 * volume noise (perturb.h says what is published and why). */
#include "perturb.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Entries of the widest row: offsets -D..D. */
#define PERTURB_WIDTH (2 * PERTURB_D_MAX + 1)
/* 2^32: the stored cumulative thresholds end there. */
#define PERTURB_ONE ((uint64_t)1 << 32)
/* The solver's goal for the mean and variance errors, and its step limit. */
#define PERTURB_TOL 1e-12
#define PERTURB_NEWTON_MAX 200

/* Row r (0..D) holds the offsets k = j - r in [lo_r, D], lo_r = -min(r, D),
 * at index k - lo_r. Rows above D use row D shifted. */
struct perturb_table {
        struct perturb_params p;
        double prob[PERTURB_D_MAX + 1][PERTURB_WIDTH];
        /* cum[r][x]: the positions u < cum[r][x] (and >= cum[r][x - 1]) publish
         * offset lo_r + x; strictly increasing, the last one is 2^32. */
        uint64_t cum[PERTURB_D_MAX + 1][PERTURB_WIDTH];
        double var[PERTURB_D_MAX + 1];
};

static void say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t len, const char *fmt, ...)
{
        va_list ap;

        if (why == NULL || len == 0)
                return;
        va_start(ap, fmt);
        (void)vsnprintf(why, len, fmt, ap);
        va_end(ap);
}

static int row_lo(uint32_t r, uint32_t d)
{
        return -(int)(r < d ? r : d);
}

static size_t row_len(uint32_t r, uint32_t d)
{
        return (size_t)(d - (uint32_t)row_lo(r, d) + 1);
}

/* The target variance of row r (1..D): V, or for a row cut at 0 at most
 * PERTURB_VAR_FRACTION of the bound r D no distribution reaches. */
static double row_target_var(uint32_t r, uint32_t d, double v)
{
        double cap = PERTURB_VAR_FRACTION * (double)r * (double)d;

        return r < d && v > cap ? cap : v;
}

/* The distribution p_k proportional to exp(a k + b k^2) over k = lo..hi, its
 * log normaliser, and its first four raw moments (k, k^2, k^3, k^4). */
static double expfam(int lo, int hi, double a, double b, double *p, double mom[4])
{
        double e[PERTURB_WIDTH], m = -HUGE_VAL, z = 0.0;
        int k;

        for (k = lo; k <= hi; k++) {
                e[k - lo] = a * k + b * (double)k * k;
                if (e[k - lo] > m)
                        m = e[k - lo];
        }
        for (k = lo; k <= hi; k++) {
                p[k - lo] = exp(e[k - lo] - m);
                z += p[k - lo];
        }
        memset(mom, 0, 4 * sizeof(*mom));
        for (k = lo; k <= hi; k++) {
                double q = p[k - lo] / z, kk = (double)k * k;

                p[k - lo] = q;
                mom[0] += q * k;
                mom[1] += q * kk;
                mom[2] += q * kk * k;
                mom[3] += q * kk * kk;
        }
        return m + log(z);
}

/* Solves for the maximum-entropy distribution over k = lo..hi with mean 0 and
 * variance v: minimises the convex dual log Z(a, b) - b v by Newton's method
 * with a backtracking line search. Writes the probabilities into p.
 * Returns 0, or -EDOM when the mean and variance are not met to PERTURB_TOL. */
static int solve_row(int lo, int hi, double v, double *p)
{
        double a = 0.0, b = 0.0, mom[4], f;
        int it;

        f = expfam(lo, hi, a, b, p, mom) - b * v;
        for (it = 0; it < PERTURB_NEWTON_MAX; it++) {
                double g0 = mom[0], g1 = mom[1] - v;
                double h00 = mom[1] - mom[0] * mom[0];
                double h01 = mom[2] - mom[0] * mom[1];
                double h11 = mom[3] - mom[1] * mom[1];
                double det = h00 * h11 - h01 * h01, da, db, t;

                if (fabs(g0) <= PERTURB_TOL / 16 && fabs(g1) <= PERTURB_TOL / 16)
                        break;
                if (!(det > 0.0))
                        break;
                da = -(h11 * g0 - h01 * g1) / det;
                db = -(h00 * g1 - h01 * g0) / det;
                /* Newton's step, halved until the dual decreases: the
                 * objective is convex, so this converges from anywhere. Near
                 * the solution the decrease is below the dual's rounding, so a
                 * step that shrinks the gradient is taken as well. */
                for (t = 1.0; t > 1e-30; t /= 2) {
                        double m2[4], q[PERTURB_WIDTH];
                        double fn = expfam(lo, hi, a + t * da, b + t * db, q, m2) - (b + t * db) * v;

                        if (fn < f || fmax(fabs(m2[0]), fabs(m2[1] - v)) < fmax(fabs(g0), fabs(g1))) {
                                a += t * da;
                                b += t * db;
                                f = fn;
                                break;
                        }
                }
                if (t <= 1e-30)
                        break;
                f = expfam(lo, hi, a, b, p, mom) - b * v;
        }
        (void)expfam(lo, hi, a, b, p, mom);
        if (!(fabs(mom[0]) <= PERTURB_TOL) || !(fabs(mom[1] - v) <= PERTURB_TOL))
                return -EDOM;
        return 0;
}

/* Rounds a row's cumulative distribution to integer thresholds out of 2^32:
 * each to the nearest, then every entry given at least one position so the
 * thresholds increase strictly and end at 2^32. */
static void row_thresholds(const double *p, size_t n, uint64_t *cum)
{
        double c = 0.0;
        size_t x;

        for (x = 0; x < n; x++) {
                c += p[x];
                cum[x] = x + 1 == n ? PERTURB_ONE : (uint64_t)llround(c * (double)PERTURB_ONE);
                if (cum[x] > PERTURB_ONE)
                        cum[x] = PERTURB_ONE;
        }
        for (x = 0; x < n; x++) {
                uint64_t min = x == 0 ? 1 : cum[x - 1] + 1;
                uint64_t max = PERTURB_ONE - (n - 1 - x);

                if (cum[x] < min)
                        cum[x] = min;
                if (cum[x] > max)
                        cum[x] = max;
        }
        /* A clamp from above can undercut an earlier entry only when the
         * row has more entries than positions, which a row of at most
         * PERTURB_WIDTH entries never has; make the order certain anyway. */
        for (x = n - 1; x > 0; x--)
                if (cum[x - 1] >= cum[x])
                        cum[x - 1] = cum[x] - 1;
}

/* Fills t (its p already set) or says why not. */
static int build(struct perturb_table *t, char *why, size_t len)
{
        const struct perturb_params *p = &t->p;
        uint32_t d = p->max_dev, r;
        int ret;

        if (d < 1 || d > PERTURB_D_MAX) {
                say(why, len, "max_dev %u is out of range (1..%d)", d, PERTURB_D_MAX);
                return -EINVAL;
        }
        if (!isfinite(p->variance) || !(p->variance > 0.0)) {
                say(why, len, "variance %g must be a finite number above 0", p->variance);
                return -EINVAL;
        }
        if (p->variance > PERTURB_VAR_FRACTION * (double)d * d) {
                say(why, len,
                    "variance %g is not feasible with max_dev %u: the noise is at most %u, so "
                    "its variance must be at most %g (%g x %u^2)",
                    p->variance, d, d, PERTURB_VAR_FRACTION * (double)d * d, PERTURB_VAR_FRACTION, d);
                return -EINVAL;
        }
        if (p->volume_percent > PERTURB_VOLUME_PERCENT_MAX) {
                say(why, len, "volume_percent %u is out of range (0..%d)", p->volume_percent,
                    PERTURB_VOLUME_PERCENT_MAX);
                return -EINVAL;
        }

        memset(t->prob, 0, sizeof(t->prob));
        memset(t->cum, 0, sizeof(t->cum));
        t->prob[0][0] = 1.0;
        t->cum[0][0] = PERTURB_ONE;
        t->var[0] = 0.0;
        for (r = 1; r <= d; r++) {
                double v = row_target_var(r, d, p->variance);

                ret = solve_row(row_lo(r, d), (int)d, v, t->prob[r]);
                if (ret < 0) {
                        say(why, len, "row %u of the table (variance %g) did not converge", r, v);
                        return -EINVAL;
                }
                t->var[r] = v;
                row_thresholds(t->prob[r], row_len(r, d), t->cum[r]);
        }
        return 0;
}

int perturb_params_check(const struct perturb_params *p, char *why, size_t len)
{
        struct perturb_table t;

        if (p == NULL) {
                say(why, len, "no parameters");
                return -EINVAL;
        }
        t.p = *p;
        return build(&t, why, len);
}

int perturb_table_new(struct perturb_table **ret, const struct perturb_params *p)
{
        struct perturb_table *t = NULL;
        int r = -EINVAL;

        if (ret == NULL || p == NULL)
                goto cleanup;
        r = -ENOMEM;
        t = calloc(1, sizeof(*t));
        if (t == NULL)
                goto cleanup;
        t->p = *p;
        r = build(t, NULL, 0);
        if (r < 0)
                goto cleanup;
        *ret = t;
        t = NULL;
        r = 0;
cleanup:
        perturb_table_free(t);
        return r;
}

void perturb_table_free(struct perturb_table *t)
{
        free(t);
}

/* murmur3's 32-bit finaliser: a bijection that spreads every input bit. */
static uint32_t fmix32(uint32_t x)
{
        x ^= x >> 16;
        x *= 0x85ebca6bU;
        x ^= x >> 13;
        x *= 0xc2b2ae35U;
        x ^= x >> 16;
        return x;
}

/* A 16-bit bijection (xor-shift-multiply rounds, every step invertible
 * modulo 2^16). */
static uint32_t mix16(uint32_t x)
{
        x &= 0xffffU;
        x ^= x >> 8;
        x = (x * 0x88b5U) & 0xffffU;
        x ^= x >> 7;
        x = (x * 0xdb2dU) & 0xffffU;
        x ^= x >> 9;
        return x;
}

uint32_t perturb_mix(uint32_t ck, uint32_t q)
{
        /* Keys for figure q; q = 0 still gets non-zero keys. */
        uint32_t k1 = fmix32(q * 0x9e3779b9U + 0x7f4a7c15U);
        uint32_t k2 = fmix32(k1 ^ 0x632be5abU);
        uint32_t hi = ck >> 16, lo = ck & 0xffffU;
        uint32_t uhi, ulo;

        /* The top half: a permutation of the key's top half, different for
         * each q (two keyed rounds), so evenly spaced keys stay evenly spread. */
        uhi = mix16(mix16(hi ^ (k1 & 0xffffU)) ^ (k1 >> 16));
        /* The bottom half: the key's bottom half offset by a function of the
         * top half, invertible once the top half is known. */
        ulo = (lo + fmix32(hi ^ k2)) & 0xffffU;
        return uhi << 16 | ulo;
}

uint32_t perturb_count(const struct perturb_table *t, uint32_t v, uint32_t ck, uint32_t q)
{
        uint32_t d = t->p.max_dev, r = v < d ? v : d;
        uint64_t u = perturb_mix(ck, q);
        size_t n = row_len(r, d), x;
        int64_t out;

        if (v == 0)
                return 0;
        for (x = 0; x + 1 < n; x++)
                if (u < t->cum[r][x])
                        break;
        out = (int64_t)v + row_lo(r, d) + (int64_t)x;
        if (out > (int64_t)UINT32_MAX)
                out = UINT32_MAX;
        return (uint32_t)out;
}

uint64_t perturb_volume(const struct perturb_table *t, uint64_t v, uint64_t largest, uint32_t ck)
{
        __extension__ typedef unsigned __int128 u128;
        uint32_t u = perturb_mix(ck, PERTURB_Q_VOLUME);
        uint64_t frac, mag;
        u128 num, den;

        if (v == 0 || t->p.volume_percent == 0)
                return v;
        if (largest > v)
                largest = v;
        /* |z| = (2^31 + low 31 bits of u) / 2^32, in [0.5, 1); the top bit is
         * the sign. Integer arithmetic, so every machine agrees. */
        frac = ((uint64_t)1 << 31) + (u & 0x7fffffffU);
        num = (u128)largest * t->p.volume_percent * frac;
        den = (u128)100 << 32;
        mag = (uint64_t)((num + den / 2) / den);
        if (mag == 0)
                mag = 1;
        if ((u >> 31) != 0 && mag < v)
                return v - mag;
        return v > UINT64_MAX - mag ? UINT64_MAX : v + mag;
}

double perturb_prob(const struct perturb_table *t, uint32_t i, uint32_t j)
{
        uint32_t d = t->p.max_dev, r = i < d ? i : d;
        int64_t k = (int64_t)j - (int64_t)i;

        if (k < row_lo(r, d) || k > (int64_t)d)
                return 0.0;
        return t->prob[r][k - row_lo(r, d)];
}

void perturb_row_moments(const struct perturb_table *t, uint32_t i, double *mean, double *var)
{
        uint32_t d = t->p.max_dev, r = i < d ? i : d;
        int lo = row_lo(r, d), k;
        double m = 0.0, s = 0.0;

        /* In offsets from i, so large i loses no precision. */
        for (k = lo; k <= (int)d; k++)
                m += t->prob[r][k - lo] * k;
        for (k = lo; k <= (int)d; k++)
                s += t->prob[r][k - lo] * (k - m) * (k - m);
        if (mean != NULL)
                *mean = (double)i + m;
        if (var != NULL)
                *var = s;
}

/* Appends to buf at *off; -ENOSPC once the text no longer fits. */
static int put(char *buf, size_t len, size_t *off, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (*off >= len)
                return -ENOSPC;
        va_start(ap, fmt);
        n = vsnprintf(buf + *off, len - *off, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        if ((size_t)n >= len - *off) {
                *off = len;
                return -ENOSPC;
        }
        *off += (size_t)n;
        return 0;
}

int perturb_table_describe(const struct perturb_table *t, char *buf, size_t len)
{
        uint32_t d = t->p.max_dev, i, j;
        size_t off = 0;
        int r;

        if (len > 0)
                buf[0] = '\0';
        r = put(buf, len, &off, "cell key perturbation: max_dev D=%u, variance V=%g, volumes %u%%\n",
                d, t->p.variance, t->p.volume_percent);
        if (r < 0)
                return r;
        r = put(buf, len, &off, "true i | p(published j)");
        if (r < 0)
                return r;
        for (j = 0; j <= 2 * d + 1; j++) {
                r = put(buf, len, &off, " %8u", j);
                if (r < 0)
                        return r;
        }
        r = put(buf, len, &off, " | variance\n");
        if (r < 0)
                return r;
        for (i = 0; i <= d + 1; i++) {
                double var;

                r = put(buf, len, &off, "%6u |                ", i);
                if (r < 0)
                        return r;
                for (j = 0; j <= 2 * d + 1; j++) {
                        double pr = perturb_prob(t, i, j);

                        if (pr > 0.0)
                                r = put(buf, len, &off, " %8.6f", pr);
                        else
                                r = put(buf, len, &off, " %8s", "-");
                        if (r < 0)
                                return r;
                }
                perturb_row_moments(t, i, NULL, &var);
                r = put(buf, len, &off, " | %.6f\n", var);
                if (r < 0)
                        return r;
        }
        r = put(buf, len, &off, "rows i > %u: row %u shifted by i - %u; p(noise 0) = %.6f\n", d, d,
                d, perturb_prob(t, d, d));
        if (r < 0)
                return r;
        if (t->p.volume_percent == 0)
                return put(buf, len, &off, "volumes: published unperturbed\n");
        return put(buf, len, &off,
                   "volumes: v +/- max(1, round(z x %u%% x largest contribution)), z in [0.5, 1)\n",
                   t->p.volume_percent);
}

uint32_t perturb_record_key(void)
{
        return randombytes_random();
}
