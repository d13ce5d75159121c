/* nmo-keys: generate key files, show them, print fingerprints.
 *
 * Exit codes: 0 success, 1 failure, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "cli.h"
#include "keys.h"

static const char generate_help[] =
        "Usage: nmo-keys generate --out FILE [--role member|hub] [--name NAME]\n"
        "                         [--passphrase | --passphrase-file PFILE]\n"
        "\n"
        "Create a secret key file FILE (mode 0600, never overwritten) and its public\n"
        "bundle FILE.pub. With a passphrase the secrets are sealed under it (Argon2id).\n"
        "\n"
        "  -h, --help          show this help\n";

static const char protect_help[] =
        "Usage: nmo-keys protect FILE [--passphrase-file PFILE | --remove]\n"
        "\n"
        "Set or change the passphrase of a secret key file, or remove it (the current\n"
        "one is read from NMO_PASSPHRASE_FILE or asked for).\n"
        "\n"
        "  -h, --help          show this help\n";

static const char show_help[] =
        "Usage: nmo-keys show FILE\n"
        "\n"
        "Print the public keys, role, name and fingerprint of a secret key file or\n"
        "public bundle (never the secrets).\n"
        "\n"
        "  -h, --help          show this help\n";

static const char fingerprint_help[] =
        "Usage: nmo-keys fingerprint FILE\n"
        "\n"
        "Print only the fingerprint, to read over the phone.\n"
        "\n"
        "  -h, --help          show this help\n";


static int cmd_generate(int argc, char **argv)
{
        static const struct option opts[] = {
                { "out", required_argument, NULL, 'o' },
                { "role", required_argument, NULL, 'r' },
                { "name", required_argument, NULL, 'n' },
                { "passphrase", no_argument, NULL, 'p' },
                { "passphrase-file", required_argument, NULL, 'P' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        const char *pass_file = NULL;
        bool protect = false;
        struct keys_secret *sk = NULL;
        enum keys_role role = KEYS_ROLE_MEMBER;
        const char *out = NULL, *name = NULL;
        char fp[KEYS_FINGERPRINT_LEN];
        char *pub_path = NULL;
        int c, r, ret = 1;

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":o:r:n:h", opts, NULL)) != -1) {
                switch (c) {
                case 'o':
                        out = optarg;
                        break;
                case 'r':
                        if (keys_role_parse(optarg, &role) < 0)
                                return cli_usage("generate", "--role must be member or hub");
                        break;
                case 'n':
                        name = optarg;
                        if (!keys_name_ok(name))
                                return cli_usage("generate", "--name: 1 to 63 letters, digits, "
                                                 "'.', '_' or '-', starting with a letter "
                                                 "or digit");
                        break;
                case 'p':
                        protect = true;
                        break;
                case 'P':
                        protect = true;
                        pass_file = optarg;
                        break;
                case 'h':
                        return cli_help(generate_help);
                default:
                        return cli_bad_option("generate", argv, c);
                }
        }
        if (optind != argc)
                return cli_unexpected("generate", argv[optind]);
        if (!out)
                return cli_required("generate", "--out FILE");
        if (asprintf(&pub_path, "%s.pub", out) < 0)
                return 1;
        r = keys_generate(&sk, role, name);
        if (r < 0) {
                fprintf(stderr, "nmo-keys: cannot generate keys: %s\n", strerror(-r));
                goto out;
        }
        if (protect) {
                char *pass = NULL, why[300] = "";
                size_t plen = 0;

                r = keys_passphrase_new(&pass, &plen, pass_file, why, sizeof(why));
                if (r < 0) {
                        fprintf(stderr, "nmo-keys: %s\n", why);
                        goto out;
                }
                r = keys_save_secret_protected(sk, out, pass, plen);
                keys_passphrase_free(pass);
        } else {
                r = keys_save_secret(sk, out);
        }
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


static int cmd_protect(int argc, char **argv)
{
        static const struct option opts[] = {
                { "passphrase-file", required_argument, NULL, 'P' },
                { "remove", no_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct keys_secret *sk = NULL;
        const char *pass_file = NULL, *path;
        char *pass = NULL, *tmp = NULL, err[300];
        size_t plen = 0;
        bool remove_it = false;
        int c, r, ret = 1;

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                switch (c) {
                case 'P':
                        pass_file = optarg;
                        break;
                case 'r':
                        remove_it = true;
                        break;
                case 'h':
                        return cli_help(protect_help);
                default:
                        return cli_bad_option("protect", argv, c);
                }
        }
        if (optind == argc)
                return cli_required("protect", "FILE");
        if (optind + 1 != argc)
                return cli_unexpected("protect", argv[optind + 1]);
        if (remove_it && pass_file)
                return cli_usage("protect", "--passphrase-file and --remove cannot be combined");
        path = argv[optind];
        /* The current passphrase, if any, comes from NMO_PASSPHRASE_FILE or the terminal. */
        r = keys_load_secret_auto(&sk, path, NULL, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "nmo-keys: %s\n", err);
                return 1;
        }
        if (!remove_it) {
                r = keys_passphrase_new(&pass, &plen, pass_file, err, sizeof(err));
                if (r < 0) {
                        fprintf(stderr, "nmo-keys: %s\n", err);
                        goto out;
                }
        }
        if (asprintf(&tmp, "%s.new", path) < 0)
                goto out;
        (void)unlink(tmp);
        r = keys_save_secret_protected(sk, tmp, pass, plen);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                fprintf(stderr, "nmo-keys: %s: %s\n", path, strerror(-r));
                (void)unlink(tmp);
                goto out;
        }
        printf("%s: %s\n", path, remove_it ? "passphrase removed" : "protected by the passphrase");
        ret = 0;
out:
        keys_passphrase_free(pass);
        keys_free(sk);
        free(tmp);
        return ret;
}

static int load_any(const char *path, struct keys_public *pk)
{
        char err[256];
        int r = keys_load_public_any(pk, path, err, sizeof(err));

        if (r < 0)
                fprintf(stderr, "nmo-keys: %s\n", err);
        return r;
}

/* Parses the arguments of a command that takes one FILE and only --help;
 * returns -1 to go on with argv[optind], or the exit code. */
static int one_file(const char *cmd, const char *help, int argc, char **argv)
{
        static const struct option opts[] = {
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        int c;

        cli_getopt_reset();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                if (c == 'h')
                        return cli_help(help);
                return cli_bad_option(cmd, argv, c);
        }
        if (optind == argc)
                return cli_required(cmd, "FILE");
        if (optind + 1 != argc)
                return cli_unexpected(cmd, argv[optind + 1]);
        return -1;
}

static int cmd_show(int argc, char **argv)
{
        struct keys_public pk;
        char *text = NULL;
        int r = one_file("show", show_help, argc, argv);

        if (r >= 0)
                return r;
        if (load_any(argv[optind], &pk) < 0)
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
        int r = one_file("fingerprint", fingerprint_help, argc, argv);

        if (r >= 0)
                return r;
        if (load_any(argv[optind], &pk) < 0)
                return 1;
        keys_fingerprint(&pk, fp);
        printf("%s\n", fp);
        return 0;
}

static const struct cli_command commands[] = {
        { "generate", cmd_generate, "create a secret key file and its public bundle" },
        { "show", cmd_show, "print the public keys, role, name and fingerprint of a key file" },
        { "fingerprint", cmd_fingerprint, "print only the fingerprint, to read over the phone" },
        { "protect", cmd_protect, "set, change or remove the passphrase of a secret key file" },
};

static const struct cli_program program = {
        .name = "nmo-keys",
        .intro = "Usage: nmo-keys COMMAND [OPTIONS]\n"
                 "\n"
                 "Key files of nmo-signal members and hubs.\n"
                 "\n",
        .commands = commands,
        .ncommands = NMO_ARRAY_SIZE(commands),
        .outro = "\n'nmo-keys COMMAND --help' explains each command.\n"
                 "\n"
                 "Options:\n"
                 "  -h, --help          show this help\n"
                 "  -V, --version       show the version\n"
                 "\n"
                 "Exit status: 0 success, 1 failure, 2 usage error.\n",
};

int main(int argc, char **argv)
{
        if (sodium_init() < 0) {
                fprintf(stderr, "nmo-keys: libsodium failed to initialise\n");
                return CLI_EXIT_FAIL;
        }
        return cli_main(&program, argc, argv);
}
