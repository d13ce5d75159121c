/* test-ingest-decodes.c: the hub's ingest (hub/ingest.c) decodes each
 * envelope frame once, whatever the frame's fate: accepted, repeated,
 * refused before opening, refused when opened, a key rotation, sealed to a
 * retired hub key, or in a batch whose transaction runs again after the map
 * grew.
 *
 * The decoder's calls are counted through the linker: this program is
 * linked with -Wl,--wrap=nmo__envelope__unpack (tests/meson.build), so every
 * call the product makes reaches __wrap_nmo__envelope__unpack below, which
 * counts it and calls the real one. Nothing in the product supports it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "envelope.h"
#include "ingest.h"
#include "member.h"
#include "store.h"
#include "unit-tmp.h"

Nmo__Envelope *__real_nmo__envelope__unpack(ProtobufCAllocator *allocator, size_t len,
                                            const uint8_t *data);
Nmo__Envelope *__wrap_nmo__envelope__unpack(ProtobufCAllocator *allocator, size_t len,
                                            const uint8_t *data);

static size_t decodes;

Nmo__Envelope *__wrap_nmo__envelope__unpack(ProtobufCAllocator *allocator, size_t len,
                                            const uint8_t *data)
{
        decodes++;
        return __real_nmo__envelope__unpack(allocator, len, data);
}

struct fixture {
        char dir[PATH_MAX];
        struct hub_store *st;
        struct keys_secret *hub, *a, *b;
        struct hub_member ma, mb;
        struct hub_ingest *ig;
        struct hub_limits limits;
};

struct add_ctx {
        struct hub_store *st;
        const char *name;
        const struct keys_public *pk;
        struct hub_member *out;
};

static int do_add(MDB_txn *txn, void *u)
{
        struct add_ctx *c = u;

        return hub_member_add(txn, c->st, c->name, c->pk, 1, c->out);
}

static void fixture_up(struct fixture *f, size_t map)
{
        struct add_ctx c;

        memset(f, 0, sizeof(*f));
        assert_non_null(unit_tmp_make(f->dir, sizeof(f->dir), "ingest-decodes"));
        assert_int_equal(hub_store_open_map(&f->st, f->dir, false, map), 0);
        assert_int_equal(keys_generate(&f->hub, KEYS_ROLE_HUB, NULL), 0);
        assert_int_equal(keys_generate(&f->a, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(keys_generate(&f->b, KEYS_ROLE_MEMBER, NULL), 0);
        c = (struct add_ctx){ f->st, "alpha", &f->a->pub, &f->ma };
        assert_int_equal(hub_store_write(f->st, do_add, &c), 0);
        c = (struct add_ctx){ f->st, "beta", &f->b->pub, &f->mb };
        assert_int_equal(hub_store_write(f->st, do_add, &c), 0);
        f->limits = (struct hub_limits){ 65536, 1000, 512, 100000, 100000, 10000, 256, 4, 512, 0 };
        assert_int_equal(hub_ingest_new(&f->ig, f->st, f->hub, &f->limits, NULL), 0);
}

static void fixture_down(struct fixture *f)
{
        hub_ingest_free(f->ig);
        hub_store_free(f->st);
        keys_free(f->hub);
        keys_free(f->a);
        keys_free(f->b);
        assert_int_equal(unit_tmp_remove(f->dir), 0);
}

static void seal(const struct keys_secret *member, const uint8_t hub_pk[KEYS_KEY_BYTES],
                 uint8_t **frame, size_t *len)
{
        struct signal s;
        char err[200];

        signal_init(&s);
        assert_int_equal(signal_set(&s, "material", "gallium", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "event", "export-ban", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "severity", "high", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "country", "CN", err, sizeof(err)), 0);
        assert_int_equal(signal_set(&s, "note", "a note that makes the record bigger, as "
                                    "real notes do, so that the map fills sooner", err,
                                    sizeof(err)), 0);
        assert_int_equal(envelope_seal(&s, member, hub_pk, NULL, frame, len), 0);
}

/* Runs one batch and returns how many frames it decoded. */
static size_t batch_decodes(struct fixture *f, struct hub_item *items, size_t n)
{
        size_t before = decodes;

        assert_int_equal(hub_ingest_batch(f->ig, items, n), 0);
        for (size_t i = 0; i < n; i++)
                assert_non_null(items[i].reply);
        return decodes - before;
}

/* Every kind of outcome: one decode a frame. */
static void test_once_per_frame(void **state)
{
        struct fixture f;
        struct keys_secret *next = NULL;
        struct hub_item items[8];
        uint8_t *fa = NULL, *fb = NULL, *rot = NULL, junk[40], big[ENVELOPE_MAX + 1];
        uint8_t rot_id[SIGNAL_ID_BYTES];
        size_t la = 0, lb = 0, lrot = 0;

        (void)state;
        fixture_up(&f, 1u << 20);
        seal(f.a, f.hub->pub.payload, &fa, &la);
        seal(f.b, f.hub->pub.payload, &fb, &lb);
        assert_int_equal(keys_generate(&next, KEYS_ROLE_MEMBER, NULL), 0);
        assert_int_equal(envelope_seal_rotation(f.b, &next->pub, f.hub->pub.payload, rot_id,
                                                &rot, &lrot), 0);
        memset(junk, 0xff, sizeof(junk));
        memset(big, 0, sizeof(big));
        memset(items, 0, sizeof(items));
        /* Accepted; repeated in the batch; over another member's connection
         * (opened, refused); from no member (refused before opening); not an
         * envelope; a key rotation; in two frames. */
        items[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fa, .len = la };
        items[1] = (struct hub_item){ .member_id = f.ma.id, .frame = fa, .len = la };
        items[2] = (struct hub_item){ .member_id = f.mb.id, .frame = fa, .len = la };
        items[3] = (struct hub_item){ .member_id = 0, .frame = fb, .len = lb };
        items[4] = (struct hub_item){ .member_id = f.ma.id, .frame = junk, .len = sizeof(junk) };
        items[5] = (struct hub_item){ .member_id = f.mb.id, .frame = rot, .len = lrot };
        items[6] = (struct hub_item){ .member_id = f.ma.id, .frame = fb, .len = lb,
                                      .extra_parts = true };
        /* Larger than any envelope: refused unread, so never decoded. */
        items[7] = (struct hub_item){ .member_id = f.ma.id, .frame = big, .len = sizeof(big) };
        assert_int_equal(batch_decodes(&f, items, 8), 7);
        assert_int_equal(items[0].outcome, HUB_OUTCOME_ACCEPTED);
        assert_int_equal(items[1].outcome, HUB_OUTCOME_DUPLICATE);
        assert_int_equal(items[2].reason, NMO__REASON__REASON_SENDER_MISMATCH);
        assert_int_equal(items[3].reason, NMO__REASON__REASON_MEMBER_REVOKED);
        assert_int_equal(items[4].reason, NMO__REASON__REASON_MALFORMED);
        assert_int_equal(items[5].outcome, HUB_OUTCOME_ACCEPTED);
        assert_int_equal(items[6].reason, NMO__REASON__REASON_MALFORMED);
        assert_int_equal(items[7].reason, NMO__REASON__REASON_OVERSIZED);
        for (size_t i = 0; i < 8; i++)
                hub_item_clear(&items[i]);
        free(fa);
        free(fb);
        free(rot);
        keys_free(next);
        fixture_down(&f);
}

/* During a hub key rotation's overlap the hub also reads which key a frame
 * names: from the same view. */
static void test_once_during_overlap(void **state)
{
        struct fixture f;
        struct keys_secret *old_hub = NULL;
        struct hub_item items[2];
        uint8_t *fold = NULL, *fnew = NULL, ann[16];
        size_t lold = 0, lnew = 0;

        (void)state;
        fixture_up(&f, 1u << 20);
        assert_int_equal(keys_generate(&old_hub, KEYS_ROLE_HUB, NULL), 0);
        memset(ann, 0x5a, sizeof(ann));
        hub_ingest_set_rotation(f.ig, old_hub, ann, sizeof(ann), old_hub->pub.payload);
        seal(f.a, old_hub->pub.payload, &fold, &lold);
        seal(f.b, f.hub->pub.payload, &fnew, &lnew);
        memset(items, 0, sizeof(items));
        items[0] = (struct hub_item){ .member_id = f.ma.id, .frame = fold, .len = lold };
        items[1] = (struct hub_item){ .member_id = f.mb.id, .frame = fnew, .len = lnew };
        assert_int_equal(batch_decodes(&f, items, 2), 2);
        assert_true(items[0].old_hub_key);
        assert_int_equal(items[0].outcome, HUB_OUTCOME_ACCEPTED);
        assert_int_equal(items[1].outcome, HUB_OUTCOME_ACCEPTED);
        for (size_t i = 0; i < 2; i++)
                hub_item_clear(&items[i]);
        hub_ingest_set_rotation(f.ig, NULL, NULL, 0, NULL);
        free(fold);
        free(fnew);
        keys_free(old_hub);
        fixture_down(&f);
}

/* A 64 KiB map fills within the batch: the transaction runs again on a
 * bigger map, and no frame is decoded again. */
static void test_once_when_rerun(void **state)
{
        enum { N = 400 };
        struct fixture f;
        struct hub_item *items = calloc(N, sizeof(*items));
        uint8_t *frames[N];
        size_t lens[N];
        MDB_envinfo info;

        (void)state;
        assert_non_null(items);
        fixture_up(&f, 64u << 10);
        for (size_t i = 0; i < N; i++) {
                seal(i % 2 ? f.b : f.a, f.hub->pub.payload, &frames[i], &lens[i]);
                items[i] = (struct hub_item){ .member_id = i % 2 ? f.mb.id : f.ma.id,
                                              .frame = frames[i], .len = lens[i] };
        }
        assert_int_equal(batch_decodes(&f, items, N), N);
        assert_int_equal(mdb_env_info(f.st->env, &info), 0);
        assert_true(info.me_mapsize > (64u << 10));
        for (size_t i = 0; i < N; i++) {
                assert_int_equal(items[i].outcome, HUB_OUTCOME_ACCEPTED);
                hub_item_clear(&items[i]);
                free(frames[i]);
        }
        free(items);
        fixture_down(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_once_per_frame),
                cmocka_unit_test(test_once_during_overlap),
                cmocka_unit_test(test_once_when_rerun),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
