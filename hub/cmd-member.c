/* cmd-member.c: `nmo-hub member ...`: enrol, list, show, suspend, resume and
 * revoke member keys. Works while the daemon runs: both use the same LMDB
 * store, and the daemon checks a member's state on every message. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "date.h"
#include "hub-cli.h"
#include "keys.h"
#include "member.h"

static const char help[] =
        "Usage: nmo-hub member COMMAND --dir DIR ...\n"
        "\n"
        "  add --dir DIR --name NAME --pub FILE [--fingerprint FP] [--expires DATE]\n"
        "        enrol the member public bundle FILE under NAME (active at once).\n"
        "        With --fingerprint, refuse unless the bundle has that fingerprint\n"
        "        (the one the member read to you over the phone). With --expires\n"
        "        YYYY-MM-DD the key is refused from 00:00 UTC that day on.\n"
        "  renew --dir DIR NAME --expires DATE|never\n"
        "        set a new expiry date for the member's key, or remove it\n"
        "  list --dir DIR [--json]      all members with state and fingerprint\n"
        "  show --dir DIR NAME [--json] one member\n"
        "  suspend --dir DIR NAME       refuse the member until resumed\n"
        "  resume --dir DIR NAME        admit a suspended member again\n"
        "  revoke --dir DIR NAME        refuse the member for good (cannot be undone)\n"
        "\n"
        "A suspended, revoked or expired member is refused at its next handshake and\n"
        "its next message on a connection already open. Names and keys are never\n"
        "reused. 'list' marks keys that expire within 30 days.\n"
        "\n"
        "Every member command also takes -v, --verbose (more log output), -q, --quiet\n"
        "(errors only) and -h, --help.\n";

struct args {
        const char *what; /* "member COMMAND", for messages */
        const char *dir;
        const char *name;
        const char *pub;
        const char *fingerprint;
        const char *expires;
        bool json;
        const char *positional;
};

/* Parses the options and up to npositional arguments of member command
 * what. Returns -1 to go on, or the exit code when the command is done
 * (after --help or a usage error). */
static int parse(const char *what, size_t npositional, int argc, char **argv, struct args *a)
{
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "name", required_argument, NULL, 'n' },
                { "pub", required_argument, NULL, 'p' },
                { "fingerprint", required_argument, NULL, 'f' },
                { "expires", required_argument, NULL, 'e' },
                { "json", no_argument, NULL, 'j' },
                CLI_COMMON_OPTIONS,
                { NULL, 0, NULL, 0 },
        };
        int c, verbosity = 0;

        memset(a, 0, sizeof(*a));
        a->what = what;
        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":" CLI_COMMON_SHORT, opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        a->dir = optarg;
                        break;
                case 'n':
                        a->name = optarg;
                        break;
                case 'p':
                        a->pub = optarg;
                        break;
                case 'f':
                        a->fingerprint = optarg;
                        break;
                case 'e':
                        a->expires = optarg;
                        break;
                case 'j':
                        a->json = true;
                        break;
                case 'h':
                        return cli_help(help);
                default:
                        if (cli_verbosity_option(c, &verbosity))
                                break;
                        return cli_bad_option(what, argv, c);
                }
        }
        cli_log_setup(verbosity);
        if (npositional > 0 && optind < argc)
                a->positional = argv[optind++];
        if (optind < argc)
                return cli_unexpected(what, argv[optind]);
        if (!a->dir)
                return cli_required(what, "--dir DIR");
        return -1;
}

static json_object *member_json(const struct hub_member *m)
{
        struct keys_public pk;
        char fp[KEYS_FINGERPRINT_LEN], added[32], changed[32];
        json_object *o = json_object_new_object();

        memset(&pk, 0, sizeof(pk));
        pk.role = KEYS_ROLE_MEMBER;
        memcpy(pk.transport, m->transport, KEYS_KEY_BYTES);
        memcpy(pk.payload, m->payload, KEYS_KEY_BYTES);
        keys_fingerprint(&pk, fp);
        util_format_time(m->added_ms, added, sizeof(added));
        util_format_time(m->changed_ms, changed, sizeof(changed));
        json_object_object_add(o, "name", json_object_new_string(m->name));
        json_object_object_add(o, "id", json_object_new_int64(m->id));
        json_object_object_add(o, "state", json_object_new_string(hub_member_state_name(m->state)));
        json_object_object_add(o, "fingerprint", json_object_new_string(fp));
        json_object_object_add(o, "added", json_object_new_string(added));
        json_object_object_add(o, "changed", json_object_new_string(changed));
        if (m->rotated) {
                char rotated[32], prev[KEYS_FINGERPRINT_LEN];
                struct keys_public old;

                memset(&old, 0, sizeof(old));
                old.role = KEYS_ROLE_MEMBER;
                memcpy(old.transport, m->previous_transport, KEYS_KEY_BYTES);
                memcpy(old.payload, m->previous_payload, KEYS_KEY_BYTES);
                keys_fingerprint(&old, prev);
                util_format_time(m->rotated_ms, rotated, sizeof(rotated));
                json_object_object_add(o, "rotated", json_object_new_string(rotated));
                json_object_object_add(o, "previous_fingerprint", json_object_new_string(prev));
        }
        if (m->expires_ms) {
                uint64_t now = util_now_ms();
                char expires[16];

                date_str(date_day_of_ms(m->expires_ms), expires, sizeof(expires));
                json_object_object_add(o, "expires", json_object_new_string(expires));
                json_object_object_add(o, "expired",
                                       json_object_new_boolean(hub_member_expired(m, now)));
                json_object_object_add(o, "expiring_soon",
                                       json_object_new_boolean(!hub_member_expired(m, now) &&
                                                               m->expires_ms - now <
                                                                       HUB_MEMBER_EXPIRY_WARN_MS));
        } else {
                json_object_object_add(o, "expires", NULL);
                json_object_object_add(o, "expired", json_object_new_boolean(0));
                json_object_object_add(o, "expiring_soon", json_object_new_boolean(0));
        }
        return o;
}

static void print_member_line(const struct hub_member *m)
{
        json_object *o = member_json(m);
        json_object *exp = json_object_object_get(o, "expires");
        char note[64] = "";
        uint64_t now = util_now_ms();

        if (m->expires_ms && hub_member_expired(m, now))
                snprintf(note, sizeof(note), "  EXPIRED");
        else if (m->expires_ms && m->expires_ms - now < HUB_MEMBER_EXPIRY_WARN_MS)
                snprintf(note, sizeof(note), "  expires in %llu days",
                         (unsigned long long)((m->expires_ms - now) / 86400000ULL));
        printf("%-24s %6u  %-9s  %s  %-20s  %s%s\n", m->name, m->id,
               hub_member_state_name(m->state),
               json_object_get_string(json_object_object_get(o, "fingerprint")),
               json_object_get_string(json_object_object_get(o, "added")),
               exp ? json_object_get_string(exp) : "never", note);
        json_object_put(o);
}

struct txn_ctx {
        struct hub_store *st;
        const char *name;
        const struct keys_public *pk;
        enum hub_member_state state;
        uint64_t expires_ms;
        struct hub_member out;
        json_object *list;
        bool json;
        char why[256];          /* what an enrolment refused with -EEXIST collides with */
};

/* Says in t->why which earlier enrolment the name or a key of t->pk collides with. */
static void explain_collision(MDB_txn *txn, struct txn_ctx *t)
{
        const uint8_t *keys[2] = { t->pk->transport, t->pk->payload };
        static const char *const what[2] = { "transport", "payload" };
        struct hub_member other;

        if (hub_member_by_name(txn, t->st, t->name, &other) == 0) {
                snprintf(t->why, sizeof(t->why), "the name %s is already enrolled (names are "
                         "never reused; see 'nmo-hub member list')", t->name);
                return;
        }
        for (int i = 0; i < 2; i++) {
                enum hub_member_key_use use = HUB_MEMBER_KEY_TRANSPORT;
                uint32_t id = 0;
                bool current;

                if (hub_member_key_user(txn, t->st, keys[i], &id, &use) < 0 ||
                    hub_member_by_id(txn, t->st, id, &other) < 0)
                        continue;
                /* Public keys: a plain comparison. */
                current = memcmp(keys[i], use == HUB_MEMBER_KEY_PAYLOAD ? other.payload :
                                        other.transport, KEYS_KEY_BYTES) == 0;
                snprintf(t->why, sizeof(t->why), "the bundle's %s key is the %s %s key of "
                         "member %s (keys are never reused, not even rotated-out ones); ask "
                         "for a bundle with freshly generated keys", what[i],
                         current ? "current" : "retired",
                         use == HUB_MEMBER_KEY_PAYLOAD ? "payload" : "transport", other.name);
                return;
        }
        snprintf(t->why, sizeof(t->why), "a key of this bundle is already enrolled (keys are "
                 "never reused; see 'nmo-hub member list')");
}

static int add_txn(MDB_txn *txn, void *userdata)
{
        struct txn_ctx *t = userdata;
        int r = hub_member_add_expiring(txn, t->st, t->name, t->pk, util_now_ms(), t->expires_ms,
                                        &t->out);

        if (r == -EEXIST)
                explain_collision(txn, t);
        return r;
}

/* "YYYY-MM-DD" (00:00 UTC that day) or "never" (0). */
static int parse_expiry(const char *s, uint64_t *ms)
{
        int64_t day;

        if (strcmp(s, "never") == 0) {
                *ms = 0;
                return 0;
        }
        /* Years 1900..2199 as before; from 1970 on, as the expiry is in ms. */
        if (date_parse_range(s, 1900, 2199, &day) < 0 || day < 0)
                return -EINVAL;
        *ms = (uint64_t)day * DATE_MS_PER_DAY;
        return 0;
}

static int cmd_add(struct hub_store *st, const struct args *a)
{
        struct keys_public pk;
        struct txn_ctx t;
        char err[512], fp[KEYS_FINGERPRINT_LEN];
        int r;

        if (!a->name || !a->pub || a->positional)
                return cli_usage(a->what, "add takes --name NAME and --pub FILE");
        if (!keys_name_ok(a->name))
                return cli_usage(a->what, "--name: 1 to 63 letters, digits, '.', '_' or "
                                 "'-', starting with a letter or digit");
        /* Also refuses unusable keys and a secret key file given by mistake. */
        if (keys_load_public(&pk, a->pub, err, sizeof(err)) < 0) {
                fprintf(stderr, "nmo-hub member add: %s\n", err);
                return CLI_EXIT_FAIL;
        }
        if (pk.role != KEYS_ROLE_MEMBER) {
                fprintf(stderr, "nmo-hub member add: %s is a %s key, not a member bundle\n",
                        a->pub, keys_role_name(pk.role));
                return CLI_EXIT_FAIL;
        }
        keys_fingerprint(&pk, fp);
        if (a->fingerprint && strcmp(a->fingerprint, fp) != 0) {
                fprintf(stderr, "nmo-hub member add: fingerprint mismatch: %s has %s, you "
                        "expected %s. Not enrolled; get the bundle again.\n", a->pub, fp,
                        a->fingerprint);
                return CLI_EXIT_FAIL;
        }
        memset(&t, 0, sizeof(t));
        t.st = st;
        t.name = a->name;
        t.pk = &pk;
        if (a->expires && (parse_expiry(a->expires, &t.expires_ms) < 0 || !t.expires_ms))
                return cli_usage(a->what, "--expires takes a date YYYY-MM-DD");
        if (t.expires_ms && t.expires_ms <= util_now_ms()) {
                fprintf(stderr, "nmo-hub member add: --expires %s is not in the future\n",
                        a->expires);
                return CLI_EXIT_FAIL;
        }
        r = hub_store_write(st, add_txn, &t);
        if (r == -EEXIST) {
                fprintf(stderr, "nmo-hub member add: not enrolled: %s\n", t.why);
                return CLI_EXIT_FAIL;
        }
        if (r < 0) {
                fprintf(stderr, "nmo-hub member add: %s\n", strerror(-r));
                return CLI_EXIT_FAIL;
        }
        printf("enrolled %s (member id %u, fingerprint %s); active now\n", t.out.name, t.out.id,
               fp);
        return CLI_EXIT_OK;
}

static int list_one(const struct hub_member *m, void *userdata)
{
        struct txn_ctx *t = userdata;

        if (t->json)
                json_object_array_add(t->list, member_json(m));
        else
                print_member_line(m);
        return 0;
}

static int list_txn(MDB_txn *txn, void *userdata)
{
        struct txn_ctx *t = userdata;

        return hub_member_foreach(txn, t->st, list_one, t);
}

static int cmd_list(struct hub_store *st, const struct args *a)
{
        struct txn_ctx t;
        int r;

        if (a->positional || a->name || a->pub)
                return cli_usage(a->what, "list takes only --dir and --json");
        memset(&t, 0, sizeof(t));
        t.st = st;
        t.json = a->json;
        if (t.json)
                t.list = json_object_new_array();
        else
                printf("%-24s %6s  %-9s  %-24s  %-20s  %s\n", "NAME", "ID", "STATE",
                       "FINGERPRINT", "ADDED", "EXPIRES");
        r = hub_store_read(st, list_txn, &t);
        if (r < 0) {
                fprintf(stderr, "nmo-hub member list: %s\n", strerror(-r));
                json_object_put(t.list);
                return CLI_EXIT_FAIL;
        }
        if (t.json) {
                printf("%s\n", json_object_to_json_string_ext(t.list, JSON_C_TO_STRING_PRETTY |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(t.list);
        }
        return CLI_EXIT_OK;
}

static int show_txn(MDB_txn *txn, void *userdata)
{
        struct txn_ctx *t = userdata;

        return hub_member_by_name(txn, t->st, t->name, &t->out);
}

static int cmd_show(struct hub_store *st, const struct args *a)
{
        struct txn_ctx t;
        json_object *o;
        int r;

        if (!a->positional)
                return cli_usage(a->what, "show takes a member NAME");
        memset(&t, 0, sizeof(t));
        t.st = st;
        t.name = a->positional;
        r = hub_store_read(st, show_txn, &t);
        if (r == -ENOENT) {
                fprintf(stderr, "nmo-hub member show: no member named %s\n", t.name);
                return CLI_EXIT_FAIL;
        }
        if (r < 0) {
                fprintf(stderr, "nmo-hub member show: %s\n", strerror(-r));
                return CLI_EXIT_FAIL;
        }
        o = member_json(&t.out);
        if (a->json) {
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
        } else {
                json_object_object_foreach(o, key, val)
                        printf("%-14s %s\n", key, val ? json_object_get_string(val) : "never");
        }
        json_object_put(o);
        return CLI_EXIT_OK;
}

static int state_txn(MDB_txn *txn, void *userdata)
{
        struct txn_ctx *t = userdata;

        return hub_member_set_state(txn, t->st, t->name, t->state, util_now_ms(), &t->out);
}

static int cmd_state(struct hub_store *st, const struct args *a, const char *cmd,
                     enum hub_member_state state)
{
        struct txn_ctx t;
        int r;

        if (!a->positional)
                return cli_usage(a->what, "this command takes a member NAME");
        memset(&t, 0, sizeof(t));
        t.st = st;
        t.name = a->positional;
        t.state = state;
        r = hub_store_write(st, state_txn, &t);
        if (r == -ENOENT) {
                fprintf(stderr, "nmo-hub member %s: no member named %s\n", cmd, t.name);
                return CLI_EXIT_FAIL;
        }
        if (r == -EPERM) {
                fprintf(stderr, "nmo-hub member %s: %s is revoked; revocation is final\n", cmd,
                        t.name);
                return CLI_EXIT_FAIL;
        }
        if (r < 0) {
                fprintf(stderr, "nmo-hub member %s: %s\n", cmd, strerror(-r));
                return CLI_EXIT_FAIL;
        }
        printf("%s is now %s\n", t.out.name, hub_member_state_name(t.out.state));
        return CLI_EXIT_OK;
}

static int expiry_txn(MDB_txn *txn, void *userdata)
{
        struct txn_ctx *t = userdata;

        return hub_member_set_expiry(txn, t->st, t->name, t->expires_ms, util_now_ms(), &t->out);
}

static int cmd_renew(struct hub_store *st, const struct args *a)
{
        struct txn_ctx t;
        int r;

        if (!a->positional || !a->expires)
                return cli_usage(a->what, "renew takes a member NAME and --expires "
                                 "DATE|never");
        memset(&t, 0, sizeof(t));
        t.st = st;
        t.name = a->positional;
        if (parse_expiry(a->expires, &t.expires_ms) < 0)
                return cli_usage(a->what, "--expires takes a date YYYY-MM-DD or never");
        r = hub_store_write(st, expiry_txn, &t);
        if (r == -ENOENT) {
                fprintf(stderr, "nmo-hub member renew: no member named %s\n", t.name);
                return CLI_EXIT_FAIL;
        }
        if (r == -EPERM) {
                fprintf(stderr, "nmo-hub member renew: %s is revoked; revocation is final\n",
                        t.name);
                return CLI_EXIT_FAIL;
        }
        if (r < 0) {
                fprintf(stderr, "nmo-hub member renew: %s\n", strerror(-r));
                return CLI_EXIT_FAIL;
        }
        if (t.expires_ms)
                printf("%s's key now expires on %s\n", t.out.name, a->expires);
        else
                printf("%s's key no longer expires\n", t.out.name);
        return CLI_EXIT_OK;
}

int hub_cmd_member(int argc, char **argv)
{
        /* Each command with the count of arguments it takes besides options. */
        static const struct {
                const char *name;
                size_t npositional;
        } cmds[] = {
                { "add", 0 },    { "list", 0 },   { "show", 1 },  { "suspend", 1 },
                { "resume", 1 }, { "revoke", 1 }, { "renew", 1 },
        };
        struct hub_store *st = NULL;
        struct args a;
        const char *cmd;
        char what[32];
        bool readonly;
        size_t i;
        int r;

        if (argc < 2)
                return cli_usage("member", "missing command (add, list, show, suspend, "
                                 "resume, revoke, renew)");
        cmd = argv[1];
        if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
                return cli_help(help);
        for (i = 0; i < NMO_ARRAY_SIZE(cmds); i++)
                if (strcmp(cmd, cmds[i].name) == 0)
                        break;
        if (i == NMO_ARRAY_SIZE(cmds))
                return cli_usage("member", "unknown command '%s'", cmd);
        snprintf(what, sizeof(what), "member %s", cmds[i].name);
        r = parse(what, cmds[i].npositional, argc - 1, argv + 1, &a);
        if (r >= 0)
                return r;
        readonly = strcmp(cmd, "list") == 0 || strcmp(cmd, "show") == 0;
        if (hub_cli_open_store(a.dir, readonly, &st) < 0)
                return CLI_EXIT_FAIL;
        if (strcmp(cmd, "add") == 0)
                r = cmd_add(st, &a);
        else if (strcmp(cmd, "list") == 0)
                r = cmd_list(st, &a);
        else if (strcmp(cmd, "show") == 0)
                r = cmd_show(st, &a);
        else if (strcmp(cmd, "suspend") == 0)
                r = cmd_state(st, &a, cmd, HUB_MEMBER_SUSPENDED);
        else if (strcmp(cmd, "resume") == 0)
                r = cmd_state(st, &a, cmd, HUB_MEMBER_ACTIVE);
        else if (strcmp(cmd, "renew") == 0)
                r = cmd_renew(st, &a);
        else
                r = cmd_state(st, &a, cmd, HUB_MEMBER_REVOKED);
        hub_store_free(st);
        return r;
}
