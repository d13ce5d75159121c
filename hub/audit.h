/* audit.h: the protection-interval audit of an additive table with suppressed
 * cells.
 *
 * The hub publishes additive tables (cells, their totals, totals of totals,
 * and sometimes a second breakdown of the same total) with some cells
 * suppressed. An attacker who knows every published value and every relation
 * "total = sum of parts" can compute, for each suppressed cell, the interval
 * [lo, hi] of the values it can still take, by linear programming: the
 * minimum and the maximum of that cell subject to the relations, the
 * published values fixed and every unknown cell within the bounds the
 * attacker knows. Disclosure control must keep each such interval at least as
 * wide as the cell's protection level; this module only computes the
 * intervals, the caller decides what to suppress.
 *
 * The audit is a pure computation (GLPK's simplex); it does no I/O and prints
 * nothing. An audit is not safe for concurrent use from several threads; two
 * audits may run in two threads. */
#pragma once

#include <stddef.h>

#include "util.h"

/* What the attacker knows of a cell. */
enum audit_state {
        /* Published: the value is fixed and known. */
        AUDIT_KNOWN = 0,
        /* Suppressed: the attacker knows lower <= value (and value <= upper
         * when upper is not AUDIT_NO_UPPER); its interval is wanted. */
        AUDIT_HIDDEN = 1,
        /* Not published at all (e.g. not yet released): lower <= value,
         * unbounded above; no interval is wanted for it. */
        AUDIT_FREE = 2,
};

/* The upper bound of a cell with none. */
#define AUDIT_NO_UPPER (-1.0)

/* Largest number of cells, and of part references over all relations. */
#define AUDIT_CELLS_MAX (1 << 20)
#define AUDIT_PARTS_MAX (1 << 24)

struct audit;

/* Creates an empty audit in *ret; free it with audit_free.
 * Returns 0, -EINVAL when ret is NULL, -ENOMEM. */
NMO_WUR int audit_new(struct audit **ret);

/* Frees an audit and everything it holds; NULL is fine. */
void audit_free(struct audit *a);

/* Adds a cell and returns its index (0, 1, 2, ... in the order of the calls).
 *   st     what the attacker knows (enum audit_state).
 *   value  the true value: the published figure of an AUDIT_KNOWN cell; for an
 *          AUDIT_HIDDEN or AUDIT_FREE cell it is never shown to the solver, it
 *          only has to lie within the cell's own bounds (so that the caller
 *          can compare it with the interval to get the protection margins).
 *   lower  the lower bound the attacker knows (AUDIT_HIDDEN, AUDIT_FREE;
 *          ignored for AUDIT_KNOWN), e.g. 0 for counts.
 *   upper  the upper bound the attacker knows (AUDIT_HIDDEN only), or
 *          AUDIT_NO_UPPER; -1.0 always means "no upper bound". An
 *          AUDIT_KNOWN cell ignores it; an AUDIT_FREE cell must pass
 *          AUDIT_NO_UPPER.
 * Returns the index (>= 0), or -EINVAL for a NULL audit, an unknown state,
 * a value or bound that is not finite, upper < lower, a value outside
 * [lower, upper] or an upper bound on an AUDIT_FREE cell; -E2BIG beyond
 * AUDIT_CELLS_MAX cells; -ENOMEM. Nothing is added on error. */
NMO_WUR int audit_add_cell(struct audit *a, enum audit_state st, double value, double lower,
                           double upper);

/* Adds the relation: cell total = sum of the cells parts[0 .. nparts-1].
 * The array is copied. Every index must be a cell already added, the parts
 * distinct and none of them the total.
 * Returns 0, -EINVAL for a NULL audit or parts, nparts == 0, an index out of
 * range, a repeated part or the total among its parts; -E2BIG beyond
 * AUDIT_PARTS_MAX part references in all; -ENOMEM. Nothing is added on error. */
NMO_WUR int audit_add_sum(struct audit *a, int total, const int *parts, size_t nparts);

/* Computes the attacker's interval of every AUDIT_HIDDEN cell i: lo[i] is the
 * smallest and hi[i] the largest value the cell can take given the published
 * values, the relations and the known bounds; hi[i] is INFINITY when nothing
 * bounds it above. lo and hi hold audit_cells(a) doubles each; for an
 * AUDIT_KNOWN cell both are set to its value, for an AUDIT_FREE cell both to
 * NAN. The audit itself is not changed and may be extended and audited again.
 * Returns 0; -EINVAL when a, lo or hi is NULL or when the relations are
 * inconsistent with the published values and the bounds (no table fits
 * them); -ENOMEM; -EIO when the solver fails. On error every entry of lo
 * and hi is NAN. */
NMO_WUR int audit_intervals(struct audit *a, double *lo, double *hi);

/* The number of cells added so far (0 for NULL). */
size_t audit_cells(const struct audit *a);

/* Frees what the solver keeps for the calling thread (GLPK's environment,
 * allocated on a thread's first audit_intervals()). A thread that audits
 * calls it before it ends; harmless when it never audited. */
void audit_thread_done(void);
