/* audit.c: the protection-interval audit (audit.h) on GLPK's simplex.
 *
 * One LP per audit_intervals call: a row per relation that still has an
 * unknown cell, a column per cell that is not published (hidden or free),
 * the published cells folded into the rows' constants. Each relation
 * "total = sum of parts" becomes the row  sum(parts) - total = 0  with the
 * known cells moved to the right-hand side. The first solve (zero objective,
 * with the presolver) tells whether any table fits at all; then, for each
 * hidden cell, the objective becomes that cell's column and the same problem
 * is minimised and maximised, each solve starting from the previous basis.
 *
 * The columns are continuous. The tables the hub publishes are sums over a
 * hierarchy, two-way tables with margins and such tables linked through a
 * common total; their constraint matrices are totally unimodular, so every
 * vertex of the polytope, hence every bound found here, is integral when
 * the data and the bounds are: the LP bounds are exactly the attacker's
 * bounds on integer counts.
 *
 * GLPK calls abort() on misuse and on internal failures (glp_error). Every
 * input is checked before GLPK sees it (no empty problem, no duplicate matrix
 * entry, no bad bound), and an error hook turns whatever is left (an out of
 * memory inside GLPK) into -EIO through longjmp and glp_free_env, as GLPK's
 * manual prescribes, so that the hub never aborts here. */
#include "audit.h"

#include <errno.h>
#include <glpk.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct audit_cell {
        enum audit_state st;
        double value;
        double lower;
        double upper; /* AUDIT_NO_UPPER or >= lower */
};

struct audit_rel {
        int total;
        size_t first; /* into audit.parts */
        size_t nparts;
};

struct audit {
        struct audit_cell *cells;
        size_t ncells, cells_cap;
        struct audit_rel *rels;
        size_t nrels, rels_cap;
        int *parts;
        size_t nparts, parts_cap;
        /* Per cell, the stamp of the last audit_add_sum that saw it: finds a
         * repeated part without a pass over all cells. */
        unsigned int *mark;
        size_t mark_cap;
        unsigned int stamp;
};

/* The LP of one audit_intervals call. */
struct audit_lp {
        const struct audit *a;
        int *col_of;      /* cell -> column (1-based), 0 for a known cell */
        int ncols;
        int nrows;
        double *rhs;      /* [1 .. nrows] */
        int *ia, *ja;     /* [1 .. ne] */
        double *ar;
        int ne;
        double *lo, *hi;
        glp_prob *prob;
};

struct audit_guard {
        jmp_buf env;
};

/* Grows *p (elements of size bytes, capacity *cap) to hold need elements. */
static int grow(void **p, size_t *cap, size_t need, size_t size)
{
        if (need <= *cap)
                return 0;
        size_t n = *cap ? *cap : 16;
        while (n < need) {
                if (n > SIZE_MAX / 2)
                        return -ENOMEM;
                n *= 2;
        }
        if (n > SIZE_MAX / size)
                return -ENOMEM;
        void *q = realloc(*p, n * size);
        if (!q)
                return -ENOMEM;
        *p = q;
        *cap = n;
        return 0;
}

int audit_new(struct audit **ret)
{
        if (!ret)
                return -EINVAL;
        struct audit *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        *ret = a;
        return 0;
}

void audit_free(struct audit *a)
{
        if (!a)
                return;
        free(a->cells);
        free(a->rels);
        free(a->parts);
        free(a->mark);
        free(a);
}

void audit_thread_done(void)
{
        /* GLPK keeps one environment per thread; glp_free_env() is a no-op
         * without one. */
        glp_free_env();
}

size_t audit_cells(const struct audit *a)
{
        return a ? a->ncells : 0;
}

int audit_add_cell(struct audit *a, enum audit_state st, double value, double lower,
                   double upper)
{
        if (!a || !isfinite(value))
                return -EINVAL;
        if (st != AUDIT_KNOWN && st != AUDIT_HIDDEN && st != AUDIT_FREE)
                return -EINVAL;
        if (st != AUDIT_KNOWN) {
                if (!isfinite(lower) || value < lower)
                        return -EINVAL;
                if (upper != AUDIT_NO_UPPER) {
                        /* A free cell is unbounded above by definition. */
                        if (st == AUDIT_FREE || !isfinite(upper) || upper < lower ||
                            value > upper)
                                return -EINVAL;
                }
        }
        if (a->ncells >= AUDIT_CELLS_MAX)
                return -E2BIG;
        int r = grow((void **)&a->cells, &a->cells_cap, a->ncells + 1, sizeof(*a->cells));
        if (r < 0)
                return r;
        size_t old_cap = a->mark_cap;
        r = grow((void **)&a->mark, &a->mark_cap, a->ncells + 1, sizeof(*a->mark));
        if (r < 0)
                return r;
        /* New cells start unseen by every audit_add_sum. */
        memset(a->mark + old_cap, 0, (a->mark_cap - old_cap) * sizeof(*a->mark));
        a->cells[a->ncells] = (struct audit_cell){
                .st = st,
                .value = value,
                .lower = st == AUDIT_KNOWN ? value : lower,
                .upper = st == AUDIT_KNOWN ? value : upper,
        };
        return (int)a->ncells++;
}

int audit_add_sum(struct audit *a, int total, const int *parts, size_t nparts)
{
        if (!a || !parts || nparts == 0)
                return -EINVAL;
        if (total < 0 || (size_t)total >= a->ncells)
                return -EINVAL;
        if (nparts > AUDIT_PARTS_MAX - a->nparts)
                return -E2BIG;
        if (a->stamp == UINT_MAX) {
                memset(a->mark, 0, a->ncells * sizeof(*a->mark));
                a->stamp = 0;
        }
        unsigned int stamp = ++a->stamp;
        a->mark[total] = stamp;
        for (size_t i = 0; i < nparts; i++) {
                int p = parts[i];
                /* A part twice, or the total among its parts, would make a
                 * coefficient other than +1/-1 and a duplicate matrix entry. */
                if (p < 0 || (size_t)p >= a->ncells || a->mark[p] == stamp)
                        return -EINVAL;
                a->mark[p] = stamp;
        }
        int r = grow((void **)&a->parts, &a->parts_cap, a->nparts + nparts, sizeof(*a->parts));
        if (r < 0)
                return r;
        r = grow((void **)&a->rels, &a->rels_cap, a->nrels + 1, sizeof(*a->rels));
        if (r < 0)
                return r;
        memcpy(a->parts + a->nparts, parts, nparts * sizeof(*parts));
        a->rels[a->nrels++] = (struct audit_rel){
                .total = total,
                .first = a->nparts,
                .nparts = nparts,
        };
        a->nparts += nparts;
        return 0;
}

/* The hidden cell's interval from its own bounds: what it is when no
 * relation constrains anything unknown. */
static void bounds_only(const struct audit_cell *c, double *lo, double *hi)
{
        *lo = c->lower;
        *hi = c->upper == AUDIT_NO_UPPER ? INFINITY : c->upper;
}

/* Builds the rows, columns and matrix entries; -EINVAL when a relation made
 * of published cells only does not add up. */
static int lp_build(struct audit_lp *lp)
{
        const struct audit *a = lp->a;

        for (size_t i = 0; i < a->ncells; i++)
                if (a->cells[i].st != AUDIT_KNOWN)
                        lp->col_of[i] = ++lp->ncols;

        for (size_t k = 0; k < a->nrels; k++) {
                const struct audit_rel *rel = &a->rels[k];
                /* sum(parts) - total = 0, known cells to the right. */
                double rhs = 0, scale = 1;
                int unknown = 0;
                for (size_t i = 0; i <= rel->nparts; i++) {
                        int cell = i < rel->nparts ? a->parts[rel->first + i] : rel->total;
                        double coef = i < rel->nparts ? 1.0 : -1.0;
                        if (lp->col_of[cell]) {
                                unknown = 1;
                                continue;
                        }
                        rhs -= coef * a->cells[cell].value;
                        scale += fabs(a->cells[cell].value);
                }
                if (!unknown) {
                        /* Nothing for the solver; published figures that do
                         * not add up (beyond rounding) fit no table. */
                        if (fabs(rhs) > 1e-9 * scale)
                                return -EINVAL;
                        continue;
                }
                int row = ++lp->nrows;
                lp->rhs[row] = rhs;
                for (size_t i = 0; i <= rel->nparts; i++) {
                        int cell = i < rel->nparts ? a->parts[rel->first + i] : rel->total;
                        if (!lp->col_of[cell])
                                continue;
                        lp->ne++;
                        lp->ia[lp->ne] = row;
                        lp->ja[lp->ne] = lp->col_of[cell];
                        lp->ar[lp->ne] = i < rel->nparts ? 1.0 : -1.0;
                }
        }
        return 0;
}

/* Solves the current objective from the current basis; *value is the
 * objective column's value, or +-INFINITY when unbounded. */
static int lp_solve_one(glp_prob *p, const glp_smcp *parm, int col, double *value)
{
        int r = glp_simplex(p, parm);
        if (r == GLP_EBADB || r == GLP_ESING || r == GLP_ECOND) {
                /* The previous basis is unusable: start from a fresh one. */
                glp_adv_basis(p, 0);
                r = glp_simplex(p, parm);
        }
        if (r != 0)
                return -EIO;
        switch (glp_get_status(p)) {
        case GLP_OPT:
                *value = glp_get_col_prim(p, col);
                return 0;
        case GLP_UNBND:
                *value = glp_get_obj_dir(p) == GLP_MAX ? INFINITY : -INFINITY;
                return 0;
        case GLP_NOFEAS:
                return -EINVAL;
        default:
                return -EIO;
        }
}

/* Every GLPK call of an audit; deletes the problem before returning. */
static int lp_run(struct audit_lp *lp)
{
        const struct audit *a = lp->a;
        int r = -EIO;

        glp_term_out(GLP_OFF);
        lp->prob = glp_create_prob();
        glp_add_rows(lp->prob, lp->nrows);
        glp_add_cols(lp->prob, lp->ncols);
        for (int row = 1; row <= lp->nrows; row++)
                glp_set_row_bnds(lp->prob, row, GLP_FX, lp->rhs[row], lp->rhs[row]);
        for (size_t i = 0; i < a->ncells; i++) {
                const struct audit_cell *c = &a->cells[i];
                int col = lp->col_of[i];
                if (!col)
                        continue;
                if (c->upper == AUDIT_NO_UPPER)
                        glp_set_col_bnds(lp->prob, col, GLP_LO, c->lower, 0.0);
                else if (c->upper == c->lower)
                        glp_set_col_bnds(lp->prob, col, GLP_FX, c->lower, c->lower);
                else
                        glp_set_col_bnds(lp->prob, col, GLP_DB, c->lower, c->upper);
        }
        glp_load_matrix(lp->prob, lp->ne, lp->ia, lp->ja, lp->ar);

        /* Feasibility first, with the presolver: a zero objective. */
        glp_smcp parm;
        glp_init_smcp(&parm);
        parm.msg_lev = GLP_MSG_OFF;
        parm.presolve = GLP_ON;
        int s = glp_simplex(lp->prob, &parm);
        if (s == GLP_ENOPFS) {
                r = -EINVAL;
                goto cleanup;
        }
        if (s != 0)
                goto cleanup;
        if (glp_get_status(lp->prob) != GLP_OPT) {
                r = glp_get_status(lp->prob) == GLP_NOFEAS ? -EINVAL : -EIO;
                goto cleanup;
        }

        /* Each bound from the previous optimal basis: no presolver, which
         * would start every solve from scratch. */
        parm.presolve = GLP_OFF;
        int prev = 0;
        for (size_t i = 0; i < a->ncells; i++) {
                if (a->cells[i].st != AUDIT_HIDDEN)
                        continue;
                int col = lp->col_of[i];
                if (prev)
                        glp_set_obj_coef(lp->prob, prev, 0.0);
                glp_set_obj_coef(lp->prob, col, 1.0);
                prev = col;
                glp_set_obj_dir(lp->prob, GLP_MIN);
                r = lp_solve_one(lp->prob, &parm, col, &lp->lo[i]);
                if (r < 0)
                        goto cleanup;
                glp_set_obj_dir(lp->prob, GLP_MAX);
                r = lp_solve_one(lp->prob, &parm, col, &lp->hi[i]);
                if (r < 0)
                        goto cleanup;
        }
        r = 0;
cleanup:
        glp_delete_prob(lp->prob);
        lp->prob = NULL;
        return r;
}

static void on_glpk_error(void *info)
{
        longjmp(((struct audit_guard *)info)->env, 1);
}

/* lp_run under GLPK's error hook: an internal GLPK error becomes -EIO. */
static int lp_run_guarded(struct audit_lp *lp)
{
        struct audit_guard guard;

        if (setjmp(guard.env) != 0) {
                /* GLPK's state is unusable after its error: drop the whole
                 * environment of this thread, the problem with it. */
                glp_free_env();
                lp->prob = NULL;
                return -EIO;
        }
        glp_error_hook(on_glpk_error, &guard);
        int r = lp_run(lp);
        glp_error_hook(NULL, NULL);
        return r;
}

int audit_intervals(struct audit *a, double *lo, double *hi)
{
        struct audit_lp lp = { .a = a, .lo = lo, .hi = hi };
        int r = -EINVAL;

        if (!a || !lo || !hi)
                return -EINVAL;
        for (size_t i = 0; i < a->ncells; i++)
                lo[i] = hi[i] = NAN;
        if (a->ncells == 0)
                return 0;
        /* AUDIT_CELLS_MAX and AUDIT_PARTS_MAX keep every count (cells,
         * relations, matrix entries) below INT_MAX, GLPK's index type. */
        _Static_assert(AUDIT_CELLS_MAX < INT_MAX && AUDIT_PARTS_MAX < INT_MAX / 2,
                       "GLPK indexes with int");
        size_t entries = a->nparts + a->nrels;

        r = -ENOMEM;
        lp.col_of = calloc(a->ncells, sizeof(*lp.col_of));
        lp.rhs = calloc(a->nrels + 1, sizeof(*lp.rhs));
        lp.ia = calloc(entries + 1, sizeof(*lp.ia));
        lp.ja = calloc(entries + 1, sizeof(*lp.ja));
        lp.ar = calloc(entries + 1, sizeof(*lp.ar));
        if (!lp.col_of || !lp.rhs || !lp.ia || !lp.ja || !lp.ar)
                goto cleanup;

        r = lp_build(&lp);
        if (r < 0)
                goto cleanup;
        if (lp.nrows == 0) {
                /* No relation holds an unknown cell (or there is no unknown
                 * cell): each hidden cell keeps its own bounds. GLPK is not
                 * given an empty problem. */
                for (size_t i = 0; i < a->ncells; i++)
                        if (a->cells[i].st == AUDIT_HIDDEN)
                                bounds_only(&a->cells[i], &lo[i], &hi[i]);
        } else {
                r = lp_run_guarded(&lp);
                if (r < 0)
                        goto cleanup;
        }
        for (size_t i = 0; i < a->ncells; i++) {
                if (a->cells[i].st == AUDIT_KNOWN)
                        lo[i] = hi[i] = a->cells[i].value;
                else if (a->cells[i].st == AUDIT_FREE)
                        lo[i] = hi[i] = NAN;
        }
        r = 0;
cleanup:
        if (r < 0)
                for (size_t i = 0; i < a->ncells; i++)
                        lo[i] = hi[i] = NAN;
        free(lp.col_of);
        free(lp.rhs);
        free(lp.ia);
        free(lp.ja);
        free(lp.ar);
        return r;
}
