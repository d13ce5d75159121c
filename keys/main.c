/* nmo-keys: generate key files, show them, print fingerprints.
 *
 * Exit codes: 0 success, 1 failure, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "keys.h"
#include "nmo-config.h"

static const char usage_text[] =
        "Usage: nmo-keys COMMAND [OPTIONS]\n"
        "\n"
        "Key files of nmo-signal members and hubs.\n"
        "\n"
        "Commands:\n"
        "  generate --out FILE [--role member|hub] [--name NAME]\n"
        "                      create a secret key file FILE (mode 0600, never\n"
        "                      overwritten) and its public bundle FILE.pub\n"
        "  show FILE           print the public keys, role, name and fingerprint of a\n"
        "                      secret key file or public bundle (never the secrets)\n"
        "  fingerprint FILE    print only the fingerprint, to read over the phone\n"
        "\n"
        "Options:\n"
        "  -h, --help          show this help\n"
        "  -V, --version       show the version\n"
        "\n"
        "Exit status: 0 success, 1 failure, 2 usage error.\n";

static int usage_error(const char *msg)
{
        fprintf(stderr, "nmo-keys: %s\nTry 'nmo-keys --help'.\n", msg);
        return 2;
}

static int cmd_generate(int argc, char **argv)
{
        static const struct option opts[] = {
                { "out", required_argument, NULL, 'o' },
                { "role", required_argument, NULL, 'r' },
                { "name", required_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct keys_secret *sk = NULL;
        enum keys_role role = KEYS_ROLE_MEMBER;
        const char *out = NULL, *name = NULL;
        char fp[KEYS_FINGERPRINT_LEN];
        char *pub_path = NULL;
        int c, r, ret = 1;

        optind = 1;
        while ((c = getopt_long(argc, argv, "o:r:n:h", opts, NULL)) != -1) {
                switch (c) {
                case 'o':
                        out = optarg;
                        break;
                case 'r':
                        if (keys_role_parse(optarg, &role) < 0)
                                return usage_error("--role must be member or hub");
                        break;
                case 'n':
                        name = optarg;
                        if (!keys_name_ok(name))
                                return usage_error("--name: 1 to 63 letters, digits, '.', '_' "
                                                   "or '-', starting with a letter or digit");
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        return 0;
                default:
                        return 2;
                }
        }
        if (!out || optind != argc)
                return usage_error("generate takes --out FILE");
        if (asprintf(&pub_path, "%s.pub", out) < 0)
                return 1;
        r = keys_generate(&sk, role, name);
        if (r < 0) {
                fprintf(stderr, "nmo-keys: cannot generate keys: %s\n", strerror(-r));
                goto out;
        }
        r = keys_save_secret(sk, out);
        if (r < 0) {
                fprintf(stderr, "nmo-keys: %s: %s\n", out,
                        r == -EEXIST ? "already exists; refusing to overwrite a key file"
                                     : strerror(-r));
                goto out;
        }
        r = keys_save_public(&sk->pub, pub_path);
        if (r < 0) {
                fprintf(stderr, "nmo-keys: %s: %s\n", pub_path, strerror(-r));
                goto out;
        }
        keys_fingerprint(&sk->pub, fp);
        printf("secret key:    %s (mode 0600, keep it private)\n"
               "public bundle: %s (send this one)\n"
               "fingerprint:   %s\n", out, pub_path, fp);
        ret = 0;
out:
        keys_free(sk);
        free(pub_path);
        return ret;
}

static int load_any(const char *path, struct keys_public *pk)
{
        char err[256];
        int r = keys_load_public(pk, path, err, sizeof(err));

        if (r < 0)
                fprintf(stderr, "nmo-keys: %s\n", err);
        return r;
}

static int cmd_show(int argc, char **argv)
{
        struct keys_public pk;
        char *text = NULL;

        if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                fputs(usage_text, stdout);
                return 0;
        }
        if (argc != 2)
                return usage_error("show takes one FILE");
        if (load_any(argv[1], &pk) < 0)
                return 1;
        if (keys_format_public(&pk, &text) < 0)
                return 1;
        fputs(text, stdout);
        free(text);
        return 0;
}

static int cmd_fingerprint(int argc, char **argv)
{
        struct keys_public pk;
        char fp[KEYS_FINGERPRINT_LEN];

        if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                fputs(usage_text, stdout);
                return 0;
        }
        if (argc != 2)
                return usage_error("fingerprint takes one FILE");
        if (load_any(argv[1], &pk) < 0)
                return 1;
        keys_fingerprint(&pk, fp);
        printf("%s\n", fp);
        return 0;
}

int main(int argc, char **argv)
{
        static const struct {
                const char *name;
                int (*fn)(int, char **);
        } cmds[] = {
                { "generate", cmd_generate },
                { "show", cmd_show },
                { "fingerprint", cmd_fingerprint },
        };

        if (sodium_init() < 0) {
                fprintf(stderr, "nmo-keys: libsodium failed to initialise\n");
                return 1;
        }
        if (argc < 2)
                return usage_error("missing command");
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                fputs(usage_text, stdout);
                return 0;
        }
        if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
                printf("nmo-keys %s\n", NMO_VERSION);
                return 0;
        }
        for (size_t i = 0; i < NMO_ARRAY_SIZE(cmds); i++)
                if (strcmp(argv[1], cmds[i].name) == 0)
                        return cmds[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "nmo-keys: unknown command '%s'\nTry 'nmo-keys --help'.\n", argv[1]);
        return 2;
}
