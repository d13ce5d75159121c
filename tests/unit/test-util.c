/* test-util.c: the shared helpers in common/util.c: strict number parsing,
 * UTF-8 text checks, hex, atomic file writes and retry back-off. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "log.h"
#include "util.h"
#include "unit-tmp.h"

static char tmp_dir[PATH_MAX];

static void test_parse_u64(void **state)
{
        static const char *const junk[] = {
                "", " 1", "1 ", "1\n", "+1", "-1", "-0", "0x10", "1e3", "1.0", "12abc",
                "abc", "\t5", "1,000",
        };
        uint64_t v = 7;

        (void)state;
        assert_int_equal(util_parse_u64("0", 0, 10, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(util_parse_u64("10", 0, 10, &v), 0);
        assert_int_equal(v, 10);
        assert_int_equal(util_parse_u64("007", 0, 10, &v), 0);
        assert_int_equal(v, 7);
        assert_int_equal(util_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
        assert_true(v == UINT64_MAX);

        for (size_t i = 0; i < NMO_ARRAY_SIZE(junk); i++) {
                v = 42;
                assert_int_equal(util_parse_u64(junk[i], 0, UINT64_MAX, &v), -EINVAL);
                assert_int_equal(v, 42); /* untouched on failure */
        }
        assert_int_equal(util_parse_u64(NULL, 0, 10, &v), -EINVAL);
        /* Overflow and range. */
        assert_int_equal(util_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
        assert_int_equal(util_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v),
                         -ERANGE);
        assert_int_equal(util_parse_u64("11", 0, 10, &v), -ERANGE);
        assert_int_equal(util_parse_u64("0", 1, 10, &v), -ERANGE);
        assert_int_equal(util_parse_u64("1", 1, 1, &v), 0);
        assert_int_equal(v, 1);
}

static void test_parse_u32(void **state)
{
        uint32_t v = 9;

        (void)state;
        assert_int_equal(util_parse_u32("4294967295", 0, UINT32_MAX, &v), 0);
        assert_true(v == UINT32_MAX);
        assert_int_equal(util_parse_u32("4294967296", 0, UINT32_MAX, &v), -ERANGE);
        assert_int_equal(util_parse_u32("18446744073709551616", 0, UINT32_MAX, &v), -ERANGE);
        assert_int_equal(util_parse_u32("3650", 1, 3650, &v), 0);
        assert_int_equal(v, 3650);
        assert_int_equal(util_parse_u32("3651", 1, 3650, &v), -ERANGE);
        assert_int_equal(util_parse_u32("0", 1, 3650, &v), -ERANGE);
        assert_int_equal(util_parse_u32("-1", 0, UINT32_MAX, &v), -EINVAL);
        assert_int_equal(util_parse_u32("+1", 0, UINT32_MAX, &v), -EINVAL);
        assert_int_equal(util_parse_u32("12abc", 0, UINT32_MAX, &v), -EINVAL);
        assert_int_equal(util_parse_u32("", 0, UINT32_MAX, &v), -EINVAL);
        assert_int_equal(v, 3650);
}

static bool text_ok(const char *s)
{
        return util_text_ok(s, strlen(s));
}

static void test_text_ok(void **state)
{
        static const char *const good[] = {
                "",
                "plain ASCII text",
                "tab\tand\nnewline",
                "caf\xc3\xa9",                  /* U+00E9 */
                "\xc2\xa0",                     /* U+00A0, first after the C1 block */
                "\xe2\x82\xac 5",               /* U+20AC */
                "\xef\xbf\xbd",                 /* U+FFFD */
                "\xf0\x9f\x98\x80",             /* U+1F600 */
                "\xf4\x8f\xbf\xbf",             /* U+10FFFF, the last code point */
                "\xed\x9f\xbf",                 /* U+D7FF, just below the surrogates */
                "\xee\x80\x80",                 /* U+E000, just above them */
        };
        static const char *const bad[] = {
                "\x01",                         /* control characters */
                "a\rb",
                "\x1b[0m",
                "\x7f",                         /* DEL */
                "\xc2\x80",                     /* U+0080, C1 control */
                "\xc2\x9f",                     /* U+009F, C1 control */
                "\x80",                         /* lone continuation byte */
                "\xbf",
                "\xc3",                         /* truncated two-byte sequence */
                "abc\xe2\x82",                  /* truncated three-byte sequence */
                "\xf0\x9f\x98",                 /* truncated four-byte sequence */
                "\xc3\x28",                     /* bad continuation */
                "\xe2\x28\xa1",
                "\xc0\xaf",                     /* overlong '/' */
                "\xc1\xbf",                     /* overlong */
                "\xe0\x80\xaf",                 /* overlong '/' */
                "\xe0\x9f\xbf",                 /* overlong U+07FF */
                "\xf0\x80\x80\xaf",             /* overlong '/' */
                "\xf0\x8f\xbf\xbf",             /* overlong U+FFFF */
                "\xed\xa0\x80",                 /* U+D800, surrogate */
                "\xed\xbf\xbf",                 /* U+DFFF, surrogate */
                "\xf4\x90\x80\x80",             /* U+110000 */
                "\xf5\x80\x80\x80",
                "\xf8\x88\x80\x80\x80",         /* five-byte form */
                "\xfe",
                "\xff",
        };

        (void)state;
        for (size_t i = 0; i < NMO_ARRAY_SIZE(good); i++)
                assert_true(text_ok(good[i]));
        for (size_t i = 0; i < NMO_ARRAY_SIZE(bad); i++) {
                if (text_ok(bad[i]))
                        fail_msg("util_text_ok accepted bad case %zu", i);
        }
        /* A NUL inside the counted length is a control character. */
        assert_false(util_text_ok("a\0b", 3));
        /* Only len bytes count: the truncated tail is outside. */
        assert_true(util_text_ok("ab\xc3", 2));
        assert_false(util_text_ok("ab\xc3\xa9", 3));
}

static void test_hex(void **state)
{
        uint8_t in[4] = { 0x00, 0x7f, 0xa5, 0xff }, out[4];
        char hex[9];

        (void)state;
        util_hex(in, sizeof(in), hex);
        assert_string_equal(hex, "007fa5ff");
        assert_int_equal(util_unhex("007fa5ff", out, sizeof(out)), 0);
        assert_memory_equal(in, out, sizeof(in));
        assert_int_equal(util_unhex("007FA5FF", out, sizeof(out)), 0);
        assert_memory_equal(in, out, sizeof(in));
        assert_int_equal(util_unhex("007fa5f", out, sizeof(out)), -EINVAL);
        assert_int_equal(util_unhex("007fa5fff", out, sizeof(out)), -EINVAL);
        assert_int_equal(util_unhex("007fa5ff00", out, sizeof(out)), -EINVAL);
        assert_int_equal(util_unhex("007fa5fg", out, sizeof(out)), -EINVAL);
        assert_int_equal(util_unhex("00 7fa5f", out, sizeof(out)), -EINVAL);
        assert_int_equal(util_unhex("0x7fa5ff", out, sizeof(out)), -EINVAL);
        assert_int_equal(util_unhex("", out, sizeof(out)), -EINVAL);
        assert_int_equal(util_unhex(NULL, out, sizeof(out)), -EINVAL);
}

static unsigned int file_mode(const char *path)
{
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        return (unsigned int)(st.st_mode & 07777);
}

/* Number of entries in dir other than . and .. */
static size_t dir_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void test_write_file(void **state)
{
        char *path = NULL, *data = NULL;
        char sub[PATH_MAX];
        size_t len = 0;
        mode_t old;

        (void)state;
        assert_true(snprintf(sub, sizeof(sub), "%s/w", tmp_dir) < (int)sizeof(sub));
        assert_int_equal(util_mkdir_p(sub, 0700), 0);
        path = util_path(sub, "file");
        assert_non_null(path);

        /* The mode asked for is the mode given, whatever the umask says. */
        old = umask(0);
        assert_int_equal(util_write_file(path, "one", 3, 0600, true), 0);
        assert_int_equal(file_mode(path), 0600);
        umask(old);

        /* Exclusive creation never replaces. */
        assert_int_equal(util_write_file(path, "two", 3, 0600, true), -EEXIST);
        assert_int_equal(util_read_file(path, 100, &data, &len), 0);
        assert_int_equal(len, 3);
        assert_string_equal(data, "one");
        free(data);
        data = NULL;

        /* Non-exclusive replaces atomically, with the new mode. */
        old = umask(077);
        assert_int_equal(util_write_file(path, "second", 6, 0644, false), 0);
        umask(old);
        assert_int_equal(file_mode(path), 0644);
        assert_int_equal(util_read_file(path, 100, &data, &len), 0);
        assert_int_equal(len, 6);
        assert_string_equal(data, "second");
        free(data);
        data = NULL;

        /* No temporary files left behind. */
        assert_int_equal(dir_entries(sub), 1);

        /* Reading: a bound that is too small, a missing file, a directory. */
        assert_int_equal(util_read_file(path, 5, &data, &len), -EFBIG);
        assert_int_equal(util_read_file(sub, 100, &data, &len), -EINVAL);
        free(path);
        path = util_path(sub, "absent");
        assert_int_equal(util_read_file(path, 100, &data, &len), -ENOENT);
        /* A file in a missing directory cannot be written. */
        free(path);
        path = util_path(sub, "no/such/file");
        assert_true(util_write_file(path, "x", 1, 0600, true) < 0);
        assert_int_equal(dir_entries(sub), 1);
        free(path);
}

static void test_mkdir_p(void **state)
{
        char dir[PATH_MAX], file[PATH_MAX];

        (void)state;
        assert_true(snprintf(dir, sizeof(dir), "%s/a/b/c", tmp_dir) < (int)sizeof(dir));
        assert_int_equal(util_mkdir_p(dir, 0700), 0);
        assert_int_equal(file_mode(dir) & 0777, 0700);
        assert_int_equal(util_mkdir_p(dir, 0700), 0); /* exists: fine */
        assert_true(snprintf(file, sizeof(file), "%s/a/plain", tmp_dir) < (int)sizeof(file));
        assert_int_equal(util_write_file(file, "x", 1, 0600, true), 0);
        assert_int_equal(util_mkdir_p(file, 0700), -ENOTDIR);
        assert_int_equal(util_mkdir_p("", 0700), -ENAMETOOLONG);
}

static void test_backoff(void **state)
{
        (void)state;
        for (int round = 0; round < 50; round++) {
                uint64_t expect = 100;

                for (unsigned int attempt = 1; attempt <= 40; attempt++) {
                        uint64_t d = util_backoff_ms(attempt, 100, 60000);

                        /* Half fixed, half random: [step/2, step]. */
                        assert_in_range(d, expect / 2, expect);
                        expect = expect * 2 > 60000 ? 60000 : expect * 2;
                }
        }
        /* Attempt 0 behaves as the first one. */
        assert_in_range(util_backoff_ms(0, 100, 60000), 50, 100);
        /* A base above the cap is capped. */
        for (int i = 0; i < 20; i++)
                assert_in_range(util_backoff_ms(1, 5000, 1000), 500, 1000);
        /* Zero delays stay zero. */
        assert_int_equal(util_backoff_ms(3, 0, 0), 0);
        /* The random half actually varies (1000 draws from 30001 values). */
        {
                uint64_t first = util_backoff_ms(20, 100, 60000);
                bool varied = false;

                for (int i = 0; i < 1000 && !varied; i++)
                        varied = util_backoff_ms(20, 100, 60000) != first;
                assert_true(varied);
        }
}

static void test_time_and_path(void **state)
{
        char buf[32], *p;

        (void)state;
        util_format_time(1735689600000ULL, buf, sizeof(buf));
        assert_string_equal(buf, "2025-01-01T00:00:00Z");
        util_format_time(951782400999ULL, buf, sizeof(buf));
        assert_string_equal(buf, "2000-02-29T00:00:00Z");
        assert_true(util_now_ms() > 1700000000000ULL);
        p = util_path("/a/b", "c");
        assert_non_null(p);
        assert_string_equal(p, "/a/b/c");
        free(p);
}

/* Logs a record of each level with stderr sent to path, JOURNAL_STREAM set
 * to journal ("" leaves it unset), and returns what was written (fresh). */
static char *log_to(const char *path, bool journal)
{
        int saved = dup(STDERR_FILENO), fd;
        char *text = NULL;
        size_t len = 0;
        struct stat st;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0 && saved >= 0);
        fflush(stderr);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);
        close(fd);
        if (journal) {
                char js[64];

                assert_int_equal(fstat(STDERR_FILENO, &st), 0);
                snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
                         (unsigned long long)st.st_ino);
                setenv("JOURNAL_STREAM", js, 1);
        } else {
                /* A journal stream that is not this stderr (a redirect). */
                setenv("JOURNAL_STREAM", "1:1", 1);
        }
        log_setup("nmo-test", LOG_LEVEL_DEBUG);
        log_error("e %d", 1);
        log_warn("w");
        log_info("i");
        log_debug("d");
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        unsetenv("JOURNAL_STREAM");
        log_setup("nmo-test", LOG_LEVEL_INFO);
        assert_int_equal(util_read_file(path, 4096, &text, &len), 0);
        return text;
}

/* Under the journal: syslog priority prefixes; elsewhere: the timestamped
 * form. */
static void test_log_journal(void **state)
{
        char dir[PATH_MAX], *path, *text;

        (void)state;
        assert_non_null(unit_tmp_make(dir, sizeof(dir), "log"));
        path = util_path(dir, "stderr");
        text = log_to(path, true);
        assert_string_equal(text, "<3>error: e 1\n<4>warning: w\n<6>info: i\n<7>debug: d\n");
        free(text);
        text = log_to(path, false);
        assert_null(strstr(text, "<3>"));
        assert_non_null(strstr(text, " nmo-test error: e 1\n"));
        assert_true(text[0] >= '0' && text[0] <= '9');
        free(text);
        free(path);
        assert_int_equal(unit_tmp_remove(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_u64),
                cmocka_unit_test(test_parse_u32),
                cmocka_unit_test(test_text_ok),
                cmocka_unit_test(test_hex),
                cmocka_unit_test(test_write_file),
                cmocka_unit_test(test_mkdir_p),
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_time_and_path),
                cmocka_unit_test(test_log_journal),
        };
        int r;

        if (sodium_init() < 0)
                return 1;
        if (!unit_tmp_make(tmp_dir, sizeof(tmp_dir), "util"))
                return 1;
        r = cmocka_run_group_tests(tests, NULL, NULL);
        if (unit_tmp_remove(tmp_dir) < 0)
                fprintf(stderr, "test-util: could not remove %s\n", tmp_dir);
        return r;
}
