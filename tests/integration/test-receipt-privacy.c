/* test-receipt-privacy.c: what a receipt and the hub's private store tell
 * about other members, with the real nmo-hub and raw CurveZMQ members.
 *
 * - A member that sends twice, with two other members sending in between,
 *   finds no store sequence in its receipts (nothing to count the others'
 *   signals by) and only the hour in hub_time_ms.
 * - Receipts signed together are in a tree of a power of two of at least 8
 *   leaves, at distinct leaves, and verify.
 * - When an epoch closes (the hub restarted 40 days later under libfaketime),
 *   no file of the private store holds the receipts' bodies, signed bytes,
 *   hours or exact times any more, and no record is keyed by a signal id
 *   (which begins with the node's creation time); a replay of an envelope of
 *   that epoch is
 *   still a duplicate (nothing stored or counted again) and gets a fresh
 *   receipt dated the epoch's start. */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>
#include <zmq.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "date.h"
#include "envelope.h"
#include "harness.h"
#include "period.h"
#include "records.h"
#include "store.h"
#include "util.h"

#define WAIT_MS 5000
#define HOUR_MS 3600000ULL

/* One reply as received: the frame, its SignedReceipt and ReceiptBody. */
struct got {
        uint8_t *signed_receipt;        /* SignedReceipt bytes (free()) */
        size_t signed_len;
        bool duplicate;
        Nmo__SignedReceipt *sr;         /* decoded (free_unpacked) */
        Nmo__ReceiptBody *body;         /* decoded (free_unpacked) */
        struct receipt r;               /* receipt_verify()'s view */
};

static void got_free(struct got *g)
{
        free(g->signed_receipt);
        if (g->sr)
                nmo__signed_receipt__free_unpacked(g->sr, NULL);
        if (g->body)
                nmo__receipt_body__free_unpacked(g->body, NULL);
        memset(g, 0, sizeof(*g));
}

static void send_frame(struct h_client *c, const uint8_t *frame, size_t len)
{
        int waited = 0;

        while (zmq_send(c->sock, frame, len, ZMQ_DONTWAIT) < 0) {
                if (errno != EAGAIN || waited >= WAIT_MS)
                        fail_msg("cannot send to the hub");
                usleep(10000);
                waited += 10;
        }
}

/* Receives one reply, checks its signature under the hub's key, decodes. */
static void recv_reply(struct h_client *c, struct got *g)
{
        uint8_t buf[RECEIPT_MAX + 1];
        zmq_pollitem_t pi = { c->sock, 0, ZMQ_POLLIN, 0 };
        struct reply rp;
        int n;

        memset(g, 0, sizeof(*g));
        if (zmq_poll(&pi, 1, WAIT_MS) <= 0 || !(pi.revents & ZMQ_POLLIN))
                fail_msg("no reply from the hub");
        n = zmq_recv(c->sock, buf, sizeof(buf), 0);
        assert_true(n > 0 && (size_t)n <= RECEIPT_MAX);
        assert_int_equal(reply_decode(buf, (size_t)n, &rp), 0);
        assert_int_equal(reply_verify(&rp, c->hub.sign, NULL, &g->r), 0);
        g->duplicate = rp.duplicate;
        g->signed_len = rp.signed_len;
        g->signed_receipt = malloc(rp.signed_len);
        assert_non_null(g->signed_receipt);
        memcpy(g->signed_receipt, rp.signed_receipt, rp.signed_len);
        reply_free(&rp);
        /* receipt_verify() on the bytes alone agrees. */
        {
                struct receipt again;

                assert_int_equal(receipt_verify(g->signed_receipt, g->signed_len, c->hub.sign,
                                                &again), 0);
                assert_memory_equal(&again, &g->r, sizeof(again));
        }
        g->sr = nmo__signed_receipt__unpack(NULL, g->signed_len, g->signed_receipt);
        assert_non_null(g->sr);
        g->body = nmo__receipt_body__unpack(NULL, g->sr->body.len, g->sr->body.data);
        assert_non_null(g->body);
}

static void send_recv(struct h_client *c, const uint8_t *frame, size_t len, struct got *g)
{
        send_frame(c, frame, len);
        recv_reply(c, g);
}

/* What every receipt of this hub must say and not say. */
static void check_private(const struct got *g)
{
        uint32_t size;

        /* No store sequence: field 9 absent from the signed body. */
        assert_false(g->body->has_sequence);
        assert_int_equal(g->r.sequence, 0);
        assert_true(g->body->has_hub_time_ms);
        if (g->body->hub_time_ms % HOUR_MS != 0)
                fail_msg("hub_time_ms %llu is not the start of an hour",
                         (unsigned long long)g->body->hub_time_ms);
        /* The batch form, padded: a power of two of at least 8 leaves. */
        assert_true(g->sr->has_tree_size && g->sr->has_leaf_index);
        size = g->sr->tree_size;
        if (size < 8 || (size & (size - 1)) != 0)
                fail_msg("tree_size %u is not a power of two >= 8", size);
        assert_true(g->sr->leaf_index < size);
}

/* (a) A sends, B and C send, A sends again: A's two receipts tell nothing of
 * B's and C's signals. */
static void test_no_counter_hour_only(void **state)
{
        struct h_hub hub;
        struct h_client a, b, c;
        struct got ga1, ga2, gx;
        char *ma, *mb, *mc;
        uint8_t *frame = NULL;
        size_t len = 0;
        uint64_t before = util_now_ms(), after;

        (void)state;
        h_hub_init(&hub);
        ma = h_member_create(&hub, "member-a", true);
        mb = h_member_create(&hub, "member-b", true);
        mc = h_member_create(&hub, "member-c", true);
        h_client_open(&a, &hub, ma);
        h_client_open(&b, &hub, mb);
        h_client_open(&c, &hub, mc);

        h_client_seal(&a, "gallium", &frame, &len, NULL);
        send_recv(&a, frame, len, &ga1);
        free(frame);
        for (int i = 0; i < 3; i++) {
                struct h_client *o = i % 2 ? &c : &b;

                h_client_seal(o, "germanium", &frame, &len, NULL);
                send_recv(o, frame, len, &gx);
                assert_int_equal(gx.r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
                check_private(&gx);
                got_free(&gx);
                free(frame);
        }
        h_client_seal(&a, "gallium", &frame, &len, NULL);
        send_recv(&a, frame, len, &ga2);
        free(frame);
        after = util_now_ms();

        assert_int_equal(ga1.r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        assert_int_equal(ga2.r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        assert_false(ga1.duplicate || ga2.duplicate);
        check_private(&ga1);
        check_private(&ga2);
        /* The hour the hub accepted them in. */
        for (int i = 0; i < 2; i++) {
                uint64_t t = i ? ga2.r.hub_time_ms : ga1.r.hub_time_ms;

                assert_true(t >= before - before % HOUR_MS && t <= after);
        }
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), 5);

        got_free(&ga1);
        got_free(&ga2);
        h_client_close(&a);
        h_client_close(&b);
        h_client_close(&c);
        free(ma);
        free(mb);
        free(mc);
        h_hub_destroy(&hub);
}

/* (b) Envelopes sent back to back, signed in one or a few group commits:
 * every tree is padded, and the receipts of one tree sit at distinct leaves. */
#define BURST 12
static void test_batch_padded(void **state)
{
        struct h_hub hub;
        struct h_client a;
        struct got g[BURST];
        uint8_t *frames[BURST];
        size_t lens[BURST];
        char *ma;

        (void)state;
        h_hub_init(&hub);
        ma = h_member_create(&hub, "member-a", true);
        h_client_open(&a, &hub, ma);
        /* One alone first: a tree of 8 even for a single receipt. */
        h_client_seal(&a, "nickel", &frames[0], &lens[0], NULL);
        send_recv(&a, frames[0], lens[0], &g[0]);
        check_private(&g[0]);
        got_free(&g[0]);
        free(frames[0]);

        for (int i = 0; i < BURST; i++) {
                h_client_seal(&a, "cobalt", &frames[i], &lens[i], NULL);
                send_frame(&a, frames[i], lens[i]);
        }
        for (int i = 0; i < BURST; i++) {
                recv_reply(&a, &g[i]);
                assert_int_equal(g[i].r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
                check_private(&g[i]);
        }
        /* Receipts under one signature are one tree: distinct leaves. */
        for (int i = 0; i < BURST; i++) {
                for (int j = i + 1; j < BURST; j++) {
                        if (memcmp(g[i].sr->signature.data, g[j].sr->signature.data, 64) != 0)
                                continue;
                        assert_int_equal(g[i].sr->tree_size, g[j].sr->tree_size);
                        assert_int_not_equal(g[i].sr->leaf_index, g[j].sr->leaf_index);
                }
        }
        for (int i = 0; i < BURST; i++) {
                got_free(&g[i]);
                free(frames[i]);
        }
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), BURST + 1);
        h_client_close(&a);
        free(ma);
        h_hub_destroy(&hub);
}

/* ---- (c) the close of an epoch ---- */

/* The multi-threaded libfaketime, wherever the multiarch layout put it. */
static const char *faketime_lib(void)
{
        static char path[256];
        glob_t g;

        if (glob("/usr/lib/*/faketime/libfaketimeMT.so.1", 0, NULL, &g) != 0)
                return NULL;
        snprintf(path, sizeof(path), "%s", g.gl_pathv[0]);
        globfree(&g);
        return path;
}

/* Starts the hub 40 days from now (env execs it in place: the pid is the
 * hub's own). */
static void start_later(struct h_hub *h, const char *lib)
{
        static char preload[600], asan[600];
        const char *asan_env = getenv("ASAN_OPTIONS");
        char *argv[] = { "env", preload, asan, "FAKETIME=+40d", "FAKETIME_DONT_FAKE_MONOTONIC=1",
                         (char *)h_hub_bin(), "serve", "--dir", h->hub_dir, NULL };

        snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", lib);
        /* In the AddressSanitizer build libasan must come first among the
         * libraries; libfaketime is preloaded before it. */
        snprintf(asan, sizeof(asan), "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
                 asan_env ? asan_env : "", asan_env && *asan_env ? ":" : "");
        h->pid = h_spawn(argv, h->log);
        assert_true(h_wait_port(h->port, 10000));
}

/* Every file under dir, read whole, handed to fn. */
struct scan {
        /* Needles: byte strings that must not occur. */
        const uint8_t *needle[64];
        size_t needle_len[64];
        const char *what[64];
        size_t n;
        /* Times that must not occur as LE or BE u64 or as a varint. */
        uint64_t exact[16];
        size_t nexact;
        uint64_t lo, hi;        /* nor any ms in [lo, hi] */
        size_t files;
};

static void add_needle(struct scan *s, const uint8_t *p, size_t len, const char *what)
{
        assert_true(s->n < NMO_ARRAY_SIZE(s->needle));
        s->needle[s->n] = p;
        s->needle_len[s->n] = len;
        s->what[s->n++] = what;
}

static bool mem_has(const uint8_t *hay, size_t hlen, const uint8_t *nd, size_t nlen)
{
        if (nlen == 0 || hlen < nlen)
                return false;
        for (size_t i = 0; i + nlen <= hlen; i++)
                if (hay[i] == nd[0] && memcmp(hay + i, nd, nlen) == 0)
                        return true;
        return false;
}

static bool time_hit(const struct scan *s, uint64_t v)
{
        if (v >= s->lo && v <= s->hi)
                return true;
        for (size_t i = 0; i < s->nexact; i++)
                if (v == s->exact[i])
                        return true;
        return false;
}

static void scan_buf(const struct scan *s, const char *path, const uint8_t *b, size_t len)
{
        for (size_t i = 0; i < s->n; i++)
                if (mem_has(b, len, s->needle[i], s->needle_len[i]))
                        fail_msg("%s holds %s", path, s->what[i]);
        for (size_t i = 0; i < len; i++) {
                uint64_t le = 0, be = 0, vi = 0;
                unsigned int shift = 0;

                if (i + 8 <= len) {
                        for (int j = 7; j >= 0; j--)
                                le = le << 8 | b[i + (size_t)j];
                        for (int j = 0; j < 8; j++)
                                be = be << 8 | b[i + (size_t)j];
                        if (time_hit(s, le) || time_hit(s, be))
                                fail_msg("%s holds a receipt time (8 bytes at offset %zu)", path,
                                         i);
                }
                /* A varint: times of this era take 6 bytes. */
                for (size_t j = i; j < len && j < i + 10; j++) {
                        vi |= (uint64_t)(b[j] & 0x7f) << shift;
                        shift += 7;
                        if (!(b[j] & 0x80)) {
                                if (time_hit(s, vi))
                                        fail_msg("%s holds a receipt time (varint at offset "
                                                 "%zu)", path, i);
                                break;
                        }
                }
        }
}

static void scan_dir(struct scan *s, const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;

        assert_non_null(d);
        while ((e = readdir(d))) {
                char *path;
                struct stat st;

                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                path = util_path(dir, e->d_name);
                assert_non_null(path);
                assert_int_equal(lstat(path, &st), 0);
                if (S_ISDIR(st.st_mode)) {
                        scan_dir(s, path);
                } else if (S_ISREG(st.st_mode) && st.st_size > 0) {
                        FILE *f = fopen(path, "rb");
                        uint8_t *b = malloc((size_t)st.st_size);

                        assert_non_null(f);
                        assert_non_null(b);
                        assert_int_equal(fread(b, 1, (size_t)st.st_size, f), (size_t)st.st_size);
                        fclose(f);
                        scan_buf(s, path, b, (size_t)st.st_size);
                        s->files++;
                        free(b);
                }
                free(path);
        }
        closedir(d);
}

/* Every record in the signals database, as the store holds it: none may
 * still be keyed by a signal id (whose first 6 bytes are the node's creation
 * time in ms) or hold more than its epoch. */
struct records_ctx {
        struct hub_store *st;
        const uint8_t (*ids)[SIGNAL_ID_BYTES];
        size_t nids;
        uint32_t month;
        size_t n;
};

static int records_fn(MDB_txn *txn, void *userdata)
{
        struct records_ctx *c = userdata;
        MDB_cursor *cur;
        MDB_val k, v;
        int rc;

        assert_int_equal(mdb_cursor_open(txn, c->st->signals, &cur), 0);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                Nmo__Hub__SignalRecord *rec = nmo__hub__signal_record__unpack(NULL, v.mv_size,
                                                                             v.mv_data);

                assert_non_null(rec);
                assert_int_equal(k.mv_size, HUB_RECORD_CLOSED_KEY_BYTES);
                for (size_t i = 0; i < c->nids; i++)
                        assert_false(mem_has(k.mv_data, k.mv_size, c->ids[i], 6));
                assert_true(rec->has_epoch && rec->epoch == c->month);
                assert_false(rec->has_sealed || rec->has_receipt_body || rec->has_receipt ||
                             rec->has_received_ms);
                nmo__hub__signal_record__free_unpacked(rec, NULL);
                c->n++;
        }
        mdb_cursor_close(cur);
        return rc == MDB_NOTFOUND ? 0 : -EIO;
}

#define SENT 3
static void test_epoch_close_strips(void **state)
{
        struct h_hub hub;
        struct h_client a, b;
        struct got g[SENT], replay;
        uint8_t *frames[SENT];
        size_t lens[SENT];
        uint8_t id[SIGNAL_ID_BYTES];
        char *ma, *mb, *priv;
        const char *lib = faketime_lib();
        uint64_t before, after;
        uint32_t month;
        int64_t dups;
        struct scan s;

        (void)state;
        if (!lib)
                fail_msg("libfaketime is needed (apt-get install faketime; check.sh installs it)");
        h_hub_init(&hub);
        ma = h_member_create(&hub, "member-a", true);
        mb = h_member_create(&hub, "member-b", true);
        h_client_open(&a, &hub, ma);
        h_client_open(&b, &hub, mb);
        before = util_now_ms();
        for (int i = 0; i < SENT; i++) {
                struct h_client *c = i == 1 ? &b : &a;

                h_client_seal(c, "gallium", &frames[i], &lens[i], i == 0 ? id : NULL);
                send_recv(c, frames[i], lens[i], &g[i]);
                assert_int_equal(g[i].r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
                check_private(&g[i]);
        }
        after = util_now_ms();
        month = period_month_of_week(period_week_of_day(date_day_of_ms(before)));
        h_client_close(&a);
        h_client_close(&b);
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), SENT);

        /* What must not be left once the epoch closed: the bodies and signed
         * receipts, their hours, and any time in the window they were made. */
        memset(&s, 0, sizeof(s));
        s.lo = before;
        s.hi = after;
        for (int i = 0; i < SENT; i++) {
                add_needle(&s, g[i].sr->body.data, g[i].sr->body.len, "a receipt body");
                add_needle(&s, g[i].signed_receipt, g[i].signed_len, "a signed receipt");
                add_needle(&s, g[i].sr->signature.data, g[i].sr->signature.len,
                           "a receipt signature");
                /* The epoch record keeps the epoch's start; a receipt of its
                 * very first hour is that too, and not a leak. */
                if (g[i].r.hub_time_ms != period_month_start_ms(month))
                        s.exact[s.nexact++] = g[i].r.hub_time_ms;
        }
        priv = util_path(hub.hub_dir, "private");
        assert_non_null(priv);
        /* Sealed under the epoch key already while it is open. */
        {
                struct scan open_scan = s;

                open_scan.nexact = 0;
                open_scan.lo = 1;
                open_scan.hi = 0;
                open_scan.n = 0;
                for (int i = 0; i < SENT; i++)
                        add_needle(&open_scan, g[i].sr->body.data, g[i].sr->body.len,
                                   "a receipt body in the clear");
                scan_dir(&open_scan, priv);
                assert_true(open_scan.files >= 2);
        }

        /* Forty days later the epoch has ended: the hub closes it as it starts. */
        start_later(&hub, lib);
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        scan_dir(&s, priv);
        assert_true(s.files >= 2);
        {
                uint8_t ids[SENT][SIGNAL_ID_BYTES];
                struct records_ctx rc = { NULL, (const uint8_t (*)[SIGNAL_ID_BYTES])ids, SENT,
                                          month, 0 };

                for (int i = 0; i < SENT; i++)
                        memcpy(ids[i], g[i].r.signal_id, SIGNAL_ID_BYTES);
                assert_int_equal(hub_store_open(&rc.st, hub.hub_dir, true), 0);
                assert_int_equal(hub_store_read(rc.st, records_fn, &rc), 0);
                assert_int_equal(rc.n, SENT);
                hub_store_free(rc.st);
        }

        /* A node restored from a backup sends the first signal again. */
        start_later(&hub, lib);
        dups = h_hub_stat(&hub, "duplicates");
        h_client_open(&a, &hub, ma);
        send_recv(&a, frames[0], lens[0], &replay);
        assert_true(replay.duplicate);
        assert_int_equal(replay.r.status, NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED);
        assert_true(replay.r.has_id);
        assert_memory_equal(replay.r.signal_id, id, SIGNAL_ID_BYTES);
        assert_memory_equal(replay.r.envelope_hash, g[0].r.envelope_hash, ENVELOPE_HASH_BYTES);
        assert_memory_equal(replay.r.member_key, a.member->pub.payload, KEYS_KEY_BYTES);
        assert_int_equal(replay.r.hub_time_ms, period_month_start_ms(month));
        assert_false(replay.body->has_sequence);
        h_client_close(&a);
        assert_int_equal(h_hub_stop(&hub, SIGTERM), 0);
        /* Stored once, counted once. */
        assert_int_equal(h_hub_stat(&hub, "signals_stored"), SENT);
        assert_int_equal(h_hub_stat(&hub, "duplicates"), dups + 1);

        for (int i = 0; i < SENT; i++) {
                got_free(&g[i]);
                free(frames[i]);
        }
        got_free(&replay);
        free(priv);
        free(ma);
        free(mb);
        h_hub_destroy(&hub);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_no_counter_hour_only),
                cmocka_unit_test(test_batch_padded),
                cmocka_unit_test(test_epoch_close_strips),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests_name("receipt-privacy", tests, NULL, NULL);
}
