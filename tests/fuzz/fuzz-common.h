/* fuzz-common.h: what the libFuzzer targets in tests/fuzz/ share: fixed keys
 * made from constant seeds, so that the seed corpora that gen-corpus writes
 * stay valid input for the targets that verify or open what they parse.
 *
 * None of these keys is secret; they exist only in the fuzz build. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

#include "envelope.h"
#include "keys.h"

/* The entry points libFuzzer calls (declared here for -Wmissing-prototypes). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_keys {
        struct keys_secret hub;         /* transport, payload and signing keys */
        struct keys_secret member;      /* transport and payload keys */
        uint8_t shared[crypto_box_BEFORENMBYTES]; /* member payload pk x hub payload sk */
        uint8_t hub_key_id[ENVELOPE_KEY_ID_BYTES];
};

/* The fixed keys (computed once; sodium_init() is called first). */
const struct fuzz_keys *fuzz_keys(void);

/* The signal id the corpus envelopes carry as the n-th seed; any 16 bytes would do. */
void fuzz_seed_id(unsigned int n, uint8_t id[SIGNAL_ID_BYTES]);

/* Seals plain (any bytes, normally a serialised Signal or KeyRotation) as the
 * member would, with a fixed nonce, into an Envelope frame of kind naming id
 * (fresh buffer, free()). Lets a target reach the code after the box opens
 * with content the fuzzer chose, which it could never forge under the real
 * box. Returns 0 or -ENOMEM. */
int fuzz_seal_raw(const uint8_t *plain, size_t len, Nmo__EnvelopeKind kind,
                  const uint8_t id[SIGNAL_ID_BYTES], uint8_t **frame, size_t *frame_len);

/* The id a fuzz input sealed with fuzz_seal_raw() should name: the id of the
 * input read as a Signal, or else as a KeyRotation, or else a fixed one. */
void fuzz_input_id(const uint8_t *data, size_t size, uint8_t id[SIGNAL_ID_BYTES]);

/* A NUL-terminated copy of data (free()); NULL when out of memory. */
char *fuzz_strndup(const uint8_t *data, size_t size);
