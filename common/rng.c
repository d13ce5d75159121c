/* rng.c: see rng.h. */
#include "rng.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sodium.h>

/* One ChaCha20 block run: the next key, then what is served. */
#define RNG_BLOCK 512
#define RNG_KEY crypto_stream_chacha20_KEYBYTES
/* Re-seeded from the kernel after this many bytes drawn. */
#define RNG_RESEED_BYTES (1U << 20)
/* A request larger than this is expanded straight into the caller's buffer. */
#define RNG_DIRECT 256

struct rng_state {
        uint8_t key[RNG_KEY];
        uint8_t block[RNG_BLOCK];
        size_t pos;             /* next byte of block to serve */
        size_t drawn;           /* bytes drawn since the last seed */
        uint_fast64_t forks;    /* the fork count when it was seeded */
        bool seeded;
        bool registered;        /* wiped at thread exit (state_key) */
};

static _Thread_local struct rng_state state;
static atomic_uint_fast64_t forks;
static pthread_key_t state_key;

static void on_fork_child(void)
{
        atomic_fetch_add_explicit(&forks, 1, memory_order_relaxed);
}

static void on_thread_exit(void *p)
{
        sodium_memzero(p, sizeof(state));
}

static const uint8_t zero_nonce[crypto_stream_chacha20_NONCEBYTES];

/* A fresh key from the kernel, mixed with the one in use. */
static void seed(struct rng_state *s)
{
        uint8_t fresh[RNG_KEY];

        if (!s->registered) {
                /* Cannot fail once the key exists, but for ENOMEM: then the
                 * state is not wiped at thread exit, and still works. */
                (void)pthread_setspecific(state_key, s);
                s->registered = true;
        }
        randombytes_sysrandom_implementation.buf(fresh, sizeof(fresh));
        crypto_generichash(s->key, sizeof(s->key), fresh, sizeof(fresh), s->seeded ? s->key : NULL,
                           s->seeded ? sizeof(s->key) : 0);
        sodium_memzero(fresh, sizeof(fresh));
        s->forks = atomic_load_explicit(&forks, memory_order_relaxed);
        s->drawn = 0;
        s->pos = RNG_BLOCK;
        s->seeded = true;
}

static struct rng_state *ready(void)
{
        struct rng_state *s = &state;

        if (!s->seeded || s->drawn >= RNG_RESEED_BYTES ||
            s->forks != atomic_load_explicit(&forks, memory_order_relaxed))
                seed(s);
        return s;
}

static void refill(struct rng_state *s)
{
        crypto_stream_chacha20(s->block, sizeof(s->block), zero_nonce, s->key);
        memcpy(s->key, s->block, RNG_KEY);
        sodium_memzero(s->block, RNG_KEY);
        s->pos = RNG_KEY;
}

static void rng_buf(void *const out, const size_t len)
{
        struct rng_state *s = ready();
        uint8_t *p = out;
        size_t n = len;

        s->drawn += len;
        if (n > RNG_DIRECT) {
                /* Its own key, taken from the stream: what is expanded into
                 * the caller's buffer is never in the block. */
                uint8_t k[RNG_KEY];

                rng_buf(k, sizeof(k));
                crypto_stream_chacha20(p, n, zero_nonce, k);
                sodium_memzero(k, sizeof(k));
                return;
        }
        while (n) {
                size_t take;

                if (s->pos == RNG_BLOCK)
                        refill(s);
                take = RNG_BLOCK - s->pos < n ? RNG_BLOCK - s->pos : n;
                memcpy(p, s->block + s->pos, take);
                sodium_memzero(s->block + s->pos, take);
                s->pos += take;
                p += take;
                n -= take;
        }
}

static uint32_t rng_random(void)
{
        uint32_t v;

        rng_buf(&v, sizeof(v));
        return v;
}

static void rng_stir(void)
{
        seed(&state);
}

static int rng_close(void)
{
        sodium_memzero(&state, sizeof(state));
        return 0;
}

static const char *rng_name(void)
{
        return RNG_NAME;
}

static randombytes_implementation rng_impl = {
        .implementation_name = rng_name,
        .random = rng_random,
        .stir = rng_stir,
        .uniform = NULL, /* libsodium's rejection sampling over random() */
        .buf = rng_buf,
        .close = rng_close,
};

int rng_install(void)
{
        int r = pthread_key_create(&state_key, on_thread_exit);

        if (r)
                return -r;
        r = pthread_atfork(NULL, NULL, on_fork_child);
        if (r)
                return -r;
        return randombytes_set_implementation(&rng_impl) == 0 ? 0 : -EINVAL;
}
