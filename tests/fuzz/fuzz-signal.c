/* fuzz-signal.c: signal_unpack() and signal_validate() on a serialised Signal
 * (what the hub finds inside a box, and a node reads back from its outbox), a
 * pack and unpack round trip of every valid one, and signal_set() with the
 * input split at its first zero byte into field name and value (the options
 * of `nmo-node submit` and the keys of its JSONL input). */
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "signal.h"

static void round_trip(const struct signal *s)
{
        struct signal back;
        uint8_t *buf = NULL;
        size_t len = 0;
        char err[200];

        if (signal_pack(s, &buf, &len) < 0)
                return;
        if (signal_unpack(&back, buf, len, err, sizeof(err)) < 0 ||
            signal_validate(&back, err, sizeof(err)) < 0 || memcmp(&back, s, sizeof(back)) != 0)
                abort();
        free(buf);
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
        const uint8_t *zero = memchr(data, 0, size);
        char err[200], *field, *value;
        struct signal s;

        if (signal_unpack(&s, data, size, err, sizeof(err)) == 0 &&
            signal_validate(&s, err, sizeof(err)) == 0)
                round_trip(&s);

        field = fuzz_strndup(data, zero ? (size_t)(zero - data) : size);
        value = zero ? fuzz_strndup(zero + 1, size - (size_t)(zero - data) - 1) : NULL;
        if (field && (value || !zero)) {
                memset(&s, 0, sizeof(s));
                (void)signal_set(&s, field, value ? value : "", err, sizeof(err));
                (void)signal_validate(&s, err, sizeof(err));
        }
        free(field);
        free(value);
        return 0;
}
