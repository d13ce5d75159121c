/* fuzz-common.c: see fuzz-common.h. */
#include "fuzz-common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void seed_of(uint8_t seed[32], uint8_t tag)
{
        memset(seed, tag, 32);
}

const struct fuzz_keys *fuzz_keys(void)
{
        static struct fuzz_keys k;
        static int ready;
        uint8_t seed[32];

        if (ready)
                return &k;
        if (sodium_init() < 0)
                abort(); /* the fuzz build cannot work without libsodium */
        memset(&k, 0, sizeof(k));
        k.hub.pub.role = KEYS_ROLE_HUB;
        snprintf(k.hub.pub.name, sizeof(k.hub.pub.name), "fuzz-hub");
        seed_of(seed, 0x01);
        crypto_box_seed_keypair(k.hub.pub.transport, k.hub.transport_sk, seed);
        seed_of(seed, 0x02);
        crypto_box_seed_keypair(k.hub.pub.payload, k.hub.payload_sk, seed);
        seed_of(seed, 0x03);
        crypto_sign_seed_keypair(k.hub.pub.sign, k.hub.sign_sk, seed);

        k.member.pub.role = KEYS_ROLE_MEMBER;
        snprintf(k.member.pub.name, sizeof(k.member.pub.name), "fuzz-member");
        seed_of(seed, 0x11);
        crypto_box_seed_keypair(k.member.pub.transport, k.member.transport_sk, seed);
        seed_of(seed, 0x12);
        crypto_box_seed_keypair(k.member.pub.payload, k.member.payload_sk, seed);

        if (crypto_box_beforenm(k.shared, k.member.pub.payload, k.hub.payload_sk) != 0)
                abort();
        envelope_key_id(k.hub.pub.payload, k.hub_key_id);
        ready = 1;
        return &k;
}

void fuzz_seed_id(unsigned int n, uint8_t id[SIGNAL_ID_BYTES])
{
        for (unsigned int i = 0; i < SIGNAL_ID_BYTES; i++)
                id[i] = (uint8_t)(0xa0 + i + 16 * n);
}

void fuzz_input_id(const uint8_t *data, size_t size, uint8_t id[SIGNAL_ID_BYTES])
{
        Nmo__Signal *m;
        Nmo__KeyRotation *kr;

        fuzz_seed_id(0, id);
        m = nmo__signal__unpack(NULL, size, data);
        if (m) {
                if (m->has_id && m->id.len == SIGNAL_ID_BYTES)
                        memcpy(id, m->id.data, SIGNAL_ID_BYTES);
                nmo__signal__free_unpacked(m, NULL);
                return;
        }
        kr = nmo__key_rotation__unpack(NULL, size, data);
        if (kr) {
                if (kr->has_id && kr->id.len == SIGNAL_ID_BYTES)
                        memcpy(id, kr->id.data, SIGNAL_ID_BYTES);
                nmo__key_rotation__free_unpacked(kr, NULL);
        }
}

int fuzz_seal_raw(const uint8_t *plain, size_t len, Nmo__EnvelopeKind kind,
                  const uint8_t id[SIGNAL_ID_BYTES], uint8_t **frame, size_t *frame_len)
{
        static const uint8_t nonce[ENVELOPE_NONCE_BYTES] = { 0x4e, 0x4d, 0x4f };
        const struct fuzz_keys *k = fuzz_keys();
        Nmo__Envelope e = NMO__ENVELOPE__INIT;
        uint8_t *box, *out;
        size_t n;

        box = malloc(len + crypto_box_MACBYTES);
        if (!box)
                return -ENOMEM;
        (void)crypto_box_easy_afternm(box, plain, len, nonce, k->shared);
        e.has_version = 1;
        e.version = 1;
        if (kind != NMO__ENVELOPE_KIND__ENVELOPE_SIGNAL) {
                e.has_kind = 1;
                e.kind = kind;
        }
        e.has_signal_id = 1;
        e.signal_id.data = (uint8_t *)id;
        e.signal_id.len = SIGNAL_ID_BYTES;
        e.has_sender = 1;
        e.sender.data = (uint8_t *)k->member.pub.payload;
        e.sender.len = KEYS_KEY_BYTES;
        e.has_hub_key_id = 1;
        e.hub_key_id.data = (uint8_t *)k->hub_key_id;
        e.hub_key_id.len = ENVELOPE_KEY_ID_BYTES;
        e.has_nonce = 1;
        e.nonce.data = (uint8_t *)nonce;
        e.nonce.len = sizeof(nonce);
        e.has_box = 1;
        e.box.data = box;
        e.box.len = len + crypto_box_MACBYTES;
        n = nmo__envelope__get_packed_size(&e);
        out = malloc(n);
        if (!out) {
                free(box);
                return -ENOMEM;
        }
        *frame_len = nmo__envelope__pack(&e, out);
        *frame = out;
        free(box);
        return 0;
}

char *fuzz_strndup(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);

        if (!s)
                return NULL;
        memcpy(s, data, size);
        s[size] = '\0';
        return s;
}
