/* fuzz-keyfile.c: keys_parse_public() on key file text (public bundles that
 * arrive by e-mail, and the public half of a secret key file). A bundle that
 * parses must format and parse back to the same keys. */
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        (void)fuzz_keys();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct keys_public pk, back;
        char err[256], fp[KEYS_FINGERPRINT_LEN], *text = NULL;

        if (keys_parse_public(&pk, (const char *)data, size, err, sizeof(err)) < 0)
                return 0;
        keys_fingerprint(&pk, fp);
        if (keys_format_public(&pk, &text) < 0)
                return 0;
        if (keys_parse_public(&back, text, strlen(text), err, sizeof(err)) < 0 ||
            !keys_public_equal(&pk, &back))
                abort();
        free(text);
        return 0;
}
