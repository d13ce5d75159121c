/* query.c: see query.h. */
#include "query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyst.h"
#include "analytics.h"
#include "format.h"
#include "period.h"

bool query_cell_released(const Nmo__Hub__Cell *c, size_t *guarded)
{
        if (c->has_suppression && c->suppression != NMO__HUB__SUPPRESSION__SUPPRESSION_NONE)
                return false;
        if (!c->has_reporters || c->reporters < ANALYST_MIN_REPORTERS) {
                (*guarded)++;
                return false;
        }
        return true;
}

void query_warn_guarded(size_t n)
{
        if (n)
                fprintf(stderr, "nmo-analyst: warning: %zu cell%s marked released in the store "
                        "had fewer than %d reporters and %s shown as suppressed; tell the "
                        "hub's administrator\n", n, n == 1 ? "" : "s", ANALYST_MIN_REPORTERS,
                        n == 1 ? "is" : "are");
}

bool query_is_week_kind(Nmo__Hub__CellKind k)
{
        return k == NMO__HUB__CELL_KIND__CELL_EVENT_WEEK ||
               k == NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK ||
               k == NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK;
}

int query_cell_period(const Nmo__Hub__Cell *c, int64_t *first, int64_t *last, char *bad,
                      size_t badlen)
{
        bool week;

        if (period_range(c->period, first, last, &week) == 0 &&
            week == query_is_week_kind(c->kind))
                return 0;
        if (bad) {
                char *p = format_term_safe(c->period ? c->period : "");

                snprintf(bad, badlen, "a cell (%s) with the malformed period '%.20s'",
                         analytics_kind_name(c->kind), p ? p : "?");
                free(p);
        }
        return -EBADMSG;
}

static void cell_clear(struct query_cell *c)
{
        free(c->material);
        free(c->event);
        free(c->country);
        free(c->period);
        for (size_t i = 0; i < c->n_notes; i++)
                free(c->notes[i]);
        free(c->notes);
        memset(c, 0, sizeof(*c));
}

void query_cell_list_clear(struct query_cell_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                cell_clear(&l->v[i]);
        free(l->v);
        memset(l, 0, sizeof(*l));
}

static void copy_counts(uint32_t *dst, size_t n, const uint32_t *src, size_t n_src)
{
        for (size_t i = 0; i < n; i++)
                dst[i] = i < n_src ? src[i] : 0;
}

NMO_WUR static int cell_copy(struct query_cell *d, const Nmo__Hub__Cell *c, bool released)
{
        d->kind = c->kind;
        d->material = strdup(c->material ? c->material : "");
        d->event = strdup(c->event ? c->event : "");
        d->country = strdup(c->country ? c->country : "");
        d->period = strdup(c->period ? c->period : "");
        if (!d->material || !d->event || !d->country || !d->period)
                return -ENOMEM;
        d->final = c->has_final && c->final;
        d->release = c->has_release ? c->release : 0;
        if (!released) {
                d->suppression = c->has_suppression && c->suppression !=
                                 NMO__HUB__SUPPRESSION__SUPPRESSION_NONE
                                         ? c->suppression
                                         : NMO__HUB__SUPPRESSION__SUPPRESSION_FREQUENCY;
                return 0; /* no value leaves a suppressed cell */
        }
        d->suppression = NMO__HUB__SUPPRESSION__SUPPRESSION_NONE;
        d->reporters = c->reporters;
        d->reports = c->has_reports ? c->reports : 0;
        copy_counts(d->severity, NMO_ARRAY_SIZE(d->severity), c->severity, c->n_severity);
        copy_counts(d->status, NMO_ARRAY_SIZE(d->status), c->status, c->n_status);
        copy_counts(d->share, NMO_ARRAY_SIZE(d->share), c->share, c->n_share);
        d->volume_status = c->has_volume_status ? c->volume_status
                                                : NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN;
        if (d->volume_status != NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED &&
            d->volume_status != NMO__HUB__VOLUME_STATUS__VOLUME_NOT_GIVEN)
                d->volume_status = NMO__HUB__VOLUME_STATUS__VOLUME_DOMINANCE;
        if (d->volume_status == NMO__HUB__VOLUME_STATUS__VOLUME_RELEASED)
                d->volume_t = c->volume_t;
        if (c->n_notes) {
                d->notes = calloc(c->n_notes, sizeof(*d->notes));
                if (!d->notes)
                        return -ENOMEM;
                for (size_t i = 0; i < c->n_notes; i++) {
                        d->notes[i] = strdup(c->notes[i] ? c->notes[i] : "");
                        if (!d->notes[i])
                                return -ENOMEM;
                        d->n_notes++;
                }
        }
        return 0;
}

struct collect_ctx {
        const struct query_filter *q;
        struct query_cell_list *list;
};

static int collect_cell(const Nmo__Hub__Cell *c, void *userdata)
{
        struct collect_ctx *x = userdata;
        const struct query_filter *q = x->q;
        struct query_cell_list *l = x->list;
        int64_t first, last;
        bool released;
        int r;

        if (c->kind != q->kind)
                return 0;
        if ((q->material && strcmp(q->material, c->material ? c->material : "") != 0) ||
            (q->event && strcmp(q->event, c->event ? c->event : "") != 0) ||
            (q->country && strcmp(q->country, c->country ? c->country : "") != 0))
                return 0;
        r = query_cell_period(c, &first, &last, l->bad, sizeof(l->bad));
        if (r < 0)
                return r;
        if (last < q->from || first > q->to)
                return 0;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 64;
                struct query_cell *v = realloc(l->v, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        released = query_cell_released(c, &l->guarded);
        memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
        /* Counted before the copy, so a half-built cell is freed with the list. */
        l->n++;
        l->v[l->n - 1].first_day = first;
        l->v[l->n - 1].last_day = last;
        return cell_copy(&l->v[l->n - 1], c, released);
}

int query_cells_collect(struct analytics *an, const struct query_filter *q,
                        struct query_cell_list *l)
{
        struct collect_ctx x = { q, l };

        return analytics_foreach_cell(an, q->material, collect_cell, &x);
}

int query_cell_cmp(const void *a, const void *b)
{
        const struct query_cell *x = a, *y = b;
        int r;

        if (x->first_day != y->first_day)
                return x->first_day < y->first_day ? 1 : -1;
        r = strcmp(x->material, y->material);
        if (r == 0)
                r = strcmp(x->event, y->event);
        if (r == 0)
                r = strcmp(x->country, y->country);
        return r;
}
