/* presence.c: see presence.h. A line: "MEMBER MS CONNECTED EPOCH\n", all
 * decimal. */
#include "presence.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "period.h"

/* The file: 0600 in private/ (0700). */
static char *presence_path(const char *hub_dir)
{
        char *priv = util_path(hub_dir, "private"), *path;

        if (!priv)
                return NULL;
        path = util_path(priv, HUB_PRESENCE_FILE);
        free(priv);
        return path;
}

int hub_presence_read(const char *hub_dir, struct hub_presence **list, size_t *n)
{
        char *path = presence_path(hub_dir), *text = NULL, *line, *save = NULL;
        struct hub_presence *out = NULL;
        size_t len = 0, count = 0, cap = 0;
        int r;

        *list = NULL;
        *n = 0;
        if (!path)
                return -ENOMEM;
        r = util_read_file(path, 64u << 20, &text, &len);
        free(path);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                struct hub_presence p;
                unsigned int up, epoch;

                if (sscanf(line, "%" SCNu32 " %" SCNu64 " %u %u", &p.member, &p.ms, &up,
                           &epoch) != 4 || up > 1 || epoch > 1)
                        continue;
                p.connected = up;
                p.epoch = epoch;
                if (count == cap) {
                        size_t ncap = cap ? 2 * cap : 64;
                        struct hub_presence *grown = realloc(out, ncap * sizeof(*grown));

                        if (!grown) {
                                free(out);
                                free(text);
                                return -ENOMEM;
                        }
                        out = grown;
                        cap = ncap;
                }
                out[count++] = p;
        }
        free(text);
        *list = out;
        *n = count;
        return 0;
}

static int id_cmp(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return x < y ? -1 : x > y;
}

static int entry_cmp(const void *a, const void *b)
{
        return id_cmp(&((const struct hub_presence *)a)->member,
                      &((const struct hub_presence *)b)->member);
}

/* Whether the sorted ids[0..n) hold id. */
static bool contains(const uint32_t *ids, size_t n, uint32_t id)
{
        return n && bsearch(&id, ids, n, sizeof(id), id_cmp);
}

/* An hour of an epoch closed through closed_through becomes the epoch's start. */
static void coarsen(struct hub_presence *p, uint32_t closed_through)
{
        uint32_t month;

        if (p->epoch || !closed_through)
                return;
        month = period_month_of_week(period_week_of_day(date_day_of_ms(p->ms)));
        if (month <= closed_through) {
                p->ms = period_month_start_ms(month);
                p->epoch = true;
        }
}

int hub_presence_write(const char *hub_dir, const uint32_t *connected, size_t nconnected,
                       const uint32_t *seen, size_t nseen, uint64_t now_ms, bool starting,
                       uint32_t closed_through)
{
        uint64_t hour = now_ms - now_ms % HUB_PRESENCE_HOUR_MS;
        struct hub_presence *list = NULL, *grown, *e, key;
        uint32_t *up = NULL;
        size_t n = 0, known, used = 0, kept;
        char *text = NULL, *path = NULL;
        int r;

        r = hub_presence_read(hub_dir, &list, &n);
        if (r < 0)
                return r;
        r = -ENOMEM;
        /* Sorted, so that thousands of members cost a few lookups each. */
        up = malloc((nconnected ? nconnected : 1) * sizeof(*up));
        grown = realloc(list, (n + nseen + nconnected + 1) * sizeof(*list));
        if (!up || !grown)
                goto out;
        list = grown;
        if (nconnected)
                memcpy(up, connected, nconnected * sizeof(*up));
        qsort(up, nconnected, sizeof(*up), id_cmp);
        qsort(list, n, sizeof(*list), entry_cmp);
        for (size_t i = 0; i < n; i++) {
                e = &list[i];
                if (e->connected && !contains(up, nconnected, e->member)) {
                        e->connected = false;
                        if (!starting) {
                                e->ms = hour;
                                e->epoch = false;
                        }
                }
        }
        /* Seen and connected members: updated in place when known, else
         * added; an id added twice is merged below. */
        known = n;
        for (size_t i = 0; i < nseen + nconnected; i++) {
                bool is_up = i >= nseen;

                key.member = is_up ? connected[i - nseen] : seen[i];
                if (!is_up && contains(up, nconnected, key.member))
                        continue;
                e = known ? bsearch(&key, list, known, sizeof(key), entry_cmp) : NULL;
                if (!e)
                        e = &list[n++];
                e->member = key.member;
                e->ms = hour;
                e->epoch = false;
                e->connected = is_up;
        }
        qsort(list, n, sizeof(*list), entry_cmp);
        kept = 0;
        for (size_t i = 0; i < n; i++) {
                if (kept && list[kept - 1].member == list[i].member) {
                        list[kept - 1].connected |= list[i].connected;
                        continue;
                }
                list[kept++] = list[i];
        }
        n = kept;
        /* At most 10 + 1 + 20 + 4 characters a line. */
        text = malloc(n * 40 + 1);
        path = presence_path(hub_dir);
        if (!text || !path)
                goto out;
        text[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                coarsen(&list[i], closed_through);
                used += (size_t)snprintf(text + used, 41, "%" PRIu32 " %" PRIu64 " %d %d\n",
                                         list[i].member, list[i].ms, list[i].connected ? 1 : 0,
                                         list[i].epoch ? 1 : 0);
        }
        r = util_write_file(path, text, used, 0600, false);
out:
        free(up);
        free(list);
        free(text);
        free(path);
        return r;
}
