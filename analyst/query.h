/* query.h: the cells an analyst asked for, read from the analytics store
 * (analytics.h) into the tool's own records. Used by the cells and trend
 * commands (and the materials command's checks).
 *
 * No value of a suppressed cell is ever copied out of the store record, and a
 * cell that claims to be released with fewer than ANALYST_MIN_REPORTERS
 * reporters is kept as suppressed (and counted in "guarded"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics.pb-c.h"
#include "util.h"

struct analytics;

/* A cell as the tool keeps it. Value fields are zero for suppressed cells:
 * they are never copied from the store record. */
struct query_cell {
        Nmo__Hub__CellKind kind;
        char *material, *event, *country, *period;
        int64_t first_day, last_day;        /* of its period (period_range) */
        Nmo__Hub__Suppression suppression;  /* NONE: released */
        bool final;
        uint32_t release;                   /* the release that published it; 0: unknown */
        uint32_t reporters, reports;
        uint32_t severity[4]; /* low, medium, high, critical */
        uint32_t status[5];   /* unspecified, rumour, announced, in-effect, ended */
        uint32_t share[6];    /* unspecified, <10, 10-25, 25-50, 50-75, >75 */
        Nmo__Hub__VolumeStatus volume_status;
        uint64_t volume_t;
        char **notes;
        size_t n_notes;
};

/* The cells found; start it zeroed. bad: why the store was refused, when a
 * walk returned -EBADMSG. */
struct query_cell_list {
        struct query_cell *v;
        size_t n, cap;
        size_t guarded;   /* "released" cells shown as suppressed */
        char bad[160];
};

/* Which cells: of one kind, optionally of one material, event or country,
 * whose period overlaps from..to. */
struct query_filter {
        Nmo__Hub__CellKind kind;
        const char *material, *event, *country; /* NULL: any */
        int64_t from, to;                       /* days, inclusive */
};

/* Appends the cells of an that match q to l (in the store's key order).
 * 0; -EBADMSG for a record that does not decode or a period that does not
 * fit its kind (l->bad says which); -ENOMEM; other negative errnos. */
NMO_WUR int query_cells_collect(struct analytics *an, const struct query_filter *q,
                                struct query_cell_list *l);

/* Frees the cells of l and zeroes it. */
void query_cell_list_clear(struct query_cell_list *l);

/* qsort order: newest period first, then material, event and country. */
int query_cell_cmp(const void *a, const void *b);

/* Is this store record released? A cell that claims to be released with
 * fewer reporters than any hub may release is a bug upstream: it is treated
 * as suppressed and counted in *guarded. */
bool query_cell_released(const Nmo__Hub__Cell *c, size_t *guarded);

/* Warns on stderr about n guarded cells, when n > 0. */
void query_warn_guarded(size_t n);

/* Is k a weekly kind (event-week, material-week, country-week)? */
bool query_is_week_kind(Nmo__Hub__CellKind k);

/* The first and last day of a cell's period, checked against its kind (a
 * week for the weekly kinds, a month for event-month). -EBADMSG otherwise,
 * with a description in bad (badlen bytes; bad may be NULL). */
NMO_WUR int query_cell_period(const Nmo__Hub__Cell *c, int64_t *first, int64_t *last,
                              char *bad, size_t badlen);
