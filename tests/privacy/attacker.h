/* attacker.h: the attackers of the privacy suite (tests/privacy/).
 *
 * An analyst who keeps every snapshot of every view nmo-analyst offers (cells
 * per event and week, per material, per country, per month) and remembers
 * every cell it ever saw, and a worst-case attacker who, on top of that,
 * knows the true value of every published figure (as if the noise were not
 * there) and solves the table's sums by linear programming (hub/audit.h) for
 * the range each suppressed cell can still take.
 *
 * The tests script every report, so they know the true table: struct
 * at_report records what was reported and the ISO week (hub clock) it
 * arrived in. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/* The views an analyst reads: nmo-analyst cells --json with these options. */
#define AT_VIEWS 4

/* A cell as first seen: its identity, its JSON (without "final", which turns
 * true when the epoch closes) and whether it was released. */
struct at_cell {
        char key[192];          /* kind|period|material|event|country */
        char *json;
        bool released;
        bool final;
};

/* The analyst who keeps everything. */
struct at_watch {
        struct h_hub *hub;
        struct at_cell *cells;
        size_t ncells, cap;
        size_t snapshots;
        size_t changes;         /* a cell seen again with other figures or status */
        char changed[2048];     /* the first of them, for the failure message */
};

/* One scripted report: severity 1..4 (low..critical), status 0..4
 * (unspecified, rumour, announced, in-effect, ended), share 0..5
 * (unspecified, <10, 10-25, 25-50, 50-75, >75), volume 0 for none. */
struct at_report {
        char material[32];
        char event[32];
        char country[3];
        uint32_t week;
        int severity, status, share;
        uint64_t volume;
};

/* The analyst's store argument: HUB/analytics. */
char *at_store(struct h_hub *h);

/* Runs nmo-analyst --store HUB/analytics ARGS... (NULL-terminated) and
 * returns its stdout (the test fails when it does not exit 0). */
char *at_analyst(struct h_hub *h, const char *const *args);

void at_watch_init(struct at_watch *w, struct h_hub *h);
void at_watch_free(struct at_watch *w);

/* Takes one snapshot of every view, remembers every cell and counts any cell
 * that now shows something other than when first seen. Returns the raw
 * outputs of the views, concatenated (free it). */
char *at_watch_poll(struct at_watch *w);

/* The cell the analyst saw under key, or NULL. */
const struct at_cell *at_watch_find(const struct at_watch *w, const char *key);

/* Builds a cell key. kind: "event-week", "material-week", "event-month",
 * "country-week"; event and country "" when not applicable. */
void at_key(char *buf, size_t len, const char *kind, const char *period, const char *material,
            const char *event, const char *country);

/* Submits one report with node_dir (nmo-node submit) and records it in
 * reps[*n] with the hub's current week; note (may be NULL) is shared with
 * consent. Deliver it with h_node_run_once before the hub's clock moves. */
void at_submit(struct h_hub *h, const char *node_dir, struct at_report *reps, size_t *n,
               const char *material, const char *event, const char *country, int severity,
               int status, int share, uint64_t volume, const char *note);

/* The hub's ISO week now (period.h week id). */
uint32_t at_hub_week(struct h_hub *h);

/* The worst-case attacker on material over epoch month: from every cell w
 * ever saw (released ones at their TRUE value from reps, suppressed ones at
 * least 1 report, cells not published unknown, the month total unknown) and
 * the sums material-week = its event-weeks = its country-weeks, event-month =
 * its event-weeks, month total = material-weeks = event-months, computes the
 * interval of reports and of every severity, status and share count of each
 * suppressed cell. Fails the test, naming the cells, when for a cell
 * suppressed for too few reporters (the cells that need protection; one
 * withheld to protect another is safe in itself) a reports interval is
 * narrower than protection or a count is pinned to one value other than 0. Also fails when the analyst saw a cell the reports cannot have made, or
 * a released figure further than noise_max from the truth. Returns the number
 * of suppressed cells it checked. */
size_t at_attack(const struct at_watch *w, const struct at_report *reps, size_t n,
                 const char *material, uint32_t month, double protection);
