/* disclosure.h: statistical disclosure control for one material over one
 * epoch: from the contributions (each tagged with its reporter's pseudonym) to
 * the cells an analyst may see.
 *
 * Rules (see shared reference disclosure-control.md):
 * - Count contributors, not reports: a member reporting ten times counts once.
 * - Minimum frequency: a cell is released only with at least min_reporters
 *   distinct reporters (never fewer than 3).
 * - (n,k) dominance on volumes: the volume figure of a released cell is
 *   suppressed when its n largest reporters hold more than k percent of it.
 * - Secondary suppression: wherever a released total and its released parts
 *   would let a reader subtract their way to suppressed parts, and those parts
 *   together are not themselves safe, more parts (the smallest first) or the
 *   total are suppressed. Totals checked: material-week over its event-weeks
 *   and over its country-weeks; event-month over its event-weeks; and the
 *   material-month (the sum of all material-weeks, readable when they are all
 *   released) over the event-months. Counts and volumes are checked
 *   separately.
 *
 * This module is pure: no I/O, no store, deterministic output. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics.pb-c.h"
#include "signal.h"

#define DC_PSEUDONYM_BYTES 16
#define DC_MIN_REPORTERS_FLOOR 3

struct dc_params {
        uint32_t min_reporters;     /* >= DC_MIN_REPORTERS_FLOOR */
        uint32_t dominance_n;       /* n of the (n,k) rule, >= 1 */
        uint32_t dominance_k;       /* k of the (n,k) rule, percent, 1..100 */
};

/* What one reporter reported in one (week, event, country): its reports
 * counted by severity, status and share, the largest volume it gave, and its
 * consented notes. */
struct dc_contrib {
        uint8_t reporter[DC_PSEUDONYM_BYTES];
        uint32_t week;              /* week id (period.h) */
        char event[32];
        char country[3];
        uint32_t reports;
        uint32_t severity[5];       /* indexed by Nmo__Severity */
        uint32_t status[5];         /* indexed by Nmo__EventStatus */
        uint32_t share[6];          /* indexed by Nmo__Share */
        uint64_t volume_t;          /* 0: not given */
        const char *const *notes;   /* consented notes */
        size_t nnotes;
};

struct dc_cell {
        Nmo__Hub__CellKind kind;
        uint32_t period;            /* week id, or month id for event-month cells */
        char event[32];             /* event cells */
        char country[3];            /* country cells */
        Nmo__Hub__Suppression suppression;
        uint32_t reporters;
        uint32_t reports;
        uint32_t reporters_high;    /* material-week cells; 0 when below the threshold */
        uint32_t severity[5];       /* indexed by Nmo__Severity */
        uint32_t status[5];         /* indexed by Nmo__EventStatus */
        uint32_t share[6];          /* indexed by Nmo__Share */
        Nmo__Hub__VolumeStatus volume_status;
        uint64_t volume_t;
        const char **notes;         /* event-week cells: consented notes, sorted */
        size_t nnotes;
        /* Private to disclosure.c: the contributions in the cell. */
        size_t *idx;
        size_t nidx;
        size_t cap;
};

struct dc_result {
        struct dc_cell *cells;
        size_t ncells;
};

/* Computes every cell of one material over the weeks of one month (month id)
 * from its n contributions (borrowed; notes must outlive the result). A
 * reporter may appear in several contributions (other weeks, events,
 * countries, or the same again); it is counted once per cell. Cells of
 * a suppressed kind keep their counts in the struct for the caller's own use
 * (alerts never use them); writers must not publish values of suppressed
 * cells. Returns 0, -EINVAL for bad parameters or a contribution outside the
 * month, -ENOMEM. Free with dc_result_free(). */
NMO_WUR int dc_compute(const struct dc_contrib *c, size_t n, uint32_t month,
                       const struct dc_params *p, struct dc_result *out);

void dc_result_free(struct dc_result *r);
