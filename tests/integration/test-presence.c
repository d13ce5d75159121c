/* test-presence.c: `nmo-hub stats` tells the operator, per member, whether
 * it is connected to the running hub and the hour it was last seen, with
 * the real hub: written at reload (SIGHUP) and at a clean stop, a crash's
 * stale "connected" cleared at the next start, no time finer than the hour,
 * and nothing of it at the metrics endpoint. */
#include <signal.h>
#include <stdbool.h>
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

#include "harness.h"
#include "receipt.h"
#include "signal.h"
#include "util.h"

static struct h_hub hub;

static int setup(void **state)
{
        (void)state;
        h_hub_init(&hub);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        h_hub_destroy(&hub);
        return 0;
}

static json_object *stats(void)
{
        char *argv[] = { (char *)h_hub_bin(), "stats", "--dir", hub.hub_dir, "--json", NULL };

        return h_run_json(argv);
}

/* The entry of member name in stats' members (borrowed from o), or NULL. */
static json_object *member_entry(json_object *o, const char *name)
{
        json_object *members, *v;

        if (!json_object_object_get_ex(o, "members", &members) ||
            !json_object_is_type(members, json_type_array))
                return NULL;
        for (size_t i = 0; i < json_object_array_length(members); i++) {
                json_object *e = json_object_array_get_idx(members, i);

                if (json_object_object_get_ex(e, "name", &v) &&
                    strcmp(json_object_get_string(v), name) == 0)
                        return e;
        }
        return NULL;
}

static bool connected(json_object *o, const char *name)
{
        json_object *e = member_entry(o, name), *v;

        return e && json_object_object_get_ex(e, "connected", &v) && json_object_get_boolean(v);
}

/* last_seen of name as a string ("" when null or absent). */
static const char *last_seen(json_object *o, const char *name)
{
        json_object *e = member_entry(o, name), *v;

        if (!e || !json_object_object_get_ex(e, "last_seen", &v) || !v)
                return "";
        return json_object_get_string(v);
}

/* Sends SIGHUP until stats shows name connected (want) or ms pass. */
static bool wait_presence(const char *name, bool want, int ms)
{
        for (int waited = 0; waited <= ms; waited += 200) {
                json_object *o;
                bool got;

                kill(hub.pid, SIGHUP);
                usleep(200000);
                o = stats();
                got = connected(o, name) == want && last_seen(o, name)[0];
                json_object_put(o);
                if (got)
                        return true;
        }
        return false;
}

static void send_one(struct h_client *c)
{
        uint8_t *frame = NULL, id[SIGNAL_ID_BYTES];
        struct receipt r;
        size_t len = 0;
        bool dup;

        h_client_seal(c, "gallium", &frame, &len, id);
        assert_int_equal(h_client_send(c, frame, len, 5000, &r, &dup), 0);
        assert_int_equal(r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        free(frame);
}

/* The hour a last_seen names must be this hour or the one before (the test
 * may straddle the turn of an hour), and never finer than the hour. */
static void assert_hour(const char *seen)
{
        uint64_t now = h_hub_now_ms(&hub), hour = now - now % 3600000u;
        char this_hour[40], prev_hour[40];

        util_format_time(hour, this_hour, sizeof(this_hour));
        util_format_time(hour - 3600000u, prev_hour, sizeof(prev_hour));
        assert_true(strcmp(seen, this_hour) == 0 || strcmp(seen, prev_hour) == 0);
        assert_non_null(strstr(seen, ":00:00Z"));
}

static void test_last_seen(void **state)
{
        char *a = h_member_create(&hub, "present", true);
        char *b = h_member_create(&hub, "gone", true);
        char *c = h_member_create(&hub, "absent", true);
        struct h_client ca, cb;
        json_object *o;

        (void)state;
        o = stats();
        assert_int_equal(h_json_int(o, "members_connected"), 0);
        assert_string_equal(last_seen(o, "present"), "");
        assert_false(connected(o, "present"));
        json_object_put(o);

        h_client_open(&ca, &hub, a);
        send_one(&ca);
        h_client_open(&cb, &hub, b);
        send_one(&cb);
        h_client_close(&cb);
        assert_true(wait_presence("present", true, 10000));
        assert_true(wait_presence("gone", false, 10000));

        o = stats();
        assert_int_equal(h_json_int(o, "members_connected"), 1);
        assert_true(connected(o, "present"));
        assert_hour(last_seen(o, "present"));
        assert_false(connected(o, "gone"));
        assert_hour(last_seen(o, "gone"));
        /* Enrolled, never connected. */
        assert_non_null(member_entry(o, "absent"));
        assert_string_equal(last_seen(o, "absent"), "");
        assert_false(connected(o, "absent"));
        json_object_put(o);

        /* The text output shows the same table. */
        {
                char *argv[] = { (char *)h_hub_bin(), "stats", "--dir", hub.hub_dir, NULL };
                char *out = NULL, *err = NULL, *line;

                assert_int_equal(h_run(argv, &out, &err), 0);
                line = strstr(out, "\npresent ");
                assert_non_null(line);
                assert_non_null(strstr(line, "connected"));
                line = strstr(out, "\nabsent ");
                assert_non_null(line);
                assert_non_null(strstr(line, "never"));
                free(out);
                free(err);
        }

        /* A clean stop: nobody is connected to a hub that is not serving, and
         * the connected member was seen at the stop. */
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        o = stats();
        assert_int_equal(h_json_int(o, "serving"), 0);
        assert_int_equal(h_json_int(o, "members_connected"), 0);
        assert_false(connected(o, "present"));
        assert_hour(last_seen(o, "present"));
        json_object_put(o);
        h_client_close(&ca);

        /* A crash leaves "connected" in the store; the next start clears it
         * even while serving. */
        h_hub_start(&hub);
        h_client_open(&ca, &hub, a);
        send_one(&ca);
        assert_true(wait_presence("present", true, 10000));
        h_client_close(&ca);
        (void)h_hub_stop(&hub, SIGKILL);
        h_hub_start(&hub);
        o = stats();
        assert_int_equal(h_json_int(o, "serving"), 1);
        assert_false(connected(o, "present"));
        assert_hour(last_seen(o, "present"));
        assert_int_equal(h_json_int(o, "members_connected"), 0);
        json_object_put(o);
        (void)c;
        free(a);
        free(b);
        free(c);
}

/* Once the epoch of a member's last hour closes, its presence keeps only the
 * epoch: the hour would tie the member to the weeks of the released cells. */
static void test_closed_epoch_coarsened(void **state)
{
        char *a = h_member_create(&hub, "earlier", true);
        struct h_client ca;
        json_object *o;
        uint64_t now;
        char month[32];
        struct tm tm;
        time_t t;

        (void)state;
        h_client_open(&ca, &hub, a);
        send_one(&ca);
        h_client_close(&ca);
        assert_true(wait_presence("earlier", false, 10000));
        o = stats();
        assert_hour(last_seen(o, "earlier"));
        json_object_put(o);
        now = h_hub_now_ms(&hub);
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        /* Forty days on, the epoch has ended: the hub closes it at start. */
        h_hub_clock(&hub, 40 * 86400);
        h_hub_start(&hub);
        for (int waited = 0; waited < 10000; waited += 200) {
                o = stats();
                if (strlen(last_seen(o, "earlier")) == 7)
                        break;
                json_object_put(o);
                o = NULL;
                usleep(200000);
        }
        assert_non_null(o);
        /* The epoch of that hour: the month of its week's Thursday. */
        t = (time_t)(now / 1000);
        gmtime_r(&t, &tm);
        tm.tm_mday += 3 - (tm.tm_wday + 6) % 7;
        t = timegm(&tm);
        gmtime_r(&t, &tm);
        snprintf(month, sizeof(month), "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
        assert_string_equal(last_seen(o, "earlier"), month);
        json_object_put(o);
        free(a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_last_seen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_closed_epoch_coarsened, setup, teardown),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
