/* perturb.h: the cell key method, consistent perturbation of the counts and
 * volumes the hub releases, so that differencing releases does not reveal one
 * report.
 *
 * Every contribution (signal) gets a uniformly random 32-bit record key when it
 * is stored; a cell's key is the sum of its contributions' record keys modulo
 * 2^32. A count with true value i is published as i + noise, the noise drawn
 * from row i of a perturbation table (ptable) at a position derived from the
 * cell key. The same contributions give the same cell key and so the same
 * published value in every release; a cell that gained or lost a contribution
 * gets an independent draw, so the difference of two releases is the true
 * difference plus noise of variance about 2V, not the true difference.
 *
 * The table, for max deviation D and variance V:
 * - row 0 is {0: 1}: an empty cell stays empty (a non-empty cell of fewer
 *   than D contributions may be published as 0: its row reaches down to 0);
 * - row i >= 1 has support j in [max(0, i - D), i + D], mean exactly i
 *   (unbiased) and the maximum-entropy distribution under that mean and its
 *   variance: p_j proportional to exp(a (j - i) + b (j - i)^2), a and b solved
 *   by Newton's method to 1e-12;
 * - rows i >= D all have variance V and are the same distribution shifted;
 * - rows i < D, whose support is cut at 0, have variance min(V, 0.9 i D).
 *   No distribution on [-i, D] with mean 0 reaches variance i D (only the
 *   two-point distribution on -i and D does, with no mass in between); the
 *   bound's fraction 0.9 (PERTURB_VAR_FRACTION) keeps every row's inner values
 *   possible. For the same reason, parameters with V > 0.9 D^2 are rejected.
 * - Each row's cumulative distribution is stored as integer thresholds out of
 *   2^32, strictly increasing over the row's support and ending at 2^32, so the
 *   lookup is integer-exact on every machine; each stored probability is
 *   within a few 2^-32 of the formula's (every value of the support keeps at
 *   least one position of the 2^32, however small its probability).
 *
 * The default table (PERTURB_DEFAULT: D = 2, V = 1, volumes 10%), as
 * perturb_table_describe prints it:
 *
 *   true i | p(published j)        0        1        2        3        4        5 | variance
 *        0 |                 1.000000        -        -        -        -        - | 0.000000
 *        1 |                 0.398065 0.305806 0.194194 0.101935        -        - | 1.000000
 *        2 |                 0.063827 0.244691 0.382963 0.244691 0.063827        - | 1.000000
 *        3 |                        - 0.063827 0.244691 0.382963 0.244691 0.063827 | 1.000000
 *   rows i > 2: row 2 shifted by i - 2; p(noise 0) = 0.382963
 *
 * So with the default a count of 2 or more is published unchanged with
 * probability 0.383, off by 1 with 0.489 and off by 2 with 0.128; a count of
 * 1 is published as 0 with probability 0.398. Two releases of a cell that
 * gained one contribution differ by exactly 1 in about 27% of cases (the sum
 * of the row's squared probabilities); the difference has variance 2V.
 *
 * Lookup position: u = perturb_mix(ck, q), a fixed public bijection of the
 * cell key for each figure q of a cell (reports, each bin, reporters), so a
 * uniform cell key gives a uniform position and the figures of one cell get
 * draws that are not the same. Its top 16 bits are a permutation (keyed by q)
 * of the cell key's top 16 bits, so 2^16 evenly spaced cell keys give
 * positions evenly spread over the 2^16 strata and meet the table's
 * probabilities to within 2^-15. The noise is the row's j whose threshold
 * interval holds u.
 *
 * Volumes (tonnes per year, summed): v + round(z * P/100 * largest), with
 * largest the cell's largest single contribution, P = volume_percent and
 * z in [-1, -0.5] U [0.5, 1] drawn from the cell key (position
 * perturb_mix(ck, PERTURB_Q_VOLUME)). The noise is never 0 (at least 1 tonne),
 * so colluders who subtract their own volumes from a published total never
 * learn the remaining contributor's volume exactly.
 *
 * The module is pure: no I/O and no state beyond the table; only
 * perturb_record_key draws randomness (libsodium's randombytes). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Largest allowed max_dev. */
#define PERTURB_D_MAX 5
/* Largest allowed volume_percent. */
#define PERTURB_VOLUME_PERCENT_MAX 50
/* A row's variance is at most this fraction of the largest variance its
 * support could hold (i D for a row cut at 0, D^2 otherwise). */
#define PERTURB_VAR_FRACTION 0.9
/* The figure number volumes use in perturb_mix; counts should use others. */
#define PERTURB_Q_VOLUME UINT32_MAX

struct perturb_params {
        uint32_t max_dev;        /* D: largest |noise| of a count, 1..PERTURB_D_MAX */
        double variance;         /* V: noise variance of rows i >= D, 0 < V <= 0.9 D^2 */
        uint32_t volume_percent; /* volumes: noise scale, percent of the cell's largest
                                  * contribution, 0..50 (0: volumes unperturbed) */
};

#define PERTURB_DEFAULT { 2, 1.0, 10 }

struct perturb_table;

/* Checks parameters and that every row of their table can be built. On
 * failure writes a one-line reason (no trailing newline) into why (len bytes,
 * why may be NULL when len is 0).
 * Returns 0, or -EINVAL: max_dev outside 1..PERTURB_D_MAX, variance not finite,
 * <= 0 or above PERTURB_VAR_FRACTION * D^2, volume_percent above
 * PERTURB_VOLUME_PERCENT_MAX, or a row that the solver could not fit. */
NMO_WUR int perturb_params_check(const struct perturb_params *p, char *why, size_t len);

/* Builds the table for p into a new *ret (the caller frees it with
 * perturb_table_free). Returns 0, -EINVAL for parameters perturb_params_check
 * refuses (call it for the reason), or -ENOMEM. *ret is untouched on failure. */
NMO_WUR int perturb_table_new(struct perturb_table **ret, const struct perturb_params *p);

/* Frees a table; NULL is allowed. */
void perturb_table_free(struct perturb_table *t);

/* The lookup position of figure q of a cell with key ck: a bijection of ck for
 * every fixed q (see the header comment). Public so that anyone can recompute
 * a published value from the table. */
uint32_t perturb_mix(uint32_t ck, uint32_t q);

/* Published value of the true count v in a cell with key ck, for the cell's
 * figure q. Guarantees: v == 0 gives 0; the result is >= 0 and within D of v
 * (for v within D of UINT32_MAX the result saturates at UINT32_MAX); the same
 * (table parameters, v, ck, q) give the same result. */
uint32_t perturb_count(const struct perturb_table *t, uint32_t v, uint32_t ck, uint32_t q);

/* Published total volume v of a cell with key ck whose largest single
 * contribution is largest (a largest above v is taken as v). v == 0 gives 0;
 * volume_percent 0 gives v; otherwise v + noise with |noise| =
 * max(1, round(|z| * volume_percent/100 * largest)), |z| in [0.5, 1), the sign
 * from the cell key, except that a noise that would take v to 0 or below is
 * made positive (only v == 1 can be). Saturates at UINT64_MAX. Deterministic in
 * (volume_percent, v, largest, ck). */
uint64_t perturb_volume(const struct perturb_table *t, uint64_t v, uint64_t largest, uint32_t ck);

/* The probability that true count i is published as j, from the formula (the
 * stored thresholds are within 2^-32 of it). Rows above D are row D shifted by
 * i - D. 0 outside the row's support. */
double perturb_prob(const struct perturb_table *t, uint32_t i, uint32_t j);

/* The mean and variance of row i (of perturb_prob(t, i, .)); either pointer may
 * be NULL. */
void perturb_row_moments(const struct perturb_table *t, uint32_t i, double *mean, double *var);

/* Writes the table as text: the parameters, then rows 0..D+1 with the
 * probability of each published j (0..2D+1), the row's variance and the
 * volume rule. Returns 0, or -ENOSPC when len is too small (buf then holds a
 * truncated, terminated text when len > 0). */
NMO_WUR int perturb_table_describe(const struct perturb_table *t, char *buf, size_t len);

/* A fresh uniformly random record key, for a contribution being stored
 * (libsodium's randombytes_random; sodium_init must have succeeded). */
uint32_t perturb_record_key(void);

/* Adds record key rk to cell key ck: the cell key of a set of contributions is
 * the sum of their record keys modulo 2^32. */
static inline uint32_t perturb_cell_key_add(uint32_t ck, uint32_t rk)
{
        return ck + rk;
}
