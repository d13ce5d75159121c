/* disclosure-audit.c: protection intervals for the suppressed cells of one
 * material over one month (disclosure.h), with the linear programs of
 * audit.h.
 *
 * The attacker's view: every cell published with figures, by this release
 * or an earlier one, at its true value (the noise is not counted on); every
 * cell published as suppressed, with at least one report (it is listed);
 * every cell not published yet, unknown; and the sums that hold in the
 * table, for reports and for each count by severity, status and share:
 *   material-week = sum of its event-weeks = sum of its country-weeks,
 *   event-month   = sum of its event-weeks,
 *   the month's total = sum of its material-weeks = sum of its event-months.
 * A cell that does not exist is known to be zero and is left out. */
#include "disclosure.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "log.h"

/* The additive figures of a cell: reports, then severity low..critical,
 * status unspecified..ended, share unspecified..>75. */
enum {
        Q_REPORTS = 0,
        Q_SEVERITY = 1,                 /* 4: severity 1..4 */
        Q_STATUS = Q_SEVERITY + 4,      /* 5 */
        Q_SHARE = Q_STATUS + 5,         /* 6 */
        Q_COUNT = Q_SHARE + 6,
};

static uint32_t figure(const struct dc_cell *c, int q)
{
        if (q == Q_REPORTS)
                return c->reports;
        if (q < Q_STATUS)
                return c->severity[1 + q - Q_SEVERITY];
        if (q < Q_SHARE)
                return c->status[q - Q_STATUS];
        return c->share[q - Q_SHARE];
}

/* The sums of the table, as lists of cell indexes (the index r->ncells is
 * the month's total, which no release shows but a reader can add up). */
struct relation {
        int total;
        int *parts;
        size_t nparts;
};

struct relations {
        struct relation *rel;
        size_t n, cap;
};

static void relations_free(struct relations *rs)
{
        for (size_t i = 0; i < rs->n; i++)
                free(rs->rel[i].parts);
        free(rs->rel);
        memset(rs, 0, sizeof(*rs));
}

/* Adds total = sum of the cells of r matching (kind, period, event); period
 * 0 and event NULL match any. Nothing when no cell matches. */
static int relation_add(struct relations *rs, const struct dc_result *r, int total,
                        Nmo__Hub__CellKind kind, uint32_t period, const char *event)
{
        struct relation rel = { total, NULL, 0 };

        rel.parts = calloc(r->ncells ? r->ncells : 1, sizeof(*rel.parts));
        if (!rel.parts)
                return -ENOMEM;
        for (size_t i = 0; i < r->ncells; i++) {
                const struct dc_cell *c = &r->cells[i];

                if (c->kind != kind || (period && c->period != period) ||
                    (event && strcmp(c->event, event) != 0))
                        continue;
                rel.parts[rel.nparts++] = (int)i;
        }
        if (rel.nparts == 0) {
                free(rel.parts);
                return 0;
        }
        if (rs->n == rs->cap) {
                size_t cap = rs->cap ? rs->cap * 2 : 16;
                struct relation *g = realloc(rs->rel, cap * sizeof(*g));

                if (!g) {
                        free(rel.parts);
                        return -ENOMEM;
                }
                rs->rel = g;
                rs->cap = cap;
        }
        rs->rel[rs->n++] = rel;
        return 0;
}

static int relations_build(struct relations *rs, const struct dc_result *r)
{
        int total = (int)r->ncells, ret = 0;

        for (size_t i = 0; ret == 0 && i < r->ncells; i++) {
                const struct dc_cell *c = &r->cells[i];

                if (c->kind == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK) {
                        ret = relation_add(rs, r, (int)i, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK,
                                           c->period, NULL);
                        if (ret == 0)
                                ret = relation_add(rs, r, (int)i,
                                                   NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK,
                                                   c->period, NULL);
                } else if (c->kind == NMO__HUB__CELL_KIND__CELL_EVENT_MONTH) {
                        ret = relation_add(rs, r, (int)i, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, 0,
                                           c->event);
                }
        }
        if (ret == 0)
                ret = relation_add(rs, r, total, NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK, 0, NULL);
        if (ret == 0)
                ret = relation_add(rs, r, total, NMO__HUB__CELL_KIND__CELL_EVENT_MONTH, 0, NULL);
        return ret;
}

static bool hidden(const struct dc_cell *c)
{
        return c->fate != DC_UNPUBLISHED && !dc_released(c);
}

/* The intervals of figure q of every cell (lo, hi: r->ncells + 1 each). */
static int intervals(const struct dc_result *r, const struct relations *rs, int q, double *lo,
                     double *hi)
{
        struct audit *a = NULL;
        int ret = audit_new(&a);

        for (size_t i = 0; ret >= 0 && i < r->ncells; i++) {
                const struct dc_cell *c = &r->cells[i];

                if (c->fate == DC_UNPUBLISHED)
                        ret = audit_add_cell(a, AUDIT_FREE, figure(c, q), 0, AUDIT_NO_UPPER);
                else if (dc_released(c))
                        ret = audit_add_cell(a, AUDIT_KNOWN, figure(c, q), 0, AUDIT_NO_UPPER);
                else
                        ret = audit_add_cell(a, AUDIT_HIDDEN, figure(c, q),
                                             q == Q_REPORTS ? 1 : 0, AUDIT_NO_UPPER);
        }
        if (ret >= 0)
                ret = audit_add_cell(a, AUDIT_FREE, 0, 0, AUDIT_NO_UPPER);
        for (size_t i = 0; ret >= 0 && i < rs->n; i++)
                ret = audit_add_sum(a, rs->rel[i].total, rs->rel[i].parts, rs->rel[i].nparts);
        if (ret >= 0)
                ret = audit_intervals(a, lo, hi);
        audit_free(a);
        return ret < 0 ? ret : 0;
}

/* Is hidden cell c exposed in figure q by the interval [lo, hi]? Only a
 * cell suppressed for its own sake (too few reporters) needs protection: one
 * withheld to protect another is safe in itself, as in tau-ARGUS, and may well
 * follow from released figures (a month's cell from its released weeks). */
static bool exposed(const struct dc_cell *c, int q, double lo, double hi,
                    const struct dc_params *p)
{
        if (c->suppression != NMO__HUB__SUPPRESSION__SUPPRESSION_FREQUENCY)
                return false;
        if (isinf(hi))
                return false;
        if (q == Q_REPORTS)
                return hi - lo < (double)p->protection_reports - 1e-6;
        /* A count by severity, status or share may not be pinned, unless to 0. */
        return hi - lo < 0.5 && hi > 0.5;
}

/* The new released cell to suppress for exposed cell x: the smallest (by
 * reports) that shares a sum with it, else the smallest anywhere. NULL when
 * there is none left. */
static struct dc_cell *cover_for(struct dc_result *r, const struct relations *rs, size_t x)
{
        struct dc_cell *best = NULL;

        for (int pass = 0; pass < 2 && !best; pass++) {
                for (size_t i = 0; i < r->ncells; i++) {
                        struct dc_cell *c = &r->cells[i];
                        bool near = pass == 1;

                        if (c->fate != DC_NEW || !dc_released(c))
                                continue;
                        for (size_t k = 0; !near && k < rs->n; k++) {
                                const struct relation *rel = &rs->rel[k];
                                bool has_x = rel->total == (int)x, has_c = rel->total == (int)i;

                                for (size_t j = 0; j < rel->nparts; j++) {
                                        has_x |= rel->parts[j] == (int)x;
                                        has_c |= rel->parts[j] == (int)i;
                                }
                                near = has_x && has_c;
                        }
                        if (near && (!best || c->reports < best->reports))
                                best = c;
                }
        }
        return best;
}

int dc_protect_intervals(struct dc_result *r, const struct dc_params *p)
{
        struct relations rs = { NULL, 0, 0 };
        double *lo = calloc(r->ncells + 1, sizeof(*lo)), *hi = calloc(r->ncells + 1, sizeof(*hi));
        bool warned = false;
        int ret = 0;

        if (!lo || !hi) {
                ret = -ENOMEM;
                goto out;
        }
        ret = relations_build(&rs, r);
        /* Each round suppresses one more new cell or ends: at most as many
         * rounds as cells. */
        for (size_t round = 0; ret == 0 && round <= r->ncells; round++) {
                bool changed = false;

                for (int q = 0; ret == 0 && q < Q_COUNT && !changed; q++) {
                        bool any = false;

                        /* Only 0 may be pinned: a figure no cell that needs
                         * protection has cannot expose one. */
                        for (size_t i = 0; i < r->ncells && !any; i++)
                                any = r->cells[i].suppression ==
                                              NMO__HUB__SUPPRESSION__SUPPRESSION_FREQUENCY &&
                                      r->cells[i].fate != DC_UNPUBLISHED &&
                                      figure(&r->cells[i], q) > 0;
                        if (!any)
                                continue;
                        ret = intervals(r, &rs, q, lo, hi);
                        if (ret == -EINVAL) {
                                /* The true figures always satisfy the sums. */
                                log_error("disclosure control: the table's sums do not hold");
                                ret = -EIO;
                        }
                        for (size_t i = 0; ret == 0 && i < r->ncells && !changed; i++) {
                                struct dc_cell *c = &r->cells[i], *cover;

                                if (!hidden(c) || !exposed(c, q, lo[i], hi[i], p))
                                        continue;
                                cover = cover_for(r, &rs, i);
                                if (!cover) {
                                        if (!warned)
                                                log_warn("disclosure control: a suppressed cell's "
                                                         "range is narrower than its protection "
                                                         "and no new cell is left to widen it");
                                        warned = true;
                                        continue;
                                }
                                cover->suppression = NMO__HUB__SUPPRESSION__SUPPRESSION_SECONDARY;
                                changed = true;
                        }
                }
                if (!changed)
                        break;
        }
out:
        relations_free(&rs);
        free(lo);
        free(hi);
        return ret;
}
