/* disclosure.c: see disclosure.h. */
#include "disclosure.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "period.h"

/* An index from (kind, period, event, country) to a cell, so that building the
 * table costs one look-up per contribution and cell, not a scan. */
struct cell_index {
        size_t *slots;   /* cell index + 1; 0 is empty */
        size_t cap;      /* a power of two */
};

static uint64_t cell_hash(Nmo__Hub__CellKind kind, uint32_t period, const char *event,
                          const char *country)
{
        uint64_t h = 1469598103934665603ULL;

        h = (h ^ (uint64_t)kind) * 1099511628211ULL;
        h = (h ^ period) * 1099511628211ULL;
        for (const char *p = event; *p; p++)
                h = (h ^ (uint8_t)*p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
        for (const char *p = country; *p; p++)
                h = (h ^ (uint8_t)*p) * 1099511628211ULL;
        return h;
}

static bool cell_is(const struct dc_cell *c, Nmo__Hub__CellKind kind, uint32_t period,
                    const char *event, const char *country)
{
        return c->kind == kind && c->period == period && strcmp(c->event, event) == 0 &&
               strcmp(c->country, country) == 0;
}

static int index_grow(struct cell_index *ix, const struct dc_result *r)
{
        size_t cap = ix->cap ? ix->cap * 2 : 256;
        size_t *slots = calloc(cap, sizeof(*slots));

        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < r->ncells; i++) {
                const struct dc_cell *c = &r->cells[i];
                size_t h = (size_t)cell_hash(c->kind, c->period, c->event, c->country) & (cap - 1);

                while (slots[h])
                        h = (h + 1) & (cap - 1);
                slots[h] = i + 1;
        }
        free(ix->slots);
        ix->slots = slots;
        ix->cap = cap;
        return 0;
}

/* Finds or appends the cell (kind, period, event, country); *at receives its
 * index. An index, not a pointer: appending may move r->cells. */
static int cell_get(struct dc_result *r, size_t *cap, struct cell_index *ix,
                    Nmo__Hub__CellKind kind, uint32_t period, const char *event,
                    const char *country, size_t *at)
{
        struct dc_cell *c;
        size_t h;

        /* At most half full, so probes stay short. */
        if (2 * (r->ncells + 1) > ix->cap && index_grow(ix, r) < 0)
                return -ENOMEM;
        h = (size_t)cell_hash(kind, period, event, country) & (ix->cap - 1);
        while (ix->slots[h]) {
                if (cell_is(&r->cells[ix->slots[h] - 1], kind, period, event, country)) {
                        *at = ix->slots[h] - 1;
                        return 0;
                }
                h = (h + 1) & (ix->cap - 1);
        }
        if (r->ncells == *cap) {
                size_t ncap = *cap ? *cap * 2 : 32;
                struct dc_cell *grown = realloc(r->cells, ncap * sizeof(*grown));

                if (!grown)
                        return -ENOMEM;
                r->cells = grown;
                *cap = ncap;
        }
        *at = r->ncells;
        ix->slots[h] = r->ncells + 1;
        c = &r->cells[r->ncells++];
        memset(c, 0, sizeof(*c));
        c->kind = kind;
        c->period = period;
        strncpy(c->event, event, sizeof(c->event) - 1);
        strncpy(c->country, country, sizeof(c->country) - 1);
        return 0;
}

static int cell_add(struct dc_cell *c, size_t i)
{
        if (c->nidx == c->cap) {
                size_t ncap = c->cap ? c->cap * 2 : 8;
                size_t *grown = realloc(c->idx, ncap * sizeof(*grown));

                if (!grown)
                        return -ENOMEM;
                c->idx = grown;
                c->cap = ncap;
        }
        c->idx[c->nidx++] = i;
        return 0;
}

/* A reporter's part of a set of contributions: its pseudonym and volume. */
struct part {
        const uint8_t *reporter;
        uint64_t volume;
};

static int part_cmp(const void *a, const void *b)
{
        return memcmp(((const struct part *)a)->reporter, ((const struct part *)b)->reporter,
                      DC_PSEUDONYM_BYTES);
}

static int volume_desc(const void *a, const void *b)
{
        uint64_t x = ((const struct part *)a)->volume, y = ((const struct part *)b)->volume;

        return x < y ? 1 : x > y ? -1 : 0;
}

/* Collects the parts of the cells in set (nset cells): within one cell a
 * reporter's volume is the largest it gave there (reports repeat a figure;
 * they do not add up); across cells a reporter's volumes add, as the cells'
 * figures do. Returns the number of distinct reporters in *nparts. */
static struct part *parts_of(const struct dc_contrib *c, struct dc_cell *const *set, size_t nset,
                             size_t *nparts)
{
        size_t total = 0, n = 0;
        struct part *p;

        for (size_t s = 0; s < nset; s++)
                total += set[s]->nidx;
        p = calloc(total ? total : 1, sizeof(*p));
        if (!p)
                return NULL;
        for (size_t s = 0; s < nset; s++) {
                size_t first = n, w;

                for (size_t i = 0; i < set[s]->nidx; i++) {
                        const struct dc_contrib *x = &c[set[s]->idx[i]];

                        p[n].reporter = x->reporter;
                        p[n].volume = x->volume_t;
                        n++;
                }
                /* Within the cell: one part per reporter, its largest volume. */
                qsort(p + first, n - first, sizeof(*p), part_cmp);
                w = first;
                for (size_t i = first; i < n; i++) {
                        if (w > first && memcmp(p[w - 1].reporter, p[i].reporter,
                                                DC_PSEUDONYM_BYTES) == 0) {
                                if (p[i].volume > p[w - 1].volume)
                                        p[w - 1].volume = p[i].volume;
                        } else {
                                p[w++] = p[i];
                        }
                }
                n = w;
        }
        /* Merge the same reporter across cells. */
        qsort(p, n, sizeof(*p), part_cmp);
        {
                size_t w = 0;

                for (size_t i = 0; i < n; i++) {
                        if (w > 0 && memcmp(p[w - 1].reporter, p[i].reporter,
                                            DC_PSEUDONYM_BYTES) == 0)
                                p[w - 1].volume += p[i].volume;
                        else
                                p[w++] = p[i];
                }
                n = w;
        }
        *nparts = n;
        return p;
}

/* Is the volume held by these parts safe to reveal: enough reporters gave a
 * volume and the n largest hold at most k percent? */
static bool volume_safe(struct part *p, size_t n, const struct dc_params *prm)
{
        uint64_t total = 0, top = 0;
        size_t givers = 0;

        for (size_t i = 0; i < n; i++) {
                total += p[i].volume;
                givers += p[i].volume > 0;
        }
        if (givers == 0)
                return true;
        if (givers < prm->min_reporters)
                return false;
        qsort(p, n, sizeof(*p), volume_desc);
        for (size_t i = 0; i < n && i < prm->dominance_n; i++)
                top += p[i].volume;
        /* top / total > k / 100, in integers. */
        return top * 100 <= (uint64_t)prm->dominance_k * total;
}

static int cell_stats(const struct dc_contrib *c, struct dc_cell *cell,
                      const struct dc_params *prm)
{
        struct dc_cell *set[1] = { cell };
        struct part *p;
        size_t n = 0;

        p = parts_of(c, set, 1, &n);
        if (!p)
                return -ENOMEM;
        cell->reports = 0;
        cell->reporters = (uint32_t)n;
        for (size_t i = 0; i < cell->nidx; i++) {
                const struct dc_contrib *x = &c[cell->idx[i]];

                cell->reports += x->reports;
                for (int k = 0; k < 5; k++) {
                        cell->severity[k] += x->severity[k];
                        cell->status[k] += x->status[k];
                }
                for (int k = 0; k < 6; k++)
                        cell->share[k] += x->share[k];
        }
        cell->volume_t = 0;
        cell->volume_max = 0;
        cell->cell_key = 0;
        for (size_t i = 0; i < n; i++) {
                cell->volume_t += p[i].volume;
                if (p[i].volume > cell->volume_max)
                        cell->volume_max = p[i].volume;
        }
        for (size_t i = 0; i < cell->nidx; i++)
                cell->cell_key += c[cell->idx[i]].record_key;
        if (cell->volume_t == 0)
                cell->volume_status = NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN;
        else if (volume_safe(p, n, prm))
                cell->volume_status = NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED;
        else
                cell->volume_status = NMO__HUB__VOLUME_STATUS__VOLUME_DOMINANCE;
        cell->suppression = n >= prm->min_reporters ? NMO__HUB__SUPPRESSION__SUPPRESSION_NONE
                                                    : NMO__HUB__SUPPRESSION__SUPPRESSION_FREQUENCY;
        free(p);
        return 0;
}

bool dc_released(const struct dc_cell *c)
{
        return c->fate != DC_UNPUBLISHED &&
               c->suppression == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;
}

static bool released(const struct dc_cell *c)
{
        return dc_released(c);
}

/* Is the volume figure of a cell published (a number or a known absence)? */
static bool volume_known(const struct dc_cell *c)
{
        return released(c) && (c->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED ||
                               c->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN);
}

/* A total and its parts. The total is a cell, or virtual (NULL): a figure a
 * reader can add up from other released cells, known when total_counts /
 * total_volume say so. When the total cannot be suppressed, fallback names
 * the cells whose suppression makes it unknown (the smallest goes). */
struct group {
        struct dc_cell *total;
        bool total_counts;
        bool total_volume;
        struct dc_cell **parts;
        size_t nparts;
        struct dc_cell **fallback;
        size_t nfallback;
};

static struct dc_cell *smallest(struct dc_cell **cells, size_t n, bool by_volume)
{
        struct dc_cell *best = NULL;

        for (size_t i = 0; i < n; i++) {
                struct dc_cell *c = cells[i];

                /* What an earlier release published stays as it was. */
                if (c->fate != DC_NEW)
                        continue;
                if (by_volume ? c->volume_status != NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED ||
                                        !released(c)
                              : !released(c))
                        continue;
                if (!best || (by_volume ? c->volume_t < best->volume_t
                                        : c->reports < best->reports))
                        best = c;
        }
        return best;
}

/* Applies secondary suppression to one group. Returns 1 when it changed a
 * cell, 0 when the group is safe, -ENOMEM. */
static int protect_counts(const struct dc_contrib *c, struct group *g, const struct dc_params *prm)
{
        struct dc_cell **hidden;
        size_t nh = 0;
        int changed = 0;

        if (!(g->total ? released(g->total) : g->total_counts))
                return 0;
        hidden = calloc(g->nparts ? g->nparts : 1, sizeof(*hidden));
        if (!hidden)
                return -ENOMEM;
        for (size_t i = 0; i < g->nparts; i++)
                if (!released(g->parts[i]) && g->parts[i]->nidx > 0)
                        hidden[nh++] = g->parts[i];
        while (nh > 0) {
                struct part *p;
                size_t n = 0;
                struct dc_cell *next;

                p = parts_of(c, hidden, nh, &n);
                if (!p) {
                        free(hidden);
                        return -ENOMEM;
                }
                free(p);
                if (n >= prm->min_reporters)
                        break;
                next = smallest(g->parts, g->nparts, false);
                if (next) {
                        next->suppression = NMO__HUB__SUPPRESSION__SUPPRESSION_SECONDARY;
                        hidden[nh++] = next;
                        changed = 1;
                        continue;
                }
                next = g->total ? (g->total->fate == DC_NEW ? g->total : NULL)
                                : smallest(g->fallback, g->nfallback, false);
                if (next) {
                        next->suppression = NMO__HUB__SUPPRESSION__SUPPRESSION_SECONDARY;
                        changed = 1;
                }
                break;
        }
        free(hidden);
        return changed;
}

static int protect_volume(const struct dc_contrib *c, struct group *g, const struct dc_params *prm)
{
        struct dc_cell **hidden;
        size_t nh = 0;
        int changed = 0;

        if (!(g->total ? volume_known(g->total) : g->total_volume))
                return 0;
        hidden = calloc(g->nparts ? g->nparts : 1, sizeof(*hidden));
        if (!hidden)
                return -ENOMEM;
        for (size_t i = 0; i < g->nparts; i++)
                if (!volume_known(g->parts[i]) && g->parts[i]->nidx > 0)
                        hidden[nh++] = g->parts[i];
        while (nh > 0) {
                struct part *p;
                size_t n = 0;
                bool safe;
                struct dc_cell *next;

                p = parts_of(c, hidden, nh, &n);
                if (!p) {
                        free(hidden);
                        return -ENOMEM;
                }
                safe = volume_safe(p, n, prm);
                free(p);
                if (safe)
                        break;
                next = smallest(g->parts, g->nparts, true);
                if (next) {
                        next->volume_status = NMO__HUB__VOLUME_STATUS__VOLUME_SECONDARY;
                        hidden[nh++] = next;
                        changed = 1;
                        continue;
                }
                next = g->total ? (g->total->fate == DC_NEW ? g->total : NULL)
                                : smallest(g->fallback, g->nfallback, true);
                if (next && next->volume_status != NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN) {
                        next->volume_status = NMO__HUB__VOLUME_STATUS__VOLUME_SECONDARY;
                        changed = 1;
                } else if (!next && g->nfallback) {
                        /* Every fallback's volume is unpublished already. */
                }
                break;
        }
        free(hidden);
        return changed;
}

static int note_cmp(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cell_order(const void *a, const void *b)
{
        const struct dc_cell *x = a, *y = b;
        int d;

        if (x->kind != y->kind)
                return x->kind < y->kind ? -1 : 1;
        if (x->period != y->period)
                return x->period < y->period ? -1 : 1;
        d = strcmp(x->event, y->event);
        return d ? d : strcmp(x->country, y->country);
}

/* Collects cells of kind (and period / event when given) into a fresh array. */
static struct dc_cell **select_cells(struct dc_result *r, Nmo__Hub__CellKind kind,
                                     uint32_t period, const char *event, size_t *n)
{
        struct dc_cell **out = calloc(r->ncells ? r->ncells : 1, sizeof(*out));

        *n = 0;
        if (!out)
                return NULL;
        for (size_t i = 0; i < r->ncells; i++) {
                struct dc_cell *c = &r->cells[i];

                if (c->kind != kind || (period && c->period != period) ||
                    (event && strcmp(c->event, event) != 0))
                        continue;
                out[(*n)++] = c;
        }
        return out;
}

/* One pass over every group; returns 1 if anything changed. */
static int secondary_pass(const struct dc_contrib *c, struct dc_result *r,
                          const struct dc_params *prm)
{
        int changed = 0, ret;

        for (size_t i = 0; i < r->ncells; i++) {
                struct dc_cell *t = &r->cells[i];
                Nmo__Hub__CellKind kinds[2];
                size_t nk = 0;

                if (t->kind == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK) {
                        kinds[nk++] = NMO__HUB__CELL_KIND__CELL_EVENT_WEEK;
                        kinds[nk++] = NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK;
                } else if (t->kind == NMO__HUB__CELL_KIND__CELL_EVENT_MONTH) {
                        kinds[nk++] = NMO__HUB__CELL_KIND__CELL_EVENT_WEEK;
                }
                for (size_t k = 0; k < nk; k++) {
                        struct group g = { .total = t };

                        if (t->kind == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK)
                                g.parts = select_cells(r, kinds[k], t->period, NULL, &g.nparts);
                        else
                                g.parts = select_cells(r, kinds[k], 0, t->event, &g.nparts);
                        if (!g.parts)
                                return -ENOMEM;
                        ret = protect_counts(c, &g, prm);
                        if (ret >= 0) {
                                changed |= ret;
                                ret = protect_volume(c, &g, prm);
                        }
                        free(g.parts);
                        if (ret < 0)
                                return ret;
                        changed |= ret;
                }
        }
        /* The material-month total: readable as the sum of the material-weeks
         * when all of them are published; its parts are the event-months. */
        {
                struct group g = { .total = NULL, .total_counts = true, .total_volume = true };

                g.fallback = select_cells(r, NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK, 0, NULL,
                                          &g.nfallback);
                g.parts = select_cells(r, NMO__HUB__CELL_KIND__CELL_EVENT_MONTH, 0, NULL,
                                       &g.nparts);
                if (!g.fallback || !g.parts) {
                        free(g.fallback);
                        free(g.parts);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < g.nfallback; i++) {
                        g.total_counts &= released(g.fallback[i]);
                        g.total_volume &= volume_known(g.fallback[i]);
                }
                ret = protect_counts(c, &g, prm);
                if (ret >= 0) {
                        changed |= ret;
                        ret = protect_volume(c, &g, prm);
                }
                free(g.fallback);
                free(g.parts);
                if (ret < 0)
                        return ret;
                changed |= ret;
        }
        return changed;
}

/* Distinct reporters of high or critical severity in week and the week before
 * (when that week is in the same month). */
static int reporter_cmp(const void *a, const void *b)
{
        return memcmp(*(const uint8_t *const *)a, *(const uint8_t *const *)b, DC_PSEUDONYM_BYTES);
}

static uint32_t reporters_high(const struct dc_contrib *c, size_t n, uint32_t week,
                               uint32_t month, bool prev_released)
{
        uint32_t prev = period_week_prev(week), count = 0;
        bool prev_in = period_month_of_week(prev) == month && prev_released;
        const uint8_t **who = calloc(n ? n : 1, sizeof(*who));
        size_t k = 0;

        if (!who)
                return 0;
        for (size_t i = 0; i < n; i++) {
                if (c[i].severity[NMO__SEVERITY__SEVERITY_HIGH] +
                            c[i].severity[NMO__SEVERITY__SEVERITY_CRITICAL] == 0)
                        continue;
                if (c[i].week == week || (prev_in && c[i].week == prev))
                        who[k++] = c[i].reporter;
        }
        qsort(who, k, sizeof(*who), reporter_cmp);
        for (size_t i = 0; i < k; i++)
                if (i == 0 || memcmp(who[i - 1], who[i], DC_PSEUDONYM_BYTES) != 0)
                        count++;
        free(who);
        return count;
}

/* Is the material-week cell of week released? */
static bool week_released(const struct dc_result *r, uint32_t week)
{
        for (size_t i = 0; i < r->ncells; i++)
                if (r->cells[i].kind == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK &&
                    r->cells[i].period == week)
                        return released(&r->cells[i]);
        return false;
}

/* Sets each cell's fate from the ledger; cells an earlier release published
 * take what it showed. */
static void apply_ledger(struct dc_result *r, const struct dc_ledger *l)
{
        for (size_t i = 0; i < r->ncells; i++) {
                struct dc_cell *cell = &r->cells[i];
                Nmo__Hub__Suppression supp = NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;
                Nmo__Hub__VolumeStatus vol = NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN;

                cell->fate = DC_NEW;
                if (!l)
                        continue;
                if (l->lookup(l->userdata, cell, &supp, &vol)) {
                        cell->suppression = supp;
                        if (supp == NMO__HUB__SUPPRESSION__SUPPRESSION_NONE) {
                                cell->fate = DC_RELEASED;
                                cell->volume_status = vol;
                        } else {
                                cell->fate = DC_SUPPRESSED;
                        }
                } else if (!l->in_scope(l->userdata, cell)) {
                        cell->fate = DC_UNPUBLISHED;
                }
        }
}

int dc_compute(const struct dc_contrib *c, size_t n, uint32_t month, const struct dc_params *p,
               const struct dc_ledger *ledger, struct dc_result *out)
{
        struct dc_result r = { NULL, 0 };
        struct cell_index ix = { NULL, 0 };
        size_t cap = 0;
        int ret = -ENOMEM;

        memset(out, 0, sizeof(*out));
        if (p->min_reporters < DC_MIN_REPORTERS_FLOOR || p->dominance_n < 1 ||
            p->dominance_k < 1 || p->dominance_k > 100)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                size_t at[4];

                if (period_month_of_week(c[i].week) != month) {
                        ret = -EINVAL;
                        goto fail;
                }
                if (cell_get(&r, &cap, &ix, NMO__HUB__CELL_KIND__CELL_EVENT_WEEK, c[i].week,
                             c[i].event, "", &at[0]) < 0 ||
                    cell_get(&r, &cap, &ix, NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK, c[i].week, "",
                             "", &at[1]) < 0 ||
                    cell_get(&r, &cap, &ix, NMO__HUB__CELL_KIND__CELL_EVENT_MONTH, month, c[i].event,
                             "", &at[2]) < 0 ||
                    cell_get(&r, &cap, &ix, NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK, c[i].week, "",
                             c[i].country, &at[3]) < 0)
                        goto fail;
                for (int k = 0; k < 4; k++)
                        if (cell_add(&r.cells[at[k]], i) < 0)
                                goto fail;
        }
        for (size_t i = 0; i < r.ncells; i++) {
                ret = cell_stats(c, &r.cells[i], p);
                if (ret < 0)
                        goto fail;
        }
        apply_ledger(&r, ledger);
        /* Suppress until no total minus parts reveals anything; each pass only
         * ever suppresses more, so this ends. */
        for (int pass = 0;; pass++) {
                ret = secondary_pass(c, &r, p);
                if (ret < 0)
                        goto fail;
                if (ret == 0 || pass > (int)(4 * r.ncells + 4))
                        break;
        }
        if (p->protection_reports > 0) {
                ret = dc_protect_intervals(&r, p);
                if (ret < 0)
                        goto fail;
        }
        for (size_t i = 0; i < r.ncells; i++) {
                struct dc_cell *cell = &r.cells[i];

                if (cell->kind == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK && released(cell)) {
                        /* Only weeks whose figures are released count: a
                         * suppressed week must not show through an alert. */
                        uint32_t h = reporters_high(c, n, cell->period, month,
                                                    week_released(&r, period_week_prev(
                                                                              cell->period)));
                        cell->reporters_high = h >= p->min_reporters ? h : 0;
                }
                if (cell->kind == NMO__HUB__CELL_KIND__CELL_EVENT_WEEK && released(cell)) {
                        size_t total = 0;

                        for (size_t j = 0; j < cell->nidx; j++)
                                total += c[cell->idx[j]].nnotes;
                        cell->notes = calloc(total ? total : 1, sizeof(*cell->notes));
                        if (!cell->notes) {
                                ret = -ENOMEM;
                                goto fail;
                        }
                        for (size_t j = 0; j < cell->nidx; j++) {
                                const struct dc_contrib *x = &c[cell->idx[j]];

                                for (size_t k = 0; k < x->nnotes; k++)
                                        if (x->notes[k] && x->notes[k][0])
                                                cell->notes[cell->nnotes++] = x->notes[k];
                        }
                        /* Sorted and unique: the order must not tell when a note came. */
                        qsort(cell->notes, cell->nnotes, sizeof(*cell->notes), note_cmp);
                        {
                                size_t w = 0;
                                for (size_t j = 0; j < cell->nnotes; j++)
                                        if (w == 0 || strcmp(cell->notes[w - 1], cell->notes[j]))
                                                cell->notes[w++] = cell->notes[j];
                                cell->nnotes = w;
                        }
                }
        }
        if (r.ncells)
                qsort(r.cells, r.ncells, sizeof(*r.cells), cell_order);
        free(ix.slots);
        *out = r;
        return 0;
fail:
        free(ix.slots);
        dc_result_free(&r);
        return ret < 0 ? ret : -ENOMEM;
}

void dc_result_free(struct dc_result *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->ncells; i++) {
                free(r->cells[i].idx);
                free(r->cells[i].notes);
        }
        free(r->cells);
        r->cells = NULL;
        r->ncells = 0;
}
