/* rng.h: libsodium's randombytes_*() without a system call for every draw.
 *
 * The hub draws several random values for every signal it takes: the nonce
 * of the sealed record, the nonce of its contribution, the contribution's
 * record key, and for every receipt the place of its leaf and the filler of
 * the padded batch (PROTOCOL.md 8.1). libsodium's sysrandom makes one
 * getrandom() call for each, and its internal generator one getpid() call
 * for each (to notice a fork); on a virtual machine a system call costs about
 * a microsecond, which was a fifth of the hub's CPU time per signal.
 *
 * This generator is installed in place of libsodium's (rng_install(), before
 * sodium_init()), so every randombytes_*() call of the process uses it. Each
 * thread keeps its own state: a 32-byte key that expands with libsodium's
 * ChaCha20 into a block; the first 32 bytes of each block replace the key
 * (fast key erasure: a key read out of memory later does not give back what
 * was drawn before), and served bytes are wiped from the block. The key is
 * seeded, and re-seeded after every megabyte drawn, from the kernel through
 * libsodium's own sysrandom. A fork is noticed without a system call
 * (pthread_atfork()): the child seeds afresh before its first draw, so parent
 * and child never share a stream. A thread's state is wiped when it exits. */
#pragma once

#include "util.h"

/* Makes this generator libsodium's. Call it before sodium_init() and before
 * any other thread starts. Returns 0 or the negative errno of the set-up. */
NMO_WUR int rng_install(void);

/* The name this generator reports through randombytes_implementation_name(). */
#define RNG_NAME "nmo-chacha20-fke"
