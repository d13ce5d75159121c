/* test-rng.c: common/rng, the random generator nmo-hub installs in place of
 * libsodium's: it is the one every randombytes_*() call uses; draws do not
 * repeat, in one thread, across threads, across a fork (a child that kept
 * its parent's state would draw the very nonces its parent draws next) and
 * across the large-request path; and its output is not visibly biased. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "rng.h"

#define DRAW 32

static void test_installed(void **state)
{
        (void)state;
        assert_string_equal(randombytes_implementation_name(), RNG_NAME);
}

/* Many small draws, all different (a 32-byte repeat would be a broken stream). */
static void test_no_repeats(void **state)
{
        enum { N = 4096 };
        uint8_t(*d)[DRAW] = malloc(N * DRAW);

        (void)state;
        assert_non_null(d);
        for (size_t i = 0; i < N; i++)
                randombytes_buf(d[i], DRAW);
        for (size_t i = 0; i < N; i++)
                for (size_t j = i + 1; j < N; j++)
                        assert_memory_not_equal(d[i], d[j], DRAW);
        free(d);
}

/* Byte frequencies over 4 MiB (past a re-seed), from small and large draws:
 * chi-square with 255 degrees of freedom; 400 is beyond p = 1e-8. */
static void test_unbiased(void **state)
{
        enum { TOTAL = 4 << 20 };
        uint8_t *buf = malloc(TOTAL);
        uint64_t count[256] = { 0 };
        double chi = 0, expect = TOTAL / 256.0;

        (void)state;
        assert_non_null(buf);
        for (size_t off = 0; off < TOTAL;) {
                size_t n = off % 3 == 0 ? 7 : off % 3 == 1 ? 100 : 4000;

                if (n > TOTAL - off)
                        n = TOTAL - off;
                randombytes_buf(buf + off, n);
                off += n;
        }
        for (size_t i = 0; i < TOTAL; i++)
                count[buf[i]]++;
        for (size_t b = 0; b < 256; b++)
                chi += (count[b] - expect) * (count[b] - expect) / expect;
        free(buf);
        assert_true(chi < 400.0);
        /* randombytes_uniform() goes through random(): in range, all hit. */
        {
                unsigned hits[10] = { 0 };

                for (int i = 0; i < 10000; i++) {
                        uint32_t v = randombytes_uniform(10);

                        assert_true(v < 10);
                        hits[v]++;
                }
                for (int v = 0; v < 10; v++)
                        assert_true(hits[v] > 800 && hits[v] < 1200);
        }
}

/* A request above the block size takes its own key: two of them differ,
 * and neither repeats a small draw's bytes. */
static void test_large(void **state)
{
        uint8_t a[5000], b[5000], s[DRAW];

        (void)state;
        randombytes_buf(a, sizeof(a));
        randombytes_buf(s, sizeof(s));
        randombytes_buf(b, sizeof(b));
        assert_memory_not_equal(a, b, sizeof(a));
        for (size_t i = 0; i + DRAW <= sizeof(a); i++) {
                assert_memory_not_equal(a + i, s, DRAW);
                assert_memory_not_equal(b + i, s, DRAW);
        }
}

static void *draw_thread(void *arg)
{
        randombytes_buf(arg, DRAW);
        return NULL;
}

static void test_threads(void **state)
{
        uint8_t got[4][DRAW];
        pthread_t t[4];

        (void)state;
        for (int i = 0; i < 4; i++)
                assert_int_equal(pthread_create(&t[i], NULL, draw_thread, got[i]), 0);
        for (int i = 0; i < 4; i++)
                assert_int_equal(pthread_join(t[i], NULL), 0);
        for (int i = 0; i < 4; i++)
                for (int j = i + 1; j < 4; j++)
                        assert_memory_not_equal(got[i], got[j], DRAW);
}

/* Parent and child draw after a fork: different bytes. Without the fork
 * hook the child's state is a copy of the parent's and both draw the same. */
static void test_fork(void **state)
{
        uint8_t warm[DRAW], mine[DRAW], theirs[DRAW];
        int fds[2], status = 0;
        pid_t pid;

        (void)state;
        randombytes_buf(warm, sizeof(warm)); /* this thread's state is seeded */
        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                uint8_t d[DRAW];

                randombytes_buf(d, sizeof(d));
                _exit(write(fds[1], d, sizeof(d)) == (ssize_t)sizeof(d) ? 0 : 1);
        }
        randombytes_buf(mine, sizeof(mine));
        assert_int_equal(read(fds[0], theirs, sizeof(theirs)), (ssize_t)sizeof(theirs));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(fds[0]);
        close(fds[1]);
        assert_memory_not_equal(mine, theirs, DRAW);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_installed), cmocka_unit_test(test_no_repeats),
                cmocka_unit_test(test_unbiased),  cmocka_unit_test(test_large),
                cmocka_unit_test(test_threads),   cmocka_unit_test(test_fork),
        };

        if (rng_install() < 0 || sodium_init() < 0) {
                fprintf(stderr, "test-rng: cannot set up the generator\n");
                return 1;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
