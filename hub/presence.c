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

static bool contains(const uint32_t *ids, size_t n, uint32_t id)
{
        for (size_t i = 0; i < n; i++)
                if (ids[i] == id)
                        return true;
        return false;
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

/* The entry of member in *list, added (never seen) when absent; NULL when
 * out of memory. */
static struct hub_presence *entry(struct hub_presence **list, size_t *n, size_t *cap,
                                  uint32_t member)
{
        for (size_t i = 0; i < *n; i++)
                if ((*list)[i].member == member)
                        return &(*list)[i];
        if (*n == *cap) {
                size_t ncap = *cap ? 2 * *cap : 64;
                struct hub_presence *grown = realloc(*list, ncap * sizeof(*grown));

                if (!grown)
                        return NULL;
                *list = grown;
                *cap = ncap;
        }
        memset(&(*list)[*n], 0, sizeof((*list)[0]));
        (*list)[*n].member = member;
        return &(*list)[(*n)++];
}

int hub_presence_write(const char *hub_dir, const uint32_t *connected, size_t nconnected,
                       const uint32_t *seen, size_t nseen, uint64_t now_ms, bool starting,
                       uint32_t closed_through)
{
        uint64_t hour = now_ms - now_ms % HUB_PRESENCE_HOUR_MS;
        struct hub_presence *list = NULL, *e;
        size_t n = 0, cap, used = 0;
        char *text = NULL, *path = NULL;
        int r;

        r = hub_presence_read(hub_dir, &list, &n);
        if (r < 0)
                return r;
        cap = n;
        for (size_t i = 0; i < n; i++) {
                e = &list[i];
                if (e->connected && !contains(connected, nconnected, e->member)) {
                        e->connected = false;
                        if (!starting) {
                                e->ms = hour;
                                e->epoch = false;
                        }
                }
        }
        r = -ENOMEM;
        for (size_t i = 0; i < nseen; i++) {
                if (contains(connected, nconnected, seen[i]))
                        continue;
                e = entry(&list, &n, &cap, seen[i]);
                if (!e)
                        goto out;
                e->ms = hour;
                e->epoch = false;
                e->connected = false;
        }
        for (size_t i = 0; i < nconnected; i++) {
                e = entry(&list, &n, &cap, connected[i]);
                if (!e)
                        goto out;
                e->ms = hour;
                e->epoch = false;
                e->connected = true;
        }
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
        free(list);
        free(text);
        free(path);
        return r;
}
