/* fuzz-envelope.c: envelope_open() and envelope_open_rotation() as the hub
 * runs them on every frame a member sends: protobuf decoding, field checks,
 * the box, the Signal or KeyRotation inside and its validation. The input is
 * tried as a whole frame, and also as the plaintext of a box sealed here with
 * the member's key (as either kind), so that what follows the box gets fuzzed
 * too. An opened signal must pass signal_validate() again. */
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "fuzz-common.h"
#include "receipt.h"

static void open_one(const uint8_t *frame, size_t len)
{
        const struct fuzz_keys *k = fuzz_keys();
        struct envelope_opener op = { k->member.pub.payload, k->shared, k->hub_key_id, NULL };
        uint8_t id[SIGNAL_ID_BYTES], peek[SIGNAL_ID_BYTES];
        char detail[RECEIPT_DETAIL_MAX + 1], why[200];
        struct envelope_rotation rot;
        struct signal s;
        bool has_id = false, peeked;
        Nmo__Reason reason;

        reason = envelope_open(frame, len, &op, &s, id, &has_id, detail, sizeof(detail));
        if (strcmp(reason_name(reason), "unknown") == 0)
                abort();
        peeked = envelope_peek_id(frame, len, peek);
        /* The refusal names the signal exactly when the id can be peeked. */
        if (peeked != has_id || (has_id && memcmp(id, peek, SIGNAL_ID_BYTES) != 0))
                abort();
        if (reason == NMO__REASON__REASON_NONE &&
            (signal_validate(&s, why, sizeof(why)) < 0 || memcmp(s.id, id, SIGNAL_ID_BYTES) != 0 ||
             envelope_kind(frame, len) != NMO__ENVELOPE_KIND__ENVELOPE_SIGNAL))
                abort();

        reason = envelope_open_rotation(frame, len, &op, &rot, id, &has_id, detail,
                                        sizeof(detail));
        if (strcmp(reason_name(reason), "unknown") == 0 ||
            (reason == NMO__REASON__REASON_NONE &&
             envelope_kind(frame, len) != NMO__ENVELOPE_KIND__ENVELOPE_KEY_ROTATION))
                abort();
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
        static const Nmo__EnvelopeKind kinds[] = { NMO__ENVELOPE_KIND__ENVELOPE_SIGNAL,
                                                   NMO__ENVELOPE_KIND__ENVELOPE_KEY_ROTATION };
        uint8_t id[SIGNAL_ID_BYTES], *frame = NULL;
        size_t len = 0;

        open_one(data, size);
        if (size > SIGNAL_PACKED_MAX + 16)
                return 0;
        fuzz_input_id(data, size, id);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(kinds); i++) {
                if (fuzz_seal_raw(data, size, kinds[i], id, &frame, &len) == 0) {
                        open_one(frame, len);
                        free(frame);
                }
        }
        return 0;
}
