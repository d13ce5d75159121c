/* passphrase.c: where the passphrase of a protected secret key comes from:
 * a file (for unattended start), a systemd credential, or the terminal. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <sodium.h>

#define PASSPHRASE_MAX 1024

void keys_passphrase_free(char *pass)
{
        if (!pass)
                return;
        sodium_memzero(pass, PASSPHRASE_MAX + 1);
        sodium_free(pass);
}

/* Reads the first line of path into buf (PASSPHRASE_MAX + 1 bytes). */
static int read_file(const char *path, char *buf, size_t *len, char *err, size_t errlen)
{
        struct stat st;
        ssize_t n;
        int fd, r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                util_set_err(err, errlen, "%s: %s", path, strerror(errno));
                return r;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                util_set_err(err, errlen, "%s: not a regular file", path);
                r = -EINVAL;
                goto out;
        }
        if (st.st_mode & 077) {
                util_set_err(err, errlen, "%s: passphrase file is accessible by group or others; "
                             "run: chmod 600 %s", path, path);
                r = -EACCES;
                goto out;
        }
        n = read(fd, buf, PASSPHRASE_MAX);
        if (n < 0) {
                r = -errno;
                util_set_err(err, errlen, "%s: %s", path, strerror(errno));
                goto out;
        }
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        *len = strlen(buf);
        if (*len == 0) {
                util_set_err(err, errlen, "%s: empty passphrase", path);
                r = -EINVAL;
        }
out:
        close(fd);
        return r;
}

static int prompt_tty(const char *prompt, char *buf, size_t *len, char *err, size_t errlen)
{
        struct termios old, quiet;
        FILE *tty = fopen("/dev/tty", "r+e");
        bool echo_off;
        int r = 0;

        if (!tty) {
                util_set_err(err, errlen, "the secret keys are protected by a passphrase and "
                             "there is no terminal to ask for it: set NMO_PASSPHRASE_FILE to "
                             "a file holding it (mode 0600), or under systemd give the "
                             "credential nmo-passphrase (LoadCredentialEncrypted=)");
                return -ENOKEY;
        }
        fprintf(tty, "%s", prompt);
        fflush(tty);
        echo_off = tcgetattr(fileno(tty), &old) == 0;
        if (echo_off) {
                quiet = old;
                quiet.c_lflag &= ~(tcflag_t)ECHO;
                (void)tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
        }
        if (!fgets(buf, PASSPHRASE_MAX + 1, tty)) {
                util_set_err(err, errlen, "no passphrase given");
                r = -ENOKEY;
        }
        if (echo_off)
                (void)tcsetattr(fileno(tty), TCSAFLUSH, &old);
        fputc('\n', tty);
        fclose(tty);
        if (r == 0) {
                buf[strcspn(buf, "\r\n")] = '\0';
                *len = strlen(buf);
        }
        return r;
}

int keys_passphrase_get(char **pass, size_t *len, const char *file, const char *prompt,
                        char *err, size_t errlen)
{
        char *buf = sodium_malloc(PASSPHRASE_MAX + 1), *cred = NULL;
        const char *env = getenv("NMO_PASSPHRASE_FILE");
        const char *creds = getenv("CREDENTIALS_DIRECTORY");
        int r;

        if (!buf)
                return -ENOMEM;
        sodium_memzero(buf, PASSPHRASE_MAX + 1);
        if (file) {
                r = read_file(file, buf, len, err, errlen);
        } else if (env && *env) {
                r = read_file(env, buf, len, err, errlen);
        } else if (creds && *creds && (cred = util_path(creds, "nmo-passphrase")) &&
                   access(cred, F_OK) == 0) {
                r = read_file(cred, buf, len, err, errlen);
        } else if (prompt) {
                r = prompt_tty(prompt, buf, len, err, errlen);
        } else {
                util_set_err(err, errlen, "the secret keys are protected by a passphrase: set "
                             "NMO_PASSPHRASE_FILE to a file holding it (mode 0600), or under "
                             "systemd give the credential nmo-passphrase "
                             "(LoadCredentialEncrypted=)");
                r = -ENOKEY;
        }
        free(cred);
        if (r < 0) {
                keys_passphrase_free(buf);
                return r;
        }
        *pass = buf;
        return 0;
}

int keys_load_secret_auto(struct keys_secret **ret, const char *path, const char *passphrase_file,
                          char *err, size_t errlen)
{
        char *pass = NULL, why[300];
        size_t len = 0;
        int r;

        r = keys_load_secret_pass(ret, path, NULL, 0, why, sizeof(why));
        if (r != -ENOKEY) {
                if (r < 0)
                        util_set_err(err, errlen, "%s", why);
                return r;
        }
        r = keys_passphrase_get(&pass, &len, passphrase_file, "Passphrase for the secret keys: ",
                                err, errlen);
        if (r < 0)
                return r;
        r = keys_load_secret_pass(ret, path, pass, len, err, errlen);
        keys_passphrase_free(pass);
        return r;
}

int keys_passphrase_new(char **pass, size_t *len, const char *pass_file, char *err,
                        size_t errlen)
{
        char *again = NULL;
        size_t alen = 0;
        int r;

        r = keys_passphrase_get(pass, len, pass_file, "New passphrase: ", err, errlen);
        if (r < 0 || pass_file)
                return r;
        r = keys_passphrase_get(&again, &alen, NULL, "Repeat the passphrase: ", err, errlen);
        if (r == 0 && (alen != *len || sodium_memcmp(*pass, again, alen) != 0)) {
                util_set_err(err, errlen, "the passphrases differ");
                r = -EINVAL;
        }
        keys_passphrase_free(again);
        if (r < 0) {
                keys_passphrase_free(*pass);
                *pass = NULL;
        }
        return r;
}

int keys_load_secret_unlock(struct keys_secret **ret, const char *path, struct keys_unlock *u,
                            char *err, size_t errlen)
{
        int r = keys_load_secret_pass(ret, path, u->pass, u->len, err, errlen);

        if (r != -ENOKEY || u->pass)
                return r;
        r = keys_passphrase_get(&u->pass, &u->len, u->file, "Passphrase for the secret keys: ",
                                err, errlen);
        if (r < 0)
                return r;
        r = keys_load_secret_pass(ret, path, u->pass, u->len, err, errlen);
        /* A wrong passphrase is not kept for the next file. */
        if (r < 0)
                keys_unlock_clear(u);
        return r;
}

void keys_unlock_clear(struct keys_unlock *u)
{
        keys_passphrase_free(u->pass);
        u->pass = NULL;
        u->len = 0;
}
