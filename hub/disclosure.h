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
 * Over time (the release calendar, hub/aggregate.h): a table is released in
 * steps (a week's cells once the week is over, the event-month cells when
 * the epoch closes), and what an earlier release published is fixed: a
 * released cell is never suppressed later and keeps its figures; a cell
 * suppressed earlier stays suppressed. The caller says so through a ledger;
 * only cells new in this release are ever chosen for suppression.
 *
 * Protection intervals: after the rules above, every cell suppressed for
 * too few reporters (a secondary suppression is safe in itself) has a
 * feasible range, as an attacker computes it by linear programming from all
 * released figures of all releases (the true ones: the noise the writer adds
 * is not counted on) and the table's sums, that must be at least
 * protection_reports wide for its reports, and no count by severity, status
 * or share may be pinned to one value other than 0. Where it is not, further
 * new cells are suppressed (next to the exposed one, smallest first)
 * (disclosure-audit.c, with audit.h). Volumes do not add up exactly across a
 * breakdown (a reporter's volume in a cell is the largest it gave there), so
 * they are protected by the dominance rule, secondary suppression and their
 * noise rather than by intervals.
 *
 * Each cell also gets its cell key, the sum of its contributions' record
 * keys (the cell key method, perturb.h), and its largest reporter's volume,
 * for the writer's noise.
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
        uint32_t protection_reports; /* 0: no interval audit */
};

/* What a cell is in this release. */
enum dc_fate {
        DC_NEW = 0,         /* published for the first time by this release */
        DC_RELEASED,        /* published with figures by an earlier release: fixed */
        DC_SUPPRESSED,      /* published as suppressed by an earlier release: stays so */
        DC_UNPUBLISHED,     /* not published yet, nor by this release */
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
        uint32_t record_key;        /* sum of its signals' record keys, mod 2^32 */
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
        enum dc_fate fate;
        uint32_t cell_key;          /* sum of the record keys of its contributions */
        uint64_t volume_max;        /* the largest reporter's volume in it */
        /* Private to disclosure.c: the contributions in the cell. */
        size_t *idx;
        size_t nidx;
        size_t cap;
};

struct dc_result {
        struct dc_cell *cells;
        size_t ncells;
};

/* The earlier releases, as the caller keeps them (the analytics store).
 * lookup() returns true when an earlier release published the cell c (its
 * kind, period, event and country), with what it showed: *supp, and for a
 * released cell *vol. in_scope() tells whether this release may publish a
 * cell no earlier release did. */
struct dc_ledger {
        bool (*lookup)(void *userdata, const struct dc_cell *c, Nmo__Hub__Suppression *supp,
                       Nmo__Hub__VolumeStatus *vol);
        bool (*in_scope)(void *userdata, const struct dc_cell *c);
        void *userdata;
};

/* Computes every cell of one material over the weeks of one month (month id)
 * from its n contributions (borrowed; notes must outlive the result), as
 * published by a release with ledger (NULL: the first and only release of
 * everything). A
 * reporter may appear in several contributions (other weeks, events,
 * countries, or the same again); it is counted once per cell. Cells of
 * a suppressed kind keep their counts in the struct for the caller's own use
 * (alerts never use them); writers must not publish values of suppressed
 * cells. Returns 0, -EINVAL for bad parameters or a contribution outside the
 * month, -ENOMEM. Free with dc_result_free(). */
NMO_WUR int dc_compute(const struct dc_contrib *c, size_t n, uint32_t month,
                       const struct dc_params *p, const struct dc_ledger *ledger,
                       struct dc_result *out);

/* Is the cell published with figures (by this release or an earlier one)? */
bool dc_released(const struct dc_cell *c);

/* disclosure-audit.c: the protection-interval audit of r (see above); called
 * by dc_compute() when p->protection_reports > 0. Returns 0, -ENOMEM or -EIO
 * when the solver fails. */
NMO_WUR int dc_protect_intervals(struct dc_result *r, const struct dc_params *p);

void dc_result_free(struct dc_result *r);
