/* test-attacks.c: attacks on what the hub publishes, each scripted against the
 * real nmo-hub, nmo-node and nmo-analyst on loopback, then the assertion of
 * what the attacker cannot derive. The attacker is an analyst who keeps every
 * snapshot of every view (attacker.h), members who keep every alert, two
 * colluding members, and a worst-case attacker who knows every published
 * figure's true value and solves the table by linear programming.
 *
 * Every hub runs under libfaketime (harness.h): it starts on Tuesday 10:00
 * UTC of the first week of a fresh epoch, and h_hub_release() moves its clock
 * past the next release point (Monday 06:00 UTC plus a minute).
 *
 * Each test states what the hub leaked before releases (when it recomputed
 * and published every cell every 500 ms, true figures, no ledger, no
 * interval audit, alerts counting suppressed weeks) and why its assertion
 * would then have failed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "analytics.h"
#include "attacker.h"
#include "date.h"
#include "harness.h"
#include "period.h"
#include "util.h"

enum { LOW = 1, MEDIUM = 2, HIGH = 3, CRITICAL = 4 };
enum { ST_RUMOUR = 1, ST_ANNOUNCED = 2, ST_IN_EFFECT = 3, ST_ENDED = 4 };
enum { SH_LT10 = 1, SH_10_25 = 2, SH_25_50 = 3, SH_50_75 = 4, SH_GT75 = 5 };

#define MAX_REPORTS 256

static double started;
/* The hub of the running test: a failing test leaves through a long jump,
 * and the teardown then stops and removes it. */
static struct h_hub *live;

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int timer_start(void **state)
{
        (void)state;
        started = now_s();
        return 0;
}

static int timer_report(void **state)
{
        (void)state;
        if (live)
                h_hub_destroy(live);
        live = NULL;
        printf("[ TIME     ] %.1f s\n", now_s() - started);
        fflush(stdout);
        return 0;
}

static void deliver(const char *node)
{
        assert_int_equal(h_node_run_once(node, 30), 0);
}

/* A week's period string of the hub's epoch: week index k (0-based). */
static void epoch_week(const struct h_hub *h, size_t k, char *buf, size_t len)
{
        uint32_t weeks[PERIOD_WEEKS_MAX];
        size_t n = period_month_weeks(h->epoch, weeks);

        assert_true(k < n);
        period_week_str(weeks[k], buf, len);
}

static size_t epoch_weeks(const struct h_hub *h)
{
        uint32_t weeks[PERIOD_WEEKS_MAX];

        return period_month_weeks(h->epoch, weeks);
}

/* The alerts a member holds (nmo-node alerts --json --wait secs). */
static json_object *member_alerts(const char *node, const char *secs)
{
        char *argv[] = { (char *)h_node_bin(), "alerts", "--dir", (char *)node, "--json",
                         "--wait", (char *)secs, NULL };
        char *out = NULL, *err = NULL;
        json_object *o;
        int rc = h_run(argv, &out, &err);

        if (rc != 0)
                fail_msg("nmo-node alerts failed (%d): %s", rc, err ? err : "");
        o = json_tokener_parse(out);
        if (!o || !json_object_is_type(o, json_type_array))
                fail_msg("nmo-node alerts --json printed no JSON array: %s", out);
        free(out);
        free(err);
        return o;
}

static json_object *analyst_alerts(struct h_hub *h)
{
        const char *args[] = { "alerts", "--json", NULL };
        char *out = at_analyst(h, args);
        json_object *o = json_tokener_parse(out);

        if (!o || !json_object_is_type(o, json_type_array))
                fail_msg("nmo-analyst alerts --json printed no JSON array: %s", out);
        free(out);
        return o;
}

static bool has_alert(json_object *list, const char *rule, const char *material)
{
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *a = json_object_array_get_idx(list, i), *r, *m;

                if (json_object_object_get_ex(a, "rule", &r) &&
                    json_object_object_get_ex(a, "material", &m) &&
                    strcmp(json_object_get_string(r), rule) == 0 &&
                    strcmp(json_object_get_string(m), material) == 0)
                        return true;
        }
        return false;
}

static json_object *seen(const struct at_watch *w, const char *kind, const char *period,
                         const char *material, const char *event, const char *country)
{
        char key[192];
        const struct at_cell *c;

        at_key(key, sizeof(key), kind, period, material, event, country);
        c = at_watch_find(w, key);
        if (!c)
                fail_msg("the analyst never saw %s", key);
        return json_tokener_parse(c->json);
}

static bool seen_released(const struct at_watch *w, const char *kind, const char *period,
                          const char *material, const char *event, const char *country)
{
        char key[192];
        const struct at_cell *c;

        at_key(key, sizeof(key), kind, period, material, event, country);
        c = at_watch_find(w, key);
        if (!c)
                fail_msg("the analyst never saw %s", key);
        return c->released;
}

static int64_t jint(json_object *o, const char *a, const char *b)
{
        json_object *v;

        if (!json_object_object_get_ex(o, a, &v))
                return -1;
        if (b && !json_object_object_get_ex(v, b, &v))
                return -1;
        if (json_object_is_type(v, json_type_null))
                return -1;
        return json_object_get_int64(v);
}

/* Polls (and keeps) a snapshot, and frees the raw text. */
static void poll(struct at_watch *w)
{
        free(at_watch_poll(w));
}

/* Counts the hub log's lines holding needle. */
static size_t log_count(const struct h_hub *h, const char *needle)
{
        char *text = NULL;
        size_t len = 0, n = 0;

        if (util_read_file(h->log, 64u << 20, &text, &len) < 0)
                return 0;
        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        free(text);
        return n;
}

/* Moves the hub's clock past the epoch's last release point at once (the
 * weeks still due are released together, with the final release) and waits
 * until the hub has closed the epoch. */
static void release_to_final(struct h_hub *h)
{
        uint32_t weeks[PERIOD_WEEKS_MAX];
        size_t n = period_month_weeks(h->epoch, weeks), before = log_count(h, "(epoch final)");
        uint64_t target = (uint64_t)(period_week_monday(weeks[n - 1]) + 7) * 86400000ULL +
                          H_RELEASE_DELAY_MS + 60000, now = h_hub_now_ms(h);

        assert_true(target > now);
        h_hub_clock(h, h_hub_clock_offset(h) + (int64_t)((target - now) / 1000) + 1);
        for (int waited = 0; waited < 20000; waited += 100) {
                if (log_count(h, "(epoch final)") > before)
                        return;
                usleep(100000);
        }
        fail_msg("the hub did not make the epoch's final release (see %s)", h->log);
}

/* 1. Differencing two releases.
 *
 * Old hub: every cell was recomputed and rewritten every 500 ms, so the
 * snapshot after the 4th member's report differed from the one before it in
 * the tungsten/export-quota cells (reporters 3 -> 4, reports, the critical,
 * in-effect and >75 bins +1, volume +777, the note): the difference is that
 * one report, exactly. The assertion "no snapshot before the release point
 * differs from the one before the 4th report" would have failed within a
 * second, and the member's alert feed could have carried an alert at once. */
static void test_differencing_two_releases(void **state)
{
        static struct h_hub h;
        struct at_watch w;
        struct at_report reps[MAX_REPORTS];
        size_t n = 0, polls = 0;
        char *nodes[4], *before, *s, *s1, *s2, w1[PERIOD_STR_MAX];
        static const char *const names[] = { "diff-a", "diff-b", "diff-c", "diff-d" };
        static const uint64_t vols[] = { 100, 200, 300 };
        json_object *alerts, *cell;
        pid_t pid;
        int rc;

        (void)state;
        h_hub_init_fresh_epoch(&h);
        live = &h;
        at_watch_init(&w, &h);
        epoch_week(&h, 0, w1, sizeof(w1));
        for (int i = 0; i < 4; i++)
                nodes[i] = h_node_create(&h, names[i], true);
        for (int i = 0; i < 3; i++) {
                at_submit(&h, nodes[i], reps, &n, "tungsten", "export-quota", "CN", HIGH,
                          ST_ANNOUNCED, SH_25_50, vols[i], NULL);
                deliver(nodes[i]);
        }
        /* The hub has folded the three reports in (it flushes every 500 ms). */
        usleep(1500000);
        before = at_watch_poll(&w);

        /* The 4th member reports once while the analyst polls every 0.5 s. */
        at_submit(&h, nodes[3], reps, &n, "tungsten", "export-quota", "CN", CRITICAL,
                  ST_IN_EFFECT, SH_GT75, 777, "Quota cut to zero for our grade.");
        {
                char *argv[] = { (char *)h_node_bin(), "run", "--dir", nodes[3], "--once",
                                 "--timeout", "30", NULL };
                char log[600];

                snprintf(log, sizeof(log), "%s/run.log", h.dir);
                pid = h_spawn(argv, log);
        }
        for (int after = 0; after < 8; polls++) {
                s = at_watch_poll(&w);
                if (strcmp(s, before) != 0)
                        fail_msg("snapshot %zu before the release point differs from the one "
                                 "before the 4th report:\n%s\nvs\n%s", polls, s, before);
                free(s);
                if (after > 0) {
                        after++;
                        usleep(500000);
                        continue;
                }
                rc = h_wait(pid, 500);
                if (rc != -1000) {
                        assert_int_equal(rc, 0);
                        after++;
                }
        }
        assert_int_equal(h_hub_stat(&h, "signals_stored"), 4);
        /* A member following the alerts gets nothing before the release. */
        alerts = member_alerts(nodes[0], "2");
        assert_int_equal(json_object_array_length(alerts), 0);
        json_object_put(alerts);

        /* The release point: the week's cells appear, once. */
        h_hub_release(&h);
        s1 = at_watch_poll(&w);
        assert_string_not_equal(s1, before);
        cell = seen(&w, "event-week", w1, "tungsten", "export-quota", "");
        assert_true(seen_released(&w, "event-week", w1, "tungsten", "export-quota", ""));
        assert_true(jint(cell, "reporters", NULL) >= 3);
        json_object_put(cell);
        for (int i = 0; i < 4; i++) {
                s = at_watch_poll(&w);
                assert_string_equal(s, s1);
                free(s);
                usleep(500000);
        }

        /* The next release (nothing new reported): every published cell in
         * every view is byte-identical (the ledger). */
        h_hub_release(&h);
        s2 = at_watch_poll(&w);
        assert_string_equal(s2, s1);
        assert_int_equal(w.changes, 0);
        assert_true(w.ncells >= 3);

        free(before);
        free(s1);
        free(s2);
        for (int i = 0; i < 4; i++)
                free(nodes[i]);
        at_watch_free(&w);
        h_hub_destroy(&h);
        live = NULL;
}

/* 2. Secondary suppression not undone by an earlier release.
 *
 * Week 1: four members report a cobalt plant outage (released). Week 2: a
 * fifth member reports a strike (one reporter: suppressed). Then every
 * release through the epoch's final one, whose event-month cells add the sums
 * month = week 1 + week 2 over what earlier releases fixed.
 *
 * Old hub: the week-1 cells were published as soon as 3 members had
 * reported (reporters 3), and rewritten when the 4th came (4), and again when
 * week 2's reports came in within the 14-day and month cells; a cell's
 * figures changed between snapshots, so "keeps exactly the figures of its
 * first release" (w.changes == 0) would have failed, and the difference of
 * the two versions is one member's report. Without the interval audit over
 * earlier releases, the strike's cells were protected only against the sums
 * of one computation. */
static void secondary_attack(bool outage_again)
{
        static struct h_hub h;
        struct at_watch w;
        struct at_report reps[MAX_REPORTS];
        size_t n = 0, hidden, releases = 0;
        char *nodes[5], w1[PERIOD_STR_MAX], w2[PERIOD_STR_MAX], *first_ew, *first_mw;
        static const char *const names[] = { "sec-a", "sec-b", "sec-c", "sec-d", "sec-e" };
        const struct at_cell *c;
        char key[192];
        bool final = false;

        h_hub_init_fresh_epoch(&h);
        live = &h;
        at_watch_init(&w, &h);
        epoch_week(&h, 0, w1, sizeof(w1));
        epoch_week(&h, 1, w2, sizeof(w2));
        for (int i = 0; i < 5; i++)
                nodes[i] = h_node_create(&h, names[i], true);
        for (int i = 0; i < 4; i++) {
                at_submit(&h, nodes[i], reps, &n, "cobalt", "plant-outage", "CD", HIGH,
                          ST_IN_EFFECT, SH_10_25, 0, NULL);
                deliver(nodes[i]);
                poll(&w);
        }
        h_hub_release(&h);
        releases++;
        poll(&w);
        assert_true(seen_released(&w, "event-week", w1, "cobalt", "plant-outage", ""));
        assert_true(seen_released(&w, "material-week", w1, "cobalt", "", ""));
        at_key(key, sizeof(key), "event-week", w1, "cobalt", "plant-outage", "");
        first_ew = strdup(at_watch_find(&w, key)->json);
        at_key(key, sizeof(key), "material-week", w1, "cobalt", "", "");
        first_mw = strdup(at_watch_find(&w, key)->json);

        /* Week 2. */
        for (int i = 0; outage_again && i < 3; i++) {
                at_submit(&h, nodes[i], reps, &n, "cobalt", "plant-outage", "CD", MEDIUM,
                          ST_IN_EFFECT, SH_10_25, 0, NULL);
                deliver(nodes[i]);
                poll(&w);
        }
        at_submit(&h, nodes[4], reps, &n, "cobalt", "strike", "ZA", CRITICAL, ST_ANNOUNCED,
                  SH_GT75, 0, NULL);
        deliver(nodes[4]);
        poll(&w);
        /* Release through the epoch's end: the final release marks every cell final. */
        while (!final) {
                assert_true(releases <= epoch_weeks(&h));
                h_hub_release(&h);
                releases++;
                poll(&w);
                at_key(key, sizeof(key), "event-week", w1, "cobalt", "plant-outage", "");
                final = at_watch_find(&w, key)->final;
        }
        assert_int_equal(releases, epoch_weeks(&h));
        poll(&w);

        /* The week-1 cells kept the figures of their first release. */
        if (w.changes)
                fail_msg("%zu published cell(s) changed: %s", w.changes, w.changed);
        at_key(key, sizeof(key), "event-week", w1, "cobalt", "plant-outage", "");
        c = at_watch_find(&w, key);
        assert_true(c->released);
        assert_string_equal(c->json, first_ew);
        at_key(key, sizeof(key), "material-week", w1, "cobalt", "", "");
        c = at_watch_find(&w, key);
        assert_true(c->released);
        assert_string_equal(c->json, first_mw);
        /* The strike is published only as suppressed. */
        assert_false(seen_released(&w, "event-week", w2, "cobalt", "strike", ""));
        {
                char month[PERIOD_STR_MAX];

                period_month_str(h.epoch, month, sizeof(month));
                assert_false(seen_released(&w, "event-month", month, "cobalt", "strike", ""));
        }
        /* And the worst-case attacker cannot pin it from all releases. */
        hidden = at_attack(&w, reps, n, "cobalt", h.epoch, 2.0);
        assert_true(hidden >= 2);

        free(first_ew);
        free(first_mw);
        for (int i = 0; i < 5; i++)
                free(nodes[i]);
        at_watch_free(&w);
        h_hub_destroy(&h);
        live = NULL;
}

static void test_secondary_not_undone_by_earlier_release(void **state)
{
        (void)state;
        secondary_attack(false);
}

/* 2b. The same with three of the week-1 reporters reporting the outage again
 * in week 2, beside the strike. The hub releases week 2's material total
 * (4 reports: 3 medium, 1 critical, 0 high) and suppresses week 2's outage
 * and strike cells. At the final release the plant-outage month cell must be
 * suppressed (released, it would give week 2's outage as month - week 1),
 * and then its severity-high count is pinned: month.high = week1.high (4,
 * released) + week2 outage.high (<= week 2 total.high = 0) = 4 exactly. The
 * final release publishes only event-month cells, so it has nothing left to
 * suppress (the hub logs "no new cell is left to widen it"); the week-2
 * release should have foreseen the month cells. The old hub recomputed
 * everything and would have failed the ledger check (cells changing) first. */
static void test_final_release_cannot_pin_month_cells(void **state)
{
        (void)state;
        secondary_attack(true);
}

/* 3. One snapshot pins suppressed cells.
 *
 * One week of nickel: three members report three different events (one
 * report each: suppressed), three others the same fourth event (released).
 * Old hub: the material-week total (6 reports) and the fourth event (3) were
 * released; 6 - 3 = 3 over three suppressed cells of at least 1 each pins
 * every one to exactly 1, and their severity bins with them. The old hub did
 * no interval audit, so the attacker's interval [1, 1] (width 0 < 2) would
 * have failed at_attack. */
static void test_one_snapshot_pins_suppressed(void **state)
{
        static struct h_hub h;
        struct at_watch w;
        struct at_report reps[MAX_REPORTS];
        size_t n = 0, hidden;
        char *nodes[6], w1[PERIOD_STR_MAX];
        static const char *const names[] = { "pin-a", "pin-b", "pin-c", "pin-d", "pin-e",
                                             "pin-f" };
        static const char *const lone[] = { "mine-closure", "accident", "strike" };

        (void)state;
        h_hub_init_fresh_epoch(&h);
        live = &h;
        at_watch_init(&w, &h);
        epoch_week(&h, 0, w1, sizeof(w1));
        for (int i = 0; i < 6; i++)
                nodes[i] = h_node_create(&h, names[i], true);
        for (int i = 0; i < 3; i++) {
                at_submit(&h, nodes[i], reps, &n, "nickel", lone[i], "ID", CRITICAL,
                          ST_IN_EFFECT, SH_50_75, 0, NULL);
                deliver(nodes[i]);
        }
        for (int i = 3; i < 6; i++) {
                at_submit(&h, nodes[i], reps, &n, "nickel", "export-quota", "ID", MEDIUM,
                          ST_ANNOUNCED, SH_10_25, 0, NULL);
                deliver(nodes[i]);
        }
        h_hub_release(&h);
        poll(&w);
        for (int i = 0; i < 3; i++)
                assert_false(seen_released(&w, "event-week", w1, "nickel", lone[i], ""));
        /* From this one snapshot, the worst-case attacker. */
        hidden = at_attack(&w, reps, n, "nickel", h.epoch, 2.0);
        assert_true(hidden >= 3);

        /* And with the epoch's event-month cells too. */
        release_to_final(&h);
        poll(&w);
        hidden = at_attack(&w, reps, n, "nickel", h.epoch, 2.0);
        assert_true(hidden >= 3);
        if (w.changes)
                fail_msg("%zu published cell(s) changed: %s", w.changes, w.changed);

        for (int i = 0; i < 6; i++)
                free(nodes[i]);
        at_watch_free(&w);
        h_hub_destroy(&h);
        live = NULL;
}

/* 4. Alerts over suppressed weeks.
 *
 * Week 1: two members report manganese at high and critical (2 reporters:
 * the week is suppressed). Week 2: three members report it (one high, two
 * low): week 2 is released. Old hub: the severity rule counted distinct
 * high/critical reporters over 14 days from the private contributions,
 * suppressed week included: 3 -> "3 companies report high or critical
 * severity for manganese ... W1 to W2", which tells everyone that two
 * companies reported high in the suppressed week 1; has_alert(...,
 * "severity", "manganese") would have been true for the analyst and the
 * member. Vanadium, with three high reporters in week 2 alone, is the
 * control: its severity alert does arrive, so the feed works. */
static void test_alerts_over_suppressed_weeks(void **state)
{
        static struct h_hub h;
        struct at_report reps[MAX_REPORTS];
        size_t n = 0;
        char *nodes[5];
        static const char *const names[] = { "alert-a", "alert-b", "alert-c", "alert-d",
                                             "alert-e" };
        json_object *an, *mem;

        (void)state;
        h_hub_init_fresh_epoch(&h);
        live = &h;
        for (int i = 0; i < 5; i++)
                nodes[i] = h_node_create(&h, names[i], true);
        at_submit(&h, nodes[0], reps, &n, "manganese", "plant-outage", "ZA", HIGH, ST_IN_EFFECT,
                  SH_25_50, 0, NULL);
        deliver(nodes[0]);
        at_submit(&h, nodes[1], reps, &n, "manganese", "plant-outage", "ZA", CRITICAL,
                  ST_IN_EFFECT, SH_25_50, 0, NULL);
        deliver(nodes[1]);
        h_hub_release(&h);

        for (int i = 2; i < 5; i++) {
                at_submit(&h, nodes[i], reps, &n, "manganese", "plant-outage", "ZA",
                          i == 2 ? HIGH : LOW, ST_IN_EFFECT, SH_25_50, 0, NULL);
                at_submit(&h, nodes[i], reps, &n, "vanadium", "mine-closure", "ZA", HIGH,
                          ST_ANNOUNCED, SH_10_25, 0, NULL);
                deliver(nodes[i]);
        }
        h_hub_release(&h);

        an = analyst_alerts(&h);
        assert_true(has_alert(an, "severity", "vanadium"));
        if (has_alert(an, "severity", "manganese"))
                fail_msg("a severity alert for manganese counts the suppressed week: %s",
                         json_object_to_json_string(an));
        /* Every member, also those who reported in the suppressed week. */
        for (int i = 0; i < 5; i += 2) {
                mem = member_alerts(nodes[i], "3");
                assert_true(has_alert(mem, "severity", "vanadium"));
                if (has_alert(mem, "severity", "manganese"))
                        fail_msg("member %s got a severity alert for manganese: %s", names[i],
                                 json_object_to_json_string(mem));
                json_object_put(mem);
        }
        json_object_put(an);
        for (int i = 0; i < 5; i++)
                free(nodes[i]);
        h_hub_destroy(&h);
        live = NULL;
}

/* 6. Collusion, and the sensitive materials' stricter rule.
 *
 * Three members report one plant outage each for NCOLL materials (volumes
 * 100, 200, 300 t); the first two collude and subtract their own reports and
 * volumes from each released cell to learn the third's. Old hub: figures were
 * exact, so published volume - 300 = 300 and published reports - 2 = 1 in
 * every cell: the third member's volume and report count, exactly; both
 * assertions below would have failed. Now the volume noise is never 0 (5 to
 * 10% of the largest contribution, 15..30 t here), and the reports carry
 * noise: reports true 3 is published as 3 with p = 0.383, and when the noise
 * is negative it is raised to the published reporters (at least 3), which is
 * 3 with p = 0.692; so the colluders' derivation is exact in a cell with
 * p = 0.383 + 0.309 * 0.692 = 0.597, in all NCOLL = 20 cells with
 * p = 0.597^20 = 3.3e-5 (with 12 cells it would be 2e-3, too often for a
 * test).
 *
 * With [privacy] sensitive = gallium and sensitive_min_reporters = 5, four
 * reporters are not enough for gallium while lithium, with the same four, is
 * released. The old hub had no sensitive list: gallium was released with
 * four reporters. */
#define NCOLL 20

static void test_collusion_and_sensitive(void **state)
{
        static const char *const mats[NCOLL] = {
                "aluminium", "antimony", "arsenic", "baryte", "beryllium", "bismuth", "boron",
                "cobalt", "copper", "fluorspar", "germanium", "hafnium", "magnesium",
                "manganese", "nickel", "niobium", "scandium", "tantalum", "tungsten",
                "vanadium",
        };
        static const char *const names[] = { "coll-a", "coll-b", "coll-c", "coll-d" };
        static const uint64_t vols[] = { 100, 200, 300 };
        static struct h_hub h;
        struct at_watch w;
        struct at_report reps[MAX_REPORTS];
        size_t n = 0, exact_reports = 0;
        char *nodes[4], w1[PERIOD_STR_MAX];

        (void)state;
        h_hub_init_fresh_epoch(&h);
        live = &h;
        assert_int_equal(h_hub_stop(&h, SIGTERM), 0);
        h_hub_conf_append(&h, "\n[privacy]\nsensitive = gallium\nsensitive_min_reporters = 5\n");
        h_hub_start(&h);
        at_watch_init(&w, &h);
        epoch_week(&h, 0, w1, sizeof(w1));
        for (int i = 0; i < 4; i++)
                nodes[i] = h_node_create(&h, names[i], true);
        for (int i = 0; i < 4; i++) {
                for (int m = 0; i < 3 && m < NCOLL; m++)
                        at_submit(&h, nodes[i], reps, &n, mats[m], "plant-outage", "CN", MEDIUM,
                                  ST_IN_EFFECT, SH_10_25, vols[i], NULL);
                at_submit(&h, nodes[i], reps, &n, "gallium", "export-licensing", "CN", HIGH,
                          ST_IN_EFFECT, SH_25_50, 50, NULL);
                at_submit(&h, nodes[i], reps, &n, "lithium", "export-licensing", "CL", HIGH,
                          ST_IN_EFFECT, SH_25_50, 50, NULL);
                deliver(nodes[i]);
        }
        h_hub_release(&h);
        poll(&w);

        for (int m = 0; m < NCOLL; m++) {
                json_object *cell = seen(&w, "event-week", w1, mats[m], "plant-outage", "");
                int64_t vol = jint(cell, "volume_t", NULL), rep = jint(cell, "reports", NULL);
                int64_t third = vol - (int64_t)(vols[0] + vols[1]);

                if (!seen_released(&w, "event-week", w1, mats[m], "plant-outage", ""))
                        fail_msg("%s: the 3-reporter cell is not released", mats[m]);
                if (vol < 0)
                        fail_msg("%s: no volume published: %s", mats[m],
                                 json_object_to_json_string(cell));
                /* The colluders' estimate of the third member's volume. */
                if (third == (int64_t)vols[2])
                        fail_msg("%s: the colluders derive the third volume exactly (%lld t)",
                                 mats[m], (long long)third);
                assert_true(llabs(third - (int64_t)vols[2]) <= 30);
                exact_reports += rep - 2 == 1;
                json_object_put(cell);
        }
        printf("colluders derived the third member's report count exactly in %zu of %d cells\n",
               exact_reports, NCOLL);
        /* The NCOLL cells have the same true figures but other contributions,
         * so independent noise: were every figure the same in all of them
         * (p < 1e-20), the noise would not depend on the cell key, and an
         * attacker who learns the one mapping from true to published value
         * inverts it everywhere. */
        {
                size_t same = 1;
                json_object *c0 = seen(&w, "event-week", w1, mats[0], "plant-outage", "");

                json_object_object_del(c0, "material");
                json_object_object_del(c0, "volume_t");
                for (int m = 1; m < NCOLL; m++) {
                        json_object *c = seen(&w, "event-week", w1, mats[m], "plant-outage", "");

                        json_object_object_del(c, "material");
                        json_object_object_del(c, "volume_t");
                        same += strcmp(json_object_to_json_string(c),
                                       json_object_to_json_string(c0)) == 0;
                        json_object_put(c);
                }
                json_object_put(c0);
                if (same == NCOLL)
                        fail_msg("all %d cells publish the same noisy figures: the noise does "
                                 "not depend on the cell key", NCOLL);
        }
        assert_true(exact_reports < NCOLL);

        assert_false(seen_released(&w, "event-week", w1, "gallium", "export-licensing", ""));
        assert_false(seen_released(&w, "material-week", w1, "gallium", "", ""));
        assert_true(seen_released(&w, "event-week", w1, "lithium", "export-licensing", ""));
        assert_true(seen_released(&w, "material-week", w1, "lithium", "", ""));

        for (int i = 0; i < 4; i++)
                free(nodes[i]);
        at_watch_free(&w);
        h_hub_destroy(&h);
        live = NULL;
}

/* 7. Time of release: the analytics store changes at release points only.
 *
 * The analytics store is read directly (nmo-analyst has no releases command
 * and does not print a cell's release). Reports arrive at three times of
 * week 1 and once in week 2; after each the store holds exactly what it held
 * before. Old hub: the store was rewritten within 500 ms of every report (the
 * digest would have changed after the first batch) and had no releases
 * database (0 releases, not 1 then 2). */
struct store_digest {
        crypto_generichash_state h;
        size_t cells, releases;
        uint32_t max_release;
        const char *week;          /* count the cells of this week ... */
        uint32_t week_release;     /* ... and check they all carry this release */
        size_t week_cells, week_wrong;
        Nmo__Hub__Release rel[8];
        char weeks[8][PERIOD_STR_MAX];
        char epochs[8][PERIOD_STR_MAX];
        char issued[8][24];
        bool finals[8];
};

static int digest_cell(const Nmo__Hub__Cell *c, void *u)
{
        struct store_digest *d = u;
        uint8_t buf[4096];
        size_t len = nmo__hub__cell__get_packed_size(c);

        assert_true(len <= sizeof(buf));
        nmo__hub__cell__pack(c, buf);
        crypto_generichash_update(&d->h, buf, len);
        d->cells++;
        if (c->release > d->max_release)
                d->max_release = c->release;
        if (d->week && c->period && strcmp(c->period, d->week) == 0) {
                d->week_cells++;
                d->week_wrong += !c->has_release || c->release != d->week_release;
        }
        return 0;
}

static int digest_release(const Nmo__Hub__Release *r, void *u)
{
        struct store_digest *d = u;
        uint8_t buf[4096];
        size_t len = nmo__hub__release__get_packed_size(r), i = d->releases;

        assert_true(len <= sizeof(buf));
        nmo__hub__release__pack(r, buf);
        crypto_generichash_update(&d->h, buf, len);
        if (i < 8) {
                assert_int_equal(r->id, i + 1);
                snprintf(d->weeks[i], sizeof(d->weeks[i]), "%s",
                         r->n_weeks == 1 ? r->weeks[0] : "");
                snprintf(d->epochs[i], sizeof(d->epochs[i]), "%s", r->epoch ? r->epoch : "");
                snprintf(d->issued[i], sizeof(d->issued[i]), "%s", r->issued ? r->issued : "");
                d->finals[i] = r->final;
        }
        d->releases++;
        return 0;
}

/* The digest of everything the analytics store holds (cells and releases). */
static void store_digest(struct h_hub *h, struct store_digest *d, const char *week,
                         uint32_t week_release, uint8_t out[32])
{
        struct analytics *an = NULL;
        char *path = at_store(h);

        memset(d, 0, sizeof(*d));
        d->week = week;
        d->week_release = week_release;
        crypto_generichash_init(&d->h, NULL, 0, 32);
        assert_int_equal(analytics_open(&an, path, true), 0);
        assert_int_equal(analytics_foreach_cell(an, NULL, digest_cell, d), 0);
        assert_int_equal(analytics_foreach_release(an, digest_release, d), 0);
        analytics_free(an);
        crypto_generichash_final(&d->h, out, 32);
        free(path);
}

static void test_store_changes_only_at_release_points(void **state)
{
        static const char *const names[] = { "time-a", "time-b", "time-c" };
        static const char *const mats[] = { "boron", "copper", "silicon" };
        static struct h_hub h;
        struct at_report reps[MAX_REPORTS];
        struct store_digest d;
        size_t n = 0;
        char *nodes[3], w1[PERIOD_STR_MAX], w2[PERIOD_STR_MAX], month[PERIOD_STR_MAX];
        uint8_t empty[32], dg[32], after1[32];

        (void)state;
        h_hub_init_fresh_epoch(&h);
        live = &h;
        epoch_week(&h, 0, w1, sizeof(w1));
        epoch_week(&h, 1, w2, sizeof(w2));
        period_month_str(h.epoch, month, sizeof(month));
        for (int i = 0; i < 3; i++)
                nodes[i] = h_node_create(&h, names[i], true);
        store_digest(&h, &d, NULL, 0, empty);
        assert_int_equal(d.cells, 0);
        assert_int_equal(d.releases, 0);

        /* Three batches within week 1, hours apart on the hub's clock. */
        for (int b = 0; b < 3; b++) {
                for (int i = 0; i < 3; i++) {
                        at_submit(&h, nodes[i], reps, &n, mats[b], "price-spike", "CN", MEDIUM,
                                  ST_ANNOUNCED, SH_LT10, 10, NULL);
                        deliver(nodes[i]);
                }
                usleep(1500000);        /* three of the hub's flushes */
                store_digest(&h, &d, NULL, 0, dg);
                assert_int_equal(d.cells, 0);
                assert_int_equal(d.releases, 0);
                assert_memory_equal(dg, empty, 32);
                h_hub_clock(&h, h_hub_clock_offset(&h) + 20 * 3600);
        }
        h_hub_release(&h);
        store_digest(&h, &d, w1, 1, after1);
        assert_int_equal(d.releases, 1);
        assert_string_equal(d.weeks[0], w1);
        assert_string_equal(d.epochs[0], month);
        assert_false(d.finals[0]);
        assert_true(d.week_cells >= 9);         /* 3 materials x (event, material, country) */
        assert_int_equal(d.week_wrong, 0);
        assert_int_equal(d.max_release, 1);

        /* Week 2: a report, and the store does not move until the next point. */
        at_submit(&h, nodes[0], reps, &n, "boron", "price-spike", "CN", MEDIUM, ST_ANNOUNCED,
                  SH_LT10, 10, NULL);
        deliver(nodes[0]);
        usleep(1500000);
        store_digest(&h, &d, NULL, 0, dg);
        assert_memory_equal(dg, after1, 32);
        h_hub_release(&h);
        store_digest(&h, &d, w2, 2, dg);
        assert_int_equal(d.releases, 2);
        assert_string_equal(d.weeks[1], w2);
        assert_int_equal(d.week_wrong, 0);
        assert_int_equal(d.max_release, 2);
        /* Week 1's cells still carry release 1. */
        store_digest(&h, &d, w1, 1, dg);
        assert_int_equal(d.week_wrong, 0);

        for (int i = 0; i < 3; i++)
                free(nodes[i]);
        h_hub_destroy(&h);
        live = NULL;
}

/* 7b. The release record names its release point.
 *
 * Release.issued is documented (analytics/analytics.proto) as "the release
 * point, 2026-12-07T06:00Z": Monday 00:00 UTC after the week plus
 * [release] delay_hours. A record stamped with the moment the hub happened
 * to write it says when the hub ran, not what the calendar published. The
 * old hub had no release records at all. */
static void test_release_record_names_its_point(void **state)
{
        static const char *const names[] = { "point-a", "point-b", "point-c" };
        static struct h_hub h;
        struct at_report reps[MAX_REPORTS];
        struct store_digest d;
        size_t n = 0;
        char *nodes[3], point[24], day[11];
        uint32_t weeks[PERIOD_WEEKS_MAX];
        uint8_t dg[32];

        (void)state;
        h_hub_init_fresh_epoch(&h);
        live = &h;
        (void)period_month_weeks(h.epoch, weeks);
        for (int i = 0; i < 3; i++) {
                nodes[i] = h_node_create(&h, names[i], true);
                at_submit(&h, nodes[i], reps, &n, "helium", "price-spike", "QA", LOW,
                          ST_RUMOUR, SH_LT10, 0, NULL);
                deliver(nodes[i]);
        }
        h_hub_release(&h);
        store_digest(&h, &d, NULL, 0, dg);
        assert_int_equal(d.releases, 1);
        date_str(period_week_monday(weeks[0]) + 7, day, sizeof(day));
        snprintf(point, sizeof(point), "%sT06:00Z", day);
        assert_string_equal(d.issued[0], point);
        for (int i = 0; i < 3; i++)
                free(nodes[i]);
        h_hub_destroy(&h);
        live = NULL;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_differencing_two_releases, timer_start,
                                                timer_report),
                cmocka_unit_test_setup_teardown(test_secondary_not_undone_by_earlier_release,
                                                timer_start, timer_report),
                cmocka_unit_test_setup_teardown(test_final_release_cannot_pin_month_cells,
                                                timer_start, timer_report),
                cmocka_unit_test_setup_teardown(test_one_snapshot_pins_suppressed, timer_start,
                                                timer_report),
                cmocka_unit_test_setup_teardown(test_alerts_over_suppressed_weeks, timer_start,
                                                timer_report),
                cmocka_unit_test_setup_teardown(test_collusion_and_sensitive, timer_start,
                                                timer_report),
                cmocka_unit_test_setup_teardown(test_store_changes_only_at_release_points,
                                                timer_start, timer_report),
                cmocka_unit_test_setup_teardown(test_release_record_names_its_point,
                                                timer_start, timer_report),
        };

        if (sodium_init() < 0)
                return 1;
        /* NMO_TEST_FILTER=test_collusion* runs the matching tests only. */
        if (getenv("NMO_TEST_FILTER"))
                cmocka_set_test_filter(getenv("NMO_TEST_FILTER"));
        return cmocka_run_group_tests_name("privacy-attacks", tests, NULL, NULL);
}
