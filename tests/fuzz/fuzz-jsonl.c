/* fuzz-jsonl.c: the JSON Lines input of `nmo-node submit --file`, through
 * jsonl_parse() on the buffer and jsonl_parse_file() on the same bytes as a
 * stream: both must agree, every good line's signal must validate, and every
 * bad line must come with a message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "jsonl.h"

struct tally {
        size_t good, bad;
};

static int on_signal(void *userdata, size_t line, const struct signal *s)
{
        struct tally *t = userdata;
        char err[200];

        if (line == 0 || signal_validate(s, err, sizeof(err)) < 0)
                abort();
        t->good++;
        return 0;
}

static void on_error(void *userdata, size_t line, const char *message)
{
        struct tally *t = userdata;

        if (line == 0 || !message || !message[0])
                abort();
        t->bad++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        (void)fuzz_keys();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct tally a = { 0, 0 }, b = { 0, 0 };
        struct jsonl_callbacks cba = { on_signal, on_error, &a }, cbb = { on_signal, on_error, &b };
        size_t na = 0, nb = 0;
        FILE *f;
        int ra, rb;

        ra = jsonl_parse((const char *)data, size, &cba, &na);
        if (na != a.good || (ra == 0 && a.bad) || (ra == -EINVAL && !a.bad))
                abort();
        if (size == 0)
                return 0; /* fmemopen() refuses an empty buffer */
        f = fmemopen((void *)data, size, "r");
        if (!f)
                return 0;
        rb = jsonl_parse_file(f, &cbb, &nb);
        fclose(f);
        if (ra != rb || na != nb || a.good != b.good || a.bad != b.bad)
                abort();
        return 0;
}
