/* fuzz-hub-frame.c: the hub's ingest of one frame, end to end in process: a
 * real private store and analytics store in a temporary directory (made once,
 * removed at exit), one enrolled member, aggregation on, and each input sent
 * through hub_ingest_batch() over that member's connection: as a frame, and
 * as the plaintext of an envelope sealed here with the member's key (so that
 * accepted signals of the fuzzer's choosing reach the store and aggregation).
 *
 * What must hold: no crash, every item gets a reply the hub signed, and the
 * store stays consistent (its signals_stored counter equals the records). */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregate.h"
#include "analytics.h"
#include "config.h"
#include "fuzz-common.h"
#include "ingest.h"
#include "log.h"
#include "member.h"
#include "store.h"

static struct {
        char dir[4096];
        struct hub_store *st;
        struct analytics *an;
        struct hub_aggregate *ag;
        struct hub_ingest *ig;
        struct hub_config cfg;
        struct hub_member member;
} fx;

static int add_member(MDB_txn *txn, void *userdata)
{
        (void)userdata;
        return hub_member_add(txn, fx.st, "fuzz-member", &fuzz_keys()->member.pub, 1,
                              &fx.member);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        (void)remove(path);
        return 0;
}

static void teardown(void)
{
        hub_ingest_free(fx.ig);
        hub_aggregate_free(fx.ag);
        analytics_free(fx.an);
        hub_store_free(fx.st);
        if (fx.dir[0])
                (void)nftw(fx.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what, int r)
{
        fprintf(stderr, "fuzz-hub-frame: %s: %s\n", what, strerror(-r));
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *base = getenv("TMPDIR");
        char *an_path;
        int r;

        (void)argc;
        (void)argv;
        log_setup("fuzz-hub-frame", LOG_LEVEL_ERROR);
        if (!base || !*base)
                base = "/tmp";
        snprintf(fx.dir, sizeof(fx.dir), "%s/nmo-fuzz-hub-XXXXXX", base);
        if (!mkdtemp(fx.dir))
                die("mkdtemp", -errno);
        atexit(teardown);
        r = hub_store_open(&fx.st, fx.dir, false);
        if (r < 0)
                die("hub_store_open", r);
        an_path = util_path(fx.dir, "analytics");
        r = an_path ? analytics_open(&fx.an, an_path, false) : -ENOMEM;
        free(an_path);
        if (r < 0)
                die("analytics_open", r);
        hub_config_defaults(&fx.cfg);
        /* The rate limit has its own tests; here it would only refuse inputs. */
        fx.cfg.limits.member_rate = 1000000;
        fx.cfg.limits.member_burst = 10000000;
        r = hub_aggregate_new(&fx.ag, fx.dir, fx.st, fx.an, &fuzz_keys()->hub, &fx.cfg);
        if (r < 0)
                die("hub_aggregate_new", r);
        r = hub_store_write(fx.st, add_member, NULL);
        if (r < 0)
                die("hub_member_add", r);
        r = hub_ingest_new(&fx.ig, fx.st, &fuzz_keys()->hub, &fx.cfg.limits, fx.ag);
        if (r < 0)
                die("hub_ingest_new", r);
        return 0;
}

/* Every item has a signed reply that matches its outcome. */
static void check_reply(const struct hub_item *it)
{
        uint8_t *signed_receipt = NULL;
        size_t signed_len = 0;
        struct receipt r;
        bool dup;

        if (!it->reply || reply_unpack(it->reply, it->reply_len, &dup, &signed_receipt,
                                       &signed_len) < 0)
                abort();
        if (receipt_verify(signed_receipt, signed_len, fuzz_keys()->hub.pub.sign, &r) < 0)
                abort();
        free(signed_receipt);
        switch (it->outcome) {
        case HUB_OUTCOME_ACCEPTED:
                /* No global counter, and the hour only (PROTOCOL.md 8). */
                if (dup || r.status != NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED || r.sequence ||
                    r.hub_time_ms % RECEIPT_TIME_GRAIN_MS != 0)
                        abort();
                break;
        case HUB_OUTCOME_DUPLICATE:
                if (!dup || r.status != NMO__RECEIPT_STATUS__RECEIPT_ACCEPTED)
                        abort();
                break;
        case HUB_OUTCOME_REJECTED:
                if (r.status != NMO__RECEIPT_STATUS__RECEIPT_REJECTED || r.reason != it->reason)
                        abort();
                break;
        default:
                abort();
        }
}

/* The signals_stored counter equals the number of stored signal records. */
static int check_store(MDB_txn *txn, void *userdata)
{
        uint64_t stored = 0;
        MDB_stat ms;
        int r;

        (void)userdata;
        r = hub_store_meta_get(txn, fx.st, HUB_META_SIGNALS, &stored);
        if (r < 0)
                return r;
        if (mdb_stat(txn, fx.st->signals, &ms) != 0)
                return -EIO;
        return stored == ms.ms_entries ? 0 : -EBADMSG;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct hub_item items[2];
        struct hub_alert_out *alerts = NULL;
        uint8_t id[SIGNAL_ID_BYTES], *sealed = NULL;
        size_t n = 1, sealed_len = 0, nalerts = 0;
        bool accepted = false;
        int r;

        memset(items, 0, sizeof(items));
        items[0].member_id = fx.member.id;
        items[0].frame = data;
        items[0].len = size;
        /* Sealed as a signal only: an accepted key rotation would change the
         * member's keys, and every later input would be refused. */
        if (size <= SIGNAL_PACKED_MAX + 16) {
                fuzz_input_id(data, size, id);
                if (fuzz_seal_raw(data, size, NMO__ENVELOPE_KIND__ENVELOPE_SIGNAL, id, &sealed,
                                  &sealed_len) == 0) {
                        items[1].member_id = fx.member.id;
                        items[1].frame = sealed;
                        items[1].len = sealed_len;
                        n = 2;
                }
        }
        r = hub_ingest_batch(fx.ig, items, n);
        if (r < 0)
                die("hub_ingest_batch", r);
        for (size_t i = 0; i < n; i++) {
                check_reply(&items[i]);
                accepted |= items[i].outcome == HUB_OUTCOME_ACCEPTED;
                hub_item_clear(&items[i]);
        }
        free(sealed);
        if (accepted) {
                r = hub_aggregate_flush(fx.ag, util_now_ms(), &alerts, &nalerts);
                if (r < 0)
                        die("hub_aggregate_flush", r);
                hub_alert_out_free(alerts, nalerts);
        }
        r = hub_store_read(fx.st, check_store, NULL);
        if (r < 0)
                die("store consistency", r);
        return 0;
}
