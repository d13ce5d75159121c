/* cmd-stats.c: `nmo-hub stats`: the hub's health in figures, read from the
 * private store (works while the daemon runs). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "analytics.h"
#include "date.h"
#include "period.h"
#include "hub-cli.h"
#include "db.h"
#include "dirlock.h"
#include "journal.h"
#include "member.h"
#include "presence.h"
#include "receipt.h"

static const char help[] =
        "Usage: nmo-hub stats --dir DIR [--json]\n"
        "\n"
        "Prints the hub's counters: signals_stored, members_active,\n"
        "members_suspended, members_revoked, members_expiring_30d, members_expired,\n"
        "duplicates (repeats answered with the\n"
        "original receipt), rejected (refusals, also by reason), the size of the\n"
        "private store, aggregation_backlog (accepted signals not counted yet), and\n"
        "the release calendar: releases (so far), last_release (its point in the\n"
        "calendar, UTC) and next_release; and serving (whether 'nmo-hub serve' runs\n"
        "on DIR) with serving_pid. Then, for the operator only, each member:\n"
        "its state and when it was last seen connected (the start of the UTC\n"
        "hour; once that epoch closed, only the epoch, as 2026-11; 'connected'\n"
        "while it holds a connection to the running hub; 'never'). --json prints one JSON object with those keys, the members as\n"
        "members: [{name, state, connected, last_seen}].\n"
        "\n"
        "  --dir DIR      hub directory\n"
        "  --json         one JSON object\n"
        "  -v, --verbose  more log output\n"
        "  -q, --quiet    errors only\n"
        "  -h, --help     show this help\n";

struct stats_ctx {
        struct hub_store *st;
        json_object *o;
        uint64_t now;
        int64_t expiring;
        int64_t expired;
        bool serving;
        json_object *members;
        struct hub_presence *presence;
        size_t npresence;
        int64_t connected;
};

static int presence_cmp(const void *a, const void *b)
{
        uint32_t x = ((const struct hub_presence *)a)->member;
        uint32_t y = ((const struct hub_presence *)b)->member;

        return x < y ? -1 : x > y;
}

/* A member's line: name, state, connected and the hour it was last seen. */
static int member_presence(const struct hub_member *m, void *userdata)
{
        struct stats_ctx *c = userdata;
        json_object *e = json_object_new_object();
        const struct hub_presence *p = NULL, key = { .member = m->id };
        uint64_t hour = 0;
        bool up = false, epoch = false;

        /* Sorted by member after reading: thousands of members stay quick. */
        if (c->npresence)
                p = bsearch(&key, c->presence, c->npresence, sizeof(key), presence_cmp);
        if (p) {
                hour = p->ms;
                epoch = p->epoch;
                up = p->connected && c->serving;
        }
        if (up)
                c->connected++;
        json_object_object_add(e, "name", json_object_new_string(m->name));
        json_object_object_add(e, "state",
                               json_object_new_string(hub_member_state_name(m->state)));
        json_object_object_add(e, "connected", json_object_new_boolean(up));
        if (p) {
                char t[40];

                /* An epoch that closed keeps no finer time (presence.h). */
                if (epoch)
                        period_month_str(period_month_of_week(period_week_of_day(
                                                 date_day_of_ms(hour))),
                                         t, sizeof(t));
                else
                        util_format_time(hour, t, sizeof(t));
                json_object_object_add(e, "last_seen", json_object_new_string(t));
        } else {
                json_object_object_add(e, "last_seen", NULL);
        }
        json_object_array_add(c->members, e);
        return 0;
}

static int count_expiry(const struct hub_member *m, void *userdata)
{
        struct stats_ctx *c = userdata;

        if (m->state != HUB_MEMBER_ACTIVE || !m->expires_ms)
                return 0;
        if (hub_member_expired(m, c->now))
                c->expired++;
        else if (m->expires_ms - c->now < HUB_MEMBER_EXPIRY_WARN_MS)
                c->expiring++;
        return 0;
}

static int stats_txn(MDB_txn *txn, void *userdata)
{
        struct stats_ctx *c = userdata;
        static const char *const keys[] = { HUB_META_SIGNALS, HUB_META_DUPLICATES,
                                            HUB_META_REJECTED };
        json_object *by = json_object_new_object();
        uint64_t counts[4], v;
        MDB_envinfo info;
        MDB_stat env_stat;
        int r;

        json_object_object_add(c->o, "rejected_by_reason", by);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(keys); i++) {
                r = hub_store_meta_get(txn, c->st, keys[i], &v);
                if (r < 0)
                        return r;
                json_object_object_add(c->o, keys[i], json_object_new_int64((int64_t)v));
        }
        for (int reason = 1; reason <= RECEIPT_REASON_LAST; reason++) {
                char name[64];

                snprintf(name, sizeof(name), "%s.%s", HUB_META_REJECTED,
                         reason_name((Nmo__Reason)reason));
                r = hub_store_meta_get(txn, c->st, name, &v);
                if (r < 0)
                        return r;
                if (v)
                        json_object_object_add(by, reason_name((Nmo__Reason)reason),
                                               json_object_new_int64((int64_t)v));
        }
        r = hub_member_count(txn, c->st, counts);
        if (r < 0)
                return r;
        json_object_object_add(c->o, "members_active",
                               json_object_new_int64((int64_t)counts[HUB_MEMBER_ACTIVE]));
        json_object_object_add(c->o, "members_suspended",
                               json_object_new_int64((int64_t)counts[HUB_MEMBER_SUSPENDED]));
        json_object_object_add(c->o, "members_revoked",
                               json_object_new_int64((int64_t)counts[HUB_MEMBER_REVOKED]));
        c->now = util_now_ms();
        r = hub_member_foreach(txn, c->st, count_expiry, c);
        if (r < 0)
                return r;
        json_object_object_add(c->o, "members_expiring_30d", json_object_new_int64(c->expiring));
        json_object_object_add(c->o, "members_expired", json_object_new_int64(c->expired));
        c->members = json_object_new_array();
        r = hub_member_foreach(txn, c->st, member_presence, c);
        if (r < 0) {
                json_object_put(c->members);
                return r;
        }
        json_object_object_add(c->o, "members_connected", json_object_new_int64(c->connected));
        json_object_object_add(c->o, "members", c->members);
        if (mdb_env_info(c->st->env, &info) == 0 && mdb_env_stat(c->st->env, &env_stat) == 0) {
                json_object_object_add(c->o, "store_used_bytes",
                                       json_object_new_int64((int64_t)((info.me_last_pgno + 1) *
                                                                       env_stat.ms_psize)));
                json_object_object_add(c->o, "store_map_bytes",
                                       json_object_new_int64((int64_t)info.me_mapsize));
        }
        if (c->st->cenv) {
                uint64_t waiting = 0;

                if (mdb_env_info(c->st->cenv, &info) == 0 &&
                    mdb_env_stat(c->st->cenv, &env_stat) == 0)
                        json_object_object_add(
                                c->o, "contributions_used_bytes",
                                json_object_new_int64((int64_t)((info.me_last_pgno + 1) *
                                                                env_stat.ms_psize)));
                /* Accepted signals the aggregation has not counted yet. */
                if (hub_journal_backlog(c->st, txn, &waiting) == 0)
                        json_object_object_add(c->o, "aggregation_backlog",
                                               json_object_new_int64((int64_t)waiting));
        }
        return 0;
}

struct release_stats {
        int64_t n;
        char last[32], next[32];
};

static int release_one(const Nmo__Hub__Release *rel, void *userdata)
{
        struct release_stats *rs = userdata;

        rs->n++;
        snprintf(rs->last, sizeof(rs->last), "%s", rel->issued ? rel->issued : "");
        snprintf(rs->next, sizeof(rs->next), "%s", rel->next ? rel->next : "");
        return 0;
}

/* The release ledger of DIR/analytics, read-only; nothing when it cannot be
 * opened (a hub that never ran). */
static void release_stats(const char *dir, json_object *o)
{
        struct release_stats rs = { 0, "", "" };
        struct analytics *an = NULL;
        char *path = util_path(dir, "analytics");

        if (path && analytics_open(&an, path, true) == 0 &&
            analytics_foreach_release(an, release_one, &rs) == 0) {
                json_object_object_add(o, "releases", json_object_new_int64(rs.n));
                json_object_object_add(o, "last_release",
                                       rs.last[0] ? json_object_new_string(rs.last) : NULL);
                json_object_object_add(o, "next_release",
                                       rs.next[0] ? json_object_new_string(rs.next) : NULL);
        }
        analytics_free(an);
        free(path);
}

/* Whether a serve holds DIR's lock, and its pid. */
static bool serving_stats(const char *dir, json_object *o)
{
        char *path = util_path(dir, HUB_LOCK_FILE);
        pid_t holder = 0;
        int r = path ? dirlock_check(path, &holder) : -ENOMEM;

        free(path);
        if (r < 0 && r != -EBUSY)
                return false;
        json_object_object_add(o, "serving", json_object_new_boolean(r == -EBUSY));
        json_object_object_add(o, "serving_pid", r == -EBUSY && holder > 0
                                                         ? json_object_new_int64(holder)
                                                         : NULL);
        return r == -EBUSY;
}

/* The members' table of the text output. */
static void print_members(json_object *members)
{
        size_t n = json_object_array_length(members);

        printf("\n%-32s %-10s %s\n", "member", "state", "last seen");
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(members, i), *v;
                const char *name = "", *state = "", *seen = NULL;
                bool up = false;

                if (json_object_object_get_ex(e, "name", &v))
                        name = json_object_get_string(v);
                if (json_object_object_get_ex(e, "state", &v))
                        state = json_object_get_string(v);
                if (json_object_object_get_ex(e, "connected", &v))
                        up = json_object_get_boolean(v);
                if (json_object_object_get_ex(e, "last_seen", &v) && v)
                        seen = json_object_get_string(v);
                printf("%-32s %-10s %s\n", name, state,
                       up ? "connected" : seen ? seen : "never");
        }
}

int hub_cmd_stats(int argc, char **argv)
{
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "json", no_argument, NULL, 'j' },
                CLI_COMMON_OPTIONS,
                { NULL, 0, NULL, 0 },
        };
        struct hub_store *st = NULL;
        struct stats_ctx ctx;
        const char *dir = NULL;
        bool json = false;
        int c, r, verbosity = 0;

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":" CLI_COMMON_SHORT, opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        return cli_help(help);
                default:
                        if (cli_verbosity_option(c, &verbosity))
                                break;
                        return cli_bad_option("stats", argv, c);
                }
        }
        cli_log_setup(verbosity);
        if (optind != argc)
                return cli_unexpected("stats", argv[optind]);
        if (!dir)
                return cli_required("stats", "--dir DIR");
        if (hub_cli_open_store(dir, true, &st) < 0)
                return CLI_EXIT_FAIL;
        memset(&ctx, 0, sizeof(ctx));
        ctx.st = st;
        ctx.o = json_object_new_object();
        ctx.serving = serving_stats(dir, ctx.o);
        if (hub_presence_read(dir, &ctx.presence, &ctx.npresence) < 0)
                fprintf(stderr, "nmo-hub stats: cannot read %s/private/" HUB_PRESENCE_FILE
                        ": members' last_seen not shown\n", dir);
        else if (ctx.npresence)
                qsort(ctx.presence, ctx.npresence, sizeof(*ctx.presence), presence_cmp);
        r = hub_store_read(st, stats_txn, &ctx);
        hub_store_free(st);
        if (r == 0)
                release_stats(dir, ctx.o);
        if (r < 0) {
                fprintf(stderr, "nmo-hub stats: cannot read the store: %s\n", strerror(-r));
                json_object_put(ctx.o);
                free(ctx.presence);
                return CLI_EXIT_FAIL;
        }
        if (json) {
                printf("%s\n", json_object_to_json_string_ext(ctx.o, JSON_C_TO_STRING_PRETTY |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
        } else {
                json_object_object_foreach(ctx.o, key, val) {
                        if (val == ctx.members)
                                continue;
                        if (json_object_is_type(val, json_type_object)) {
                                json_object_object_foreach(val, k2, v2)
                                        printf("%-20s %s\n", k2, json_object_get_string(v2));
                        } else {
                                printf("%-20s %s\n", key, val ? json_object_get_string(val)
                                                                : "-");
                        }
                }
                print_members(ctx.members);
        }
        json_object_put(ctx.o);
        free(ctx.presence);
        return CLI_EXIT_OK;
}
