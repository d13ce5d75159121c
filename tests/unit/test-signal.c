/* test-signal.c: signal fields by name, validation, and the protobuf encoding
 * of a Signal (proto/signal.c), including what signal_unpack must refuse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "signal.h"
#include "vocab.h"

static void set_ok(struct signal *s, const char *field, const char *value)
{
        char err[256] = "";
        int r = signal_set(s, field, value, err, sizeof(err));

        if (r != 0)
                fail_msg("signal_set(%s, \"%s\") = %d: %s", field, value, r, err);
}

static void set_bad(const char *field, const char *value)
{
        struct signal s, before;
        char err[256] = "";
        int r;

        signal_init(&s);
        before = s;
        r = signal_set(&s, field, value, err, sizeof(err));
        if (r != -EINVAL)
                fail_msg("signal_set(%s, \"%s\") = %d, expected -EINVAL", field, value, r);
        if (!err[0])
                fail_msg("signal_set(%s, \"%s\") refused without a reason", field, value);
        /* A refused value leaves the signal as it was. */
        if (memcmp(&s, &before, sizeof(s)) != 0)
                fail_msg("signal_set(%s, \"%s\") changed the signal on failure", field, value);
}

/* A signal with every field set. */
static void full_signal(struct signal *s)
{
        signal_init(s);
        set_ok(s, "material", "gallium");
        set_ok(s, "event", "export-licensing");
        set_ok(s, "severity", "high");
        set_ok(s, "country", "CN");
        set_ok(s, "status", "in-effect");
        set_ok(s, "stage", "processing");
        set_ok(s, "start-date", "2024-12-01");
        set_ok(s, "duration-days", "180");
        set_ok(s, "impact", "confirmed");
        set_ok(s, "share", "25-50");
        set_ok(s, "volume", "12");
        set_ok(s, "confidence", "high");
        set_ok(s, "source", "supplier-notice");
        set_ok(s, "note", "Allocation at 60 %,\tcaf\xc3\xa9\nsecond line");
        set_ok(s, "note-consent", "note-may-be-shared");
}

static void minimal_signal(struct signal *s)
{
        signal_init(s);
        set_ok(s, "material", "cobalt");
        set_ok(s, "event", "mine-closure");
        set_ok(s, "severity", "low");
        set_ok(s, "country", "CD");
}

/* Checks that every value of an enum in its protobuf descriptor has a text
 * name that signal_set accepts and maps back to the number. */
static void check_enum(const char *field, const ProtobufCEnumDescriptor *d,
                       const char *(*name_of)(int), size_t value_offset, int first)
{
        size_t covered = 0;

        for (unsigned int i = 0; i < d->n_values; i++) {
                int v = d->values[i].value;
                const char *name = name_of(v);
                struct signal s;

                if (v < first) {
                        assert_string_equal(name, "");
                        continue;
                }
                if (!name[0])
                        fail_msg("%s value %d (%s) has no text name", field, v,
                                 d->values[i].name);
                signal_init(&s);
                set_ok(&s, field, name);
                assert_int_equal(*(int *)(void *)((char *)&s + value_offset), v);
                covered++;
        }
        assert_true(covered > 0);
        /* Numbers past the enum have no name. */
        assert_string_equal(name_of((int)d->n_values + 5), "");
        /* Refused: empty, upper case, with spaces, numbers, "unspecified". */
        set_bad(field, "");
        set_bad(field, "HIGH");
        set_bad(field, "unknown");
        set_bad(field, "1");
        set_bad(field, "0");
        set_bad(field, "unspecified");
        {
                char padded[64];

                snprintf(padded, sizeof(padded), "%s ", name_of(first > 0 ? first : 0));
                set_bad(field, padded);
                snprintf(padded, sizeof(padded), " %s", name_of(first > 0 ? first : 0));
                set_bad(field, padded);
        }
}

#define NAME_FN(fn, type)                                     \
        static const char *fn##_int(int v)                    \
        {                                                     \
                return fn((type)v);                           \
        }
NAME_FN(signal_severity_name, Nmo__Severity)
NAME_FN(signal_status_name, Nmo__EventStatus)
NAME_FN(signal_stage_name, Nmo__Stage)
NAME_FN(signal_impact_name, Nmo__Impact)
NAME_FN(signal_share_name, Nmo__Share)
NAME_FN(signal_confidence_name, Nmo__Confidence)
NAME_FN(signal_source_name, Nmo__Source)
NAME_FN(signal_consent_name, Nmo__NoteConsent)
#undef NAME_FN

/* Ids: 6 bytes of milliseconds, big-endian, then 10 random bytes. Later ids
 * sort later; ids of one millisecond differ. */
static void test_new_id(void **state)
{
        const uint64_t t = 1735689601234ULL; /* 0x0194 1f29 80d2 */
        uint8_t a[SIGNAL_ID_BYTES], b[SIGNAL_ID_BYTES], c[SIGNAL_ID_BYTES];
        static const uint8_t prefix[6] = { 0x01, 0x94, 0x1f, 0x29, 0x80, 0xd2 };
        struct signal s;

        (void)state;
        signal_new_id(a, t);
        signal_new_id(b, t);
        signal_new_id(c, t + 1);
        assert_memory_equal(a, prefix, 6);
        assert_memory_equal(b, prefix, 6);
        assert_memory_not_equal(a + 6, b + 6, SIGNAL_ID_BYTES - 6);
        assert_true(memcmp(c, a, SIGNAL_ID_BYTES) > 0 && memcmp(c, b, SIGNAL_ID_BYTES) > 0);
        signal_init(&s);
        assert_int_equal(((uint64_t)s.id[0] << 40 | (uint64_t)s.id[1] << 32 |
                          (uint64_t)s.id[2] << 24 | (uint64_t)s.id[3] << 16 |
                          (uint64_t)s.id[4] << 8 | s.id[5]), s.created_ms);
}

static void test_set_enums(void **state)
{
        struct signal s;

        (void)state;
        check_enum("severity", &nmo__severity__descriptor, signal_severity_name_int,
                   offsetof(struct signal, severity), 1);
        check_enum("status", &nmo__event_status__descriptor, signal_status_name_int,
                   offsetof(struct signal, status), 1);
        check_enum("stage", &nmo__stage__descriptor, signal_stage_name_int,
                   offsetof(struct signal, stage), 1);
        check_enum("impact", &nmo__impact__descriptor, signal_impact_name_int,
                   offsetof(struct signal, impact), 1);
        check_enum("share", &nmo__share__descriptor, signal_share_name_int,
                   offsetof(struct signal, share), 1);
        check_enum("confidence", &nmo__confidence__descriptor, signal_confidence_name_int,
                   offsetof(struct signal, confidence), 1);
        check_enum("source", &nmo__source__descriptor, signal_source_name_int,
                   offsetof(struct signal, source), 1);
        check_enum("note-consent", &nmo__note_consent__descriptor, signal_consent_name_int,
                   offsetof(struct signal, note_consent), 0);

        /* The exact text names. */
        assert_string_equal(signal_severity_name(NMO__SEVERITY__SEVERITY_CRITICAL), "critical");
        assert_string_equal(signal_status_name(NMO__EVENT_STATUS__EVENT_STATUS_IN_EFFECT),
                            "in-effect");
        assert_string_equal(signal_share_name(NMO__SHARE__SHARE_LT10), "<10");
        assert_string_equal(signal_share_name(NMO__SHARE__SHARE_GT75), ">75");
        assert_string_equal(signal_consent_name(NMO__NOTE_CONSENT__NOTE_CONSENT_AGGREGATE_ONLY),
                            "aggregate-only");

        /* Share accepts shell-friendly spellings. */
        signal_init(&s);
        set_ok(&s, "share", "lt10");
        assert_int_equal(s.share, NMO__SHARE__SHARE_LT10);
        set_ok(&s, "share", "gt75");
        assert_int_equal(s.share, NMO__SHARE__SHARE_GT75);
        set_ok(&s, "share", "10-25%");
        assert_int_equal(s.share, NMO__SHARE__SHARE_10_25);
        set_ok(&s, "share", ">75%");
        assert_int_equal(s.share, NMO__SHARE__SHARE_GT75);
        set_bad("share", "%");
        set_bad("share", "10-25%%");
        set_bad("share", "lt10%");
        set_bad("share", "10");
        set_bad("share", "25-50 %");
}

static void test_set_vocab(void **state)
{
        struct signal s;

        (void)state;
        /* Every id of every table is accepted. */
        signal_init(&s);
        for (size_t i = 0; i < vocab_materials_count; i++) {
                set_ok(&s, "material", vocab_materials[i].id);
                assert_string_equal(s.material, vocab_materials[i].id);
        }
        for (size_t i = 0; i < vocab_events_count; i++) {
                set_ok(&s, "event", vocab_events[i].id);
                assert_string_equal(s.event, vocab_events[i].id);
        }
        for (size_t i = 0; i < vocab_countries_count; i++) {
                set_ok(&s, "country", vocab_countries[i].id);
                assert_string_equal(s.country, vocab_countries[i].id);
        }
        assert_int_equal(vocab_materials_count, 34);
        assert_int_equal(vocab_events_count, 24);
        assert_true(vocab_countries_count >= 249);
        /* Unknown ids, wrong case, padding. */
        set_bad("material", "unobtainium");
        set_bad("material", "Gallium");
        set_bad("material", "gallium ");
        set_bad("material", "");
        set_bad("material", "id");
        set_bad("event", "earthquake");
        set_bad("event", "Export-ban");
        set_bad("event", "category");
        set_bad("country", "cn");
        set_bad("country", "XX");
        set_bad("country", "CHN");
        set_bad("country", "C");
        set_bad("country", "");
        set_bad("country", "EU");
        set_bad("country", "id");
        /* Fields and values that do not exist. */
        set_bad("colour", "blue");
        set_bad("Material", "gallium");
        set_bad("", "x");
        signal_init(&s);
        assert_int_equal(signal_set(&s, "material", NULL, NULL, 0), -EINVAL);
        /* Every listed field is one signal_set knows. */
        for (size_t i = 0; i < signal_fields_count; i++) {
                char err[256] = "";

                assert_int_equal(signal_set(&s, signal_fields[i].name, "\x01", err,
                                            sizeof(err)), -EINVAL);
                assert_null(strstr(err, "unknown field"));
        }
        assert_int_equal(signal_fields_count, 15);
}

/* vocab_country() searches by halves: the table must stay in id order, and
 * every country, the first and the last too, is found; near misses are not. */
static void test_country_order(void **state)
{
        static const char *const absent[] = { "", "A", "AA", "ZZ", "zz", "ad", "AD ", "@@" };

        (void)state;
        for (size_t i = 1; i < vocab_countries_count; i++)
                assert_true(strcmp(vocab_countries[i - 1].id, vocab_countries[i].id) < 0);
        for (size_t i = 0; i < vocab_countries_count; i++)
                assert_ptr_equal(vocab_country(vocab_countries[i].id), &vocab_countries[i]);
        for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
                assert_null(vocab_country(absent[i]));
        assert_null(vocab_country(NULL));
}

static void test_set_dates(void **state)
{
        static const char *const good[] = {
                "2024-02-29", "2000-02-29", "2023-02-28", "1900-01-01", "2199-12-31",
                "2024-01-31", "2024-04-30", "2024-12-31",
        };
        static const char *const bad[] = {
                "2023-02-29", "2100-02-29", "1900-02-29", "2024-02-30", "2024-04-31",
                "2024-06-31", "2024-09-31", "2024-11-31", "2024-01-32", "2024-13-01",
                "2024-00-10", "2024-01-00", "1899-12-31", "2200-01-01", "2024-1-01",
                "2024-01-1", "2024/01/01", "20240101", "2024-01-01x", "2024-01-01 ",
                " 2024-01-01", "2024-0a-01", "+024-01-01", "2024--1-01", "2024-01-+1",
                "", "yesterday", "0000-00-00", "99999-01-01",
        };
        struct signal s;

        (void)state;
        signal_init(&s);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(good); i++) {
                set_ok(&s, "start-date", good[i]);
                assert_string_equal(s.start_date, good[i]);
        }
        for (size_t i = 0; i < NMO_ARRAY_SIZE(bad); i++)
                set_bad("start-date", bad[i]);
}

static void test_set_numbers(void **state)
{
        static const char *const bad_duration[] = {
                "0", "3651", "-1", "+5", "12abc", "abc", "", " 5", "5 ", "1e3", "0x10",
                "99999999999999999999",
        };
        static const char *const bad_volume[] = {
                "0", "100000001", "18446744073709551615", "18446744073709551616", "-12",
                "+12", "12abc", "abc", "", " 12", "12 ", "12.5", "1e6", "0x0c",
        };
        struct signal s;

        (void)state;
        signal_init(&s);
        set_ok(&s, "duration-days", "1");
        assert_int_equal(s.duration_days, 1);
        set_ok(&s, "duration-days", "3650");
        assert_int_equal(s.duration_days, 3650);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(bad_duration); i++)
                set_bad("duration-days", bad_duration[i]);
        set_ok(&s, "volume", "1");
        assert_int_equal(s.volume_t, 1);
        set_ok(&s, "volume", "100000000");
        assert_int_equal(s.volume_t, 100000000);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(bad_volume); i++)
                set_bad("volume", bad_volume[i]);
}

static void test_set_note(void **state)
{
        static const char *const bad[] = {
                "bell\x07", "esc\x1b[1m", "cr\r\n", "del\x7f", "c1 \xc2\x85",
                "invalid \xff", "lone \x80", "cut \xe2\x82", "overlong \xc0\xaf",
                "overlong \xe0\x80\xaf", "overlong \xf0\x80\x80\xaf", "surrogate \xed\xa0\x80",
                "too big \xf4\x90\x80\x80",
        };
        char note[SIGNAL_NOTE_MAX + 2];
        struct signal s;

        (void)state;
        signal_init(&s);
        memset(note, 'n', SIGNAL_NOTE_MAX);
        note[SIGNAL_NOTE_MAX] = '\0';
        set_ok(&s, "note", note);
        assert_int_equal(strlen(s.note), SIGNAL_NOTE_MAX);
        note[SIGNAL_NOTE_MAX] = 'n';
        note[SIGNAL_NOTE_MAX + 1] = '\0';
        set_bad("note", note);
        /* 1000 bytes counted as bytes, not characters: 500 two-byte characters fit, one more does not. */
        for (int i = 0; i < 500; i++)
                memcpy(note + 2 * i, "\xc3\xa9", 2);
        note[1000] = '\0';
        set_ok(&s, "note", note);
        memcpy(note + 999, "\xc3\xa9", 2);
        note[1001] = '\0';
        set_bad("note", note);
        for (size_t i = 0; i < NMO_ARRAY_SIZE(bad); i++)
                set_bad("note", bad[i]);
        set_ok(&s, "note", "tabs\tand\nnewlines are fine, \xe2\x82\xac and \xf0\x9f\x98\x80 too");
        set_ok(&s, "note", "");
}

static void expect_invalid(const struct signal *s, const char *needle)
{
        char err[256] = "";
        int r = signal_validate(s, err, sizeof(err));

        if (r != -EINVAL)
                fail_msg("signal_validate = %d, expected -EINVAL (%s)", r, needle);
        if (!strstr(err, needle))
                fail_msg("signal_validate said \"%s\", expected it to name \"%s\"", err, needle);
}

static void test_validate(void **state)
{
        struct signal s, t;
        char err[256];

        (void)state;
        full_signal(&s);
        assert_int_equal(signal_validate(&s, err, sizeof(err)), 0);
        minimal_signal(&s);
        assert_int_equal(signal_validate(&s, err, sizeof(err)), 0);

        /* Each required field missing. */
        t = s;
        t.material[0] = '\0';
        expect_invalid(&t, "material");
        t = s;
        t.event[0] = '\0';
        expect_invalid(&t, "event");
        t = s;
        t.severity = NMO__SEVERITY__SEVERITY_UNSPECIFIED;
        expect_invalid(&t, "severity");
        t = s;
        t.country[0] = '\0';
        expect_invalid(&t, "country");
        t = s;
        t.created_ms = 0;
        expect_invalid(&t, "creation time");
        /* Consent without a note. */
        t = s;
        t.note_consent = NMO__NOTE_CONSENT__NOTE_CONSENT_MAY_BE_SHARED;
        expect_invalid(&t, "note-consent");
        /* Values set behind the setter's back (as an unpacked signal may hold them). */
        t = s;
        snprintf(t.material, sizeof(t.material), "unobtainium");
        expect_invalid(&t, "material");
        t = s;
        snprintf(t.event, sizeof(t.event), "earthquake");
        expect_invalid(&t, "event");
        t = s;
        snprintf(t.country, sizeof(t.country), "cn");
        expect_invalid(&t, "country");
        t = s;
        t.severity = (Nmo__Severity)7;
        expect_invalid(&t, "severity");
        t = s;
        t.status = (Nmo__EventStatus)9;
        expect_invalid(&t, "status");
        t = s;
        t.stage = (Nmo__Stage)6;
        expect_invalid(&t, "stage");
        t = s;
        t.impact = (Nmo__Impact)4;
        expect_invalid(&t, "impact");
        t = s;
        t.share = (Nmo__Share)6;
        expect_invalid(&t, "share");
        t = s;
        t.confidence = (Nmo__Confidence)4;
        expect_invalid(&t, "confidence");
        t = s;
        t.source = (Nmo__Source)5;
        expect_invalid(&t, "source");
        t = s;
        t.note_consent = (Nmo__NoteConsent)2;
        expect_invalid(&t, "note-consent");
        t = s;
        snprintf(t.start_date, sizeof(t.start_date), "2023-02-29");
        expect_invalid(&t, "start-date");
        t = s;
        t.duration_days = 3651;
        expect_invalid(&t, "duration-days");
        t = s;
        t.volume_t = SIGNAL_VOLUME_MAX + 1;
        expect_invalid(&t, "volume");
        t = s;
        snprintf(t.note, sizeof(t.note), "bad \xc0\xaf");
        expect_invalid(&t, "note");
        t = s;
        snprintf(t.note, sizeof(t.note), "ctl \x01");
        expect_invalid(&t, "note");
}

static void test_pack_round_trip(void **state)
{
        struct signal s, back;
        uint8_t *buf = NULL;
        size_t len = 0;
        char err[256] = "";

        (void)state;
        full_signal(&s);
        assert_int_equal(signal_pack(&s, &buf, &len), 0);
        assert_true(len > 0 && len <= SIGNAL_PACKED_MAX);
        assert_int_equal(signal_unpack(&back, buf, len, err, sizeof(err)), 0);
        assert_memory_equal(&s, &back, sizeof(s));
        assert_int_equal(signal_validate(&back, err, sizeof(err)), 0);
        free(buf);

        minimal_signal(&s);
        assert_int_equal(signal_pack(&s, &buf, &len), 0);
        assert_int_equal(signal_unpack(&back, buf, len, err, sizeof(err)), 0);
        assert_memory_equal(&s, &back, sizeof(s));
        free(buf);

        /* The largest signal (every field, a 1000-byte note of 4-byte characters)
         * fits the limit. */
        full_signal(&s);
        for (int i = 0; i < 250; i++)
                memcpy(s.note + 4 * i, "\xf0\x9f\x98\x80", 4);
        s.note[1000] = '\0';
        s.created_ms = UINT64_MAX;
        s.volume_t = SIGNAL_VOLUME_MAX;
        s.duration_days = SIGNAL_DURATION_MAX;
        snprintf(s.event, sizeof(s.event), "transport-disruption");
        assert_int_equal(signal_pack(&s, &buf, &len), 0);
        assert_true(len <= SIGNAL_PACKED_MAX);
        assert_int_equal(signal_unpack(&back, buf, len, err, sizeof(err)), 0);
        assert_memory_equal(&s, &back, sizeof(s));
        free(buf);

        /* Ids are fresh and random. */
        {
                struct signal a, b;
                char hex[SIGNAL_ID_HEX];
                uint8_t id[SIGNAL_ID_BYTES];

                signal_init(&a);
                signal_init(&b);
                assert_memory_not_equal(a.id, b.id, SIGNAL_ID_BYTES);
                signal_id_hex(a.id, hex);
                assert_int_equal(strlen(hex), 32);
                assert_int_equal(signal_id_parse(hex, id), 0);
                assert_memory_equal(id, a.id, SIGNAL_ID_BYTES);
                assert_int_equal(signal_id_parse("00", id), -EINVAL);
        }
}

/* A valid Signal message built by hand, for the must-fail cases to change. */
static uint8_t base_id[SIGNAL_ID_BYTES] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static void base_msg(Nmo__Signal *m)
{
        nmo__signal__init(m);
        m->has_version = 1;
        m->version = 1;
        m->has_id = 1;
        m->id.data = base_id;
        m->id.len = sizeof(base_id);
        m->has_created_ms = 1;
        m->created_ms = 1735689600000ULL;
        m->material = (char *)"nickel";
        m->event = (char *)"strike";
        m->has_severity = 1;
        m->severity = NMO__SEVERITY__SEVERITY_MEDIUM;
        m->country = (char *)"ID";
}

/* Packs m and returns what signal_unpack says. */
static int unpack_msg(const Nmo__Signal *m, struct signal *s, char *err, size_t errlen)
{
        size_t n = nmo__signal__get_packed_size(m);
        uint8_t *buf = malloc(n + 1);
        int r;

        assert_non_null(buf);
        assert_int_equal(nmo__signal__pack(m, buf), n);
        err[0] = '\0';
        r = signal_unpack(s, buf, n, err, errlen);
        free(buf);
        return r;
}

static void expect_unpack_fail(const Nmo__Signal *m, const char *what)
{
        struct signal s;
        char err[256];
        int r = unpack_msg(m, &s, err, sizeof(err));

        if (r != -EBADMSG)
                fail_msg("%s: signal_unpack = %d, expected -EBADMSG", what, r);
        if (!err[0])
                fail_msg("%s: refused without a reason", what);
}

static void test_unpack_fail(void **state)
{
        static const uint8_t garbage[][6] = {
                { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, /* endless varint tag */
                { 0x0a, 0x05, 'a', 'b', 0, 0 },         /* field 1 as bytes, cut short */
                { 0x12, 0x7f, 0x00, 0x00, 0x00, 0x00 }, /* length past the end */
                { 0x08, 0x80, 0x80, 0x80, 0x80, 0x80 }, /* varint runs off the end */
                { 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00 }, /* wire type 7 */
                { 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00 }, /* unterminated group */
        };
        Nmo__Signal m;
        struct signal s;
        char err[256], big[40];
        uint8_t id[SIGNAL_ID_BYTES + 1] = { 0 };

        (void)state;
        assert_int_equal(unpack_msg((base_msg(&m), &m), &s, err, sizeof(err)), 0);
        assert_int_equal(signal_validate(&s, err, sizeof(err)), 0);

        for (size_t i = 0; i < NMO_ARRAY_SIZE(garbage); i++) {
                err[0] = '\0';
                assert_int_equal(signal_unpack(&s, garbage[i], sizeof(garbage[i]), err,
                                               sizeof(err)), -EBADMSG);
                assert_true(err[0] != '\0');
        }
        /* Empty: no version. */
        assert_int_equal(signal_unpack(&s, (const uint8_t *)"", 0, err, sizeof(err)), -EBADMSG);

        /* Unknown enum numbers, one field at a time. */
#define BAD_ENUM(f, v)                                        \
        do {                                                  \
                base_msg(&m);                                 \
                m.has_##f = 1;                                \
                m.f = v;                                      \
                expect_unpack_fail(&m, #f " = " #v);          \
        } while (0)
        BAD_ENUM(severity, (Nmo__Severity)5);
        BAD_ENUM(severity, (Nmo__Severity)-1);
        BAD_ENUM(severity, (Nmo__Severity)1000);
        BAD_ENUM(status, (Nmo__EventStatus)5);
        BAD_ENUM(stage, (Nmo__Stage)6);
        BAD_ENUM(impact, (Nmo__Impact)4);
        BAD_ENUM(share, (Nmo__Share)6);
        BAD_ENUM(confidence, (Nmo__Confidence)4);
        BAD_ENUM(source, (Nmo__Source)5);
        BAD_ENUM(note_consent, (Nmo__NoteConsent)2);
        BAD_ENUM(note_consent, (Nmo__NoteConsent)-1);
#undef BAD_ENUM

        /* Version: other than 1, or absent. */
        base_msg(&m);
        m.version = 2;
        expect_unpack_fail(&m, "version 2");
        m.version = 0;
        expect_unpack_fail(&m, "version 0");
        m.has_version = 0;
        expect_unpack_fail(&m, "no version");

        /* Id: wrong length or absent. */
        base_msg(&m);
        m.id.data = id;
        m.id.len = SIGNAL_ID_BYTES - 1;
        expect_unpack_fail(&m, "id of 15 bytes");
        m.id.len = SIGNAL_ID_BYTES + 1;
        expect_unpack_fail(&m, "id of 17 bytes");
        m.id.len = 0;
        expect_unpack_fail(&m, "empty id");
        m.has_id = 0;
        expect_unpack_fail(&m, "no id");

        /* Text longer than the field holds. */
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        base_msg(&m);
        m.material = big;
        expect_unpack_fail(&m, "long material");
        base_msg(&m);
        m.event = big;
        expect_unpack_fail(&m, "long event");
        base_msg(&m);
        m.country = (char *)"CNN";
        expect_unpack_fail(&m, "long country");
        base_msg(&m);
        m.start_date = (char *)"2024-01-011";
        expect_unpack_fail(&m, "long date");
        {
                char *note = malloc(SIGNAL_NOTE_MAX + 2);

                assert_non_null(note);
                memset(note, 'n', SIGNAL_NOTE_MAX + 1);
                note[SIGNAL_NOTE_MAX + 1] = '\0';
                base_msg(&m);
                m.note = note;
                expect_unpack_fail(&m, "note of 1001 bytes");
                note[SIGNAL_NOTE_MAX] = '\0';
                assert_int_equal(unpack_msg(&m, &s, err, sizeof(err)), 0);
                free(note);
        }
        /* Present but zero: 0 means "not given" only by absence. */
        base_msg(&m);
        m.has_duration_days = 1;
        m.duration_days = 0;
        expect_unpack_fail(&m, "duration 0");
        base_msg(&m);
        m.has_volume_t = 1;
        m.volume_t = 0;
        expect_unpack_fail(&m, "volume 0");

        /* Out of range but well formed: unpack takes it, validate refuses it. */
        base_msg(&m);
        m.has_duration_days = 1;
        m.duration_days = 3651;
        assert_int_equal(unpack_msg(&m, &s, err, sizeof(err)), 0);
        assert_int_equal(signal_validate(&s, err, sizeof(err)), -EINVAL);
}

static void test_unpack_size(void **state)
{
        Nmo__Signal m;
        struct signal s;
        size_t n;
        uint8_t *buf;
        char err[256];

        (void)state;
        /* A valid signal followed by an unknown field (number 100): unknown fields
         * are skipped, but the whole must stay within SIGNAL_PACKED_MAX. */
        base_msg(&m);
        n = nmo__signal__get_packed_size(&m);
        buf = calloc(1, SIGNAL_PACKED_MAX + 64);
        assert_non_null(buf);
        nmo__signal__pack(&m, buf);
        /* tag (100 << 3 | 2) = 0x322 -> a2 06; then a two-byte length. */
        {
                size_t body = SIGNAL_PACKED_MAX - n - 4;

                buf[n] = 0xa2;
                buf[n + 1] = 0x06;
                buf[n + 2] = (uint8_t)(0x80 | (body & 0x7f));
                buf[n + 3] = (uint8_t)(body >> 7);
                memset(buf + n + 4, 'u', body);
                assert_int_equal(signal_unpack(&s, buf, SIGNAL_PACKED_MAX, err, sizeof(err)), 0);
                assert_string_equal(s.material, "nickel");

                body++;
                buf[n + 2] = (uint8_t)(0x80 | (body & 0x7f));
                buf[n + 3] = (uint8_t)(body >> 7);
                memset(buf + n + 4, 'u', body);
                err[0] = '\0';
                assert_int_equal(signal_unpack(&s, buf, SIGNAL_PACKED_MAX + 1, err, sizeof(err)),
                                 -EBADMSG);
                assert_non_null(strstr(err, "larger"));
        }
        free(buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_new_id),
                cmocka_unit_test(test_set_enums),
                cmocka_unit_test(test_set_vocab),
                cmocka_unit_test(test_country_order),
                cmocka_unit_test(test_set_dates),
                cmocka_unit_test(test_set_numbers),
                cmocka_unit_test(test_set_note),
                cmocka_unit_test(test_validate),
                cmocka_unit_test(test_pack_round_trip),
                cmocka_unit_test(test_unpack_fail),
                cmocka_unit_test(test_unpack_size),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
