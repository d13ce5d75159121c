/* signal.c: signal fields, validation and encoding. See signal.h. */
#include "signal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "date.h"
#include "vocab.h"

const struct signal_field signal_fields[] = {
        { "material", "material id from the EU critical raw materials list (gallium, ...)", true },
        { "event", "event type id (export-ban, plant-outage, ...)", true },
        { "severity", "low, medium, high or critical", true },
        { "country", "origin country, ISO 3166-1 alpha-2 (CN, CD, ZA, ...)", true },
        { "status", "rumour, announced, in-effect or ended", false },
        { "stage", "extraction, processing, manufacturing, recycling or trade", false },
        { "start-date", "start of the disruption, YYYY-MM-DD", false },
        { "duration-days", "expected duration in days, 1 to 3650", false },
        { "impact", "impact on your company: none, potential or confirmed", false },
        { "share", "share of your supply affected: <10, 10-25, 25-50, 50-75 or >75 (%)", false },
        { "volume", "affected volume in tonnes per year, 1 to 100000000", false },
        { "confidence", "low, medium or high", false },
        { "source", "own-observation, supplier-notice, official or media", false },
        { "note", "free text, at most 1000 bytes; shared only with --note-consent", false },
        { "note-consent", "aggregate-only (default) or note-may-be-shared", false },
};
const size_t signal_fields_count = NMO_ARRAY_SIZE(signal_fields);

static const char *const severity_names[] = { "", "low", "medium", "high", "critical" };
static const char *const status_names[] = { "", "rumour", "announced", "in-effect", "ended" };
static const char *const stage_names[] = { "", "extraction", "processing", "manufacturing",
                                           "recycling", "trade" };
static const char *const impact_names[] = { "", "none", "potential", "confirmed" };
static const char *const share_names[] = { "", "<10", "10-25", "25-50", "50-75", ">75" };
static const char *const confidence_names[] = { "", "low", "medium", "high" };
static const char *const source_names[] = { "", "own-observation", "supplier-notice", "official",
                                            "media" };
static const char *const consent_names[] = { "aggregate-only", "note-may-be-shared" };

#define NAME_OF(tab, v) ((unsigned int)(v) < NMO_ARRAY_SIZE(tab) ? tab[(unsigned int)(v)] : "")

const char *signal_severity_name(Nmo__Severity v) { return NAME_OF(severity_names, v); }
const char *signal_status_name(Nmo__EventStatus v) { return NAME_OF(status_names, v); }
const char *signal_stage_name(Nmo__Stage v) { return NAME_OF(stage_names, v); }
const char *signal_impact_name(Nmo__Impact v) { return NAME_OF(impact_names, v); }
const char *signal_share_name(Nmo__Share v) { return NAME_OF(share_names, v); }
const char *signal_confidence_name(Nmo__Confidence v) { return NAME_OF(confidence_names, v); }
const char *signal_source_name(Nmo__Source v) { return NAME_OF(source_names, v); }
const char *signal_consent_name(Nmo__NoteConsent v) { return NAME_OF(consent_names, v); }

void signal_id_hex(const uint8_t id[SIGNAL_ID_BYTES], char out[SIGNAL_ID_HEX])
{
        util_hex(id, SIGNAL_ID_BYTES, out);
}

int signal_id_parse(const char *hex, uint8_t id[SIGNAL_ID_BYTES])
{
        return util_unhex(hex, id, SIGNAL_ID_BYTES);
}

void signal_new_id(uint8_t id[SIGNAL_ID_BYTES], uint64_t now_ms)
{
        /* 48-bit milliseconds, big-endian, then 80 random bits: ids made later
         * sort later, so the hub's index of them grows at its end. */
        for (int i = 0; i < 6; i++)
                id[i] = (uint8_t)(now_ms >> (8 * (5 - i)));
        randombytes_buf(id + 6, SIGNAL_ID_BYTES - 6);
}

void signal_init(struct signal *s)
{
        memset(s, 0, sizeof(*s));
        s->created_ms = util_now_ms();
        signal_new_id(s->id, s->created_ms);
}

/* Finds value in names[1..n-1] (index 0 is "unspecified" and not settable,
 * except where first_settable is 0). */
static int lookup(const char *const *names, size_t n, size_t first_settable, const char *value)
{
        for (size_t i = first_settable; i < n; i++)
                if (strcmp(names[i], value) == 0)
                        return (int)i;
        return -1;
}

static void list_names(const char *const *names, size_t n, size_t first, char *buf, size_t len)
{
        size_t off = 0;

        buf[0] = '\0';
        for (size_t i = first; i < n && off < len; i++) {
                int w = snprintf(buf + off, len - off, "%s%s", i > first ? ", " : "", names[i]);
                if (w < 0)
                        break;
                off += (size_t)w;
        }
}

/* PROTOCOL.md section 7: a start date is a real date of 1900..2199. */
#define START_YEAR_MIN 1900
#define START_YEAR_MAX 2199

static bool date_ok(const char *s)
{
        int64_t day;

        return date_parse_range(s, START_YEAR_MIN, START_YEAR_MAX, &day) == 0;
}

/* The enumerated fields: their names (index 0, "unspecified", settable only
 * where first is 0) and where they sit in struct signal. */
static const struct {
        const char *field;
        const char *const *names;
        size_t n;
        size_t first;
        size_t offset;
} enums[] = {
        { "severity", severity_names, NMO_ARRAY_SIZE(severity_names), 1,
          offsetof(struct signal, severity) },
        { "status", status_names, NMO_ARRAY_SIZE(status_names), 1,
          offsetof(struct signal, status) },
        { "stage", stage_names, NMO_ARRAY_SIZE(stage_names), 1,
          offsetof(struct signal, stage) },
        { "impact", impact_names, NMO_ARRAY_SIZE(impact_names), 1,
          offsetof(struct signal, impact) },
        { "share", share_names, NMO_ARRAY_SIZE(share_names), 1,
          offsetof(struct signal, share) },
        { "confidence", confidence_names, NMO_ARRAY_SIZE(confidence_names), 1,
          offsetof(struct signal, confidence) },
        { "source", source_names, NMO_ARRAY_SIZE(source_names), 1,
          offsetof(struct signal, source) },
        { "note-consent", consent_names, NMO_ARRAY_SIZE(consent_names), 0,
          offsetof(struct signal, note_consent) },
};

int signal_set(struct signal *s, const char *field, const char *value, char *err, size_t errlen)
{
        char choices[160];
        uint64_t v64;
        uint32_t v32;

        if (!value) {
                util_set_err(err, errlen, "%s: missing value", field);
                return -EINVAL;
        }
        for (size_t i = 0; i < NMO_ARRAY_SIZE(enums); i++) {
                const char *val = value;
                char alias[8];
                int idx;

                if (strcmp(field, enums[i].field) != 0)
                        continue;
                /* Shells make < and > awkward: accept lt10, gt75 and a trailing %. */
                if (strcmp(field, "share") == 0) {
                        size_t n = strlen(value);
                        if (strcmp(value, "lt10") == 0)
                                val = "<10";
                        else if (strcmp(value, "gt75") == 0)
                                val = ">75";
                        else if (n > 1 && n < sizeof(alias) && value[n - 1] == '%') {
                                memcpy(alias, value, n - 1);
                                alias[n - 1] = '\0';
                                val = alias;
                        }
                }
                idx = lookup(enums[i].names, enums[i].n, enums[i].first, val);
                if (idx < 0) {
                        list_names(enums[i].names, enums[i].n, enums[i].first, choices,
                                   sizeof(choices));
                        util_set_err(err, errlen, "%s: \"%.40s\" is not one of: %s", field, value,
                                choices);
                        return -EINVAL;
                }
                /* Every enum field is an int-sized protobuf-c enum. */
                *(int *)(void *)((char *)s + enums[i].offset) = idx;
                return 0;
        }
        if (strcmp(field, "material") == 0) {
                if (!vocab_material(value)) {
                        util_set_err(err, errlen, "material: unknown id \"%.40s\" (see `nmo-node "
                                "vocabulary materials`)", value);
                        return -EINVAL;
                }
                snprintf(s->material, sizeof(s->material), "%s", value);
        } else if (strcmp(field, "event") == 0) {
                if (!vocab_event(value)) {
                        util_set_err(err, errlen, "event: unknown id \"%.40s\" (see `nmo-node "
                                "vocabulary events`)", value);
                        return -EINVAL;
                }
                snprintf(s->event, sizeof(s->event), "%s", value);
        } else if (strcmp(field, "country") == 0) {
                if (!vocab_country(value)) {
                        util_set_err(err, errlen, "country: \"%.40s\" is not an ISO 3166-1 "
                                "alpha-2 code (upper case, e.g. CN)", value);
                        return -EINVAL;
                }
                snprintf(s->country, sizeof(s->country), "%s", value);
        } else if (strcmp(field, "start-date") == 0) {
                if (!date_ok(value)) {
                        util_set_err(err, errlen, "start-date: \"%.40s\" is not a date "
                                "YYYY-MM-DD", value);
                        return -EINVAL;
                }
                snprintf(s->start_date, sizeof(s->start_date), "%s", value);
        } else if (strcmp(field, "duration-days") == 0) {
                if (util_parse_u32(value, 1, SIGNAL_DURATION_MAX, &v32) < 0) {
                        util_set_err(err, errlen, "duration-days: \"%.40s\" is not a whole "
                                "number from 1 to %u", value, SIGNAL_DURATION_MAX);
                        return -EINVAL;
                }
                s->duration_days = v32;
        } else if (strcmp(field, "volume") == 0) {
                if (util_parse_u64(value, 1, SIGNAL_VOLUME_MAX, &v64) < 0) {
                        util_set_err(err, errlen, "volume: \"%.40s\" is not a whole number of "
                                "tonnes from 1 to %u", value, SIGNAL_VOLUME_MAX);
                        return -EINVAL;
                }
                s->volume_t = v64;
        } else if (strcmp(field, "note") == 0) {
                size_t n = strlen(value);
                if (n > SIGNAL_NOTE_MAX) {
                        util_set_err(err, errlen, "note: %zu bytes, at most %u allowed", n,
                                SIGNAL_NOTE_MAX);
                        return -EINVAL;
                }
                if (!util_text_ok(value, n)) {
                        util_set_err(err, errlen, "note: not valid UTF-8 text (control "
                                "characters other than tab and newline are refused)");
                        return -EINVAL;
                }
                memcpy(s->note, value, n + 1);
        } else {
                util_set_err(err, errlen, "unknown field \"%.40s\"", field);
                return -EINVAL;
        }
        return 0;
}

int signal_validate(const struct signal *s, char *err, size_t errlen)
{
        char buf[32];
        int r;

        if (!s->material[0] || !s->event[0] || s->severity == NMO__SEVERITY__SEVERITY_UNSPECIFIED ||
            !s->country[0]) {
                util_set_err(err, errlen, "missing required field: %s",
                        !s->material[0] ? "material" : !s->event[0] ? "event" :
                        s->severity == 0 ? "severity" : "country");
                return -EINVAL;
        }
        if (s->created_ms == 0) {
                util_set_err(err, errlen, "missing creation time");
                return -EINVAL;
        }
        if (s->note_consent == NMO__NOTE_CONSENT__NOTE_CONSENT_MAY_BE_SHARED && !s->note[0]) {
                util_set_err(err, errlen, "note-consent: note-may-be-shared given without a note");
                return -EINVAL;
        }
        /* The setter's rules, checked in place; a field that breaks one goes
         * through the setter (on a copy) for its exact message. */
#define RECHECK(ok, field, value)                                                 \
        do {                                                                      \
                if (!(ok)) {                                                      \
                        struct signal *copy = malloc(sizeof(*copy));              \
                        r = copy ? signal_set(copy, field, value, err, errlen)    \
                                 : -ENOMEM;                                       \
                        free(copy);                                               \
                        return r < 0 ? r : -EINVAL;                               \
                }                                                                 \
        } while (0)
        RECHECK(vocab_material(s->material), "material", s->material);
        RECHECK(vocab_event(s->event), "event", s->event);
        RECHECK(vocab_country(s->country), "country", s->country);
        /* Enumerated values: those a setter could have made (unpacking
         * range-checked them already; a caller's struct may hold anything). */
        for (size_t i = 0; i < NMO_ARRAY_SIZE(enums); i++) {
                int v = *(const int *)(const void *)((const char *)s + enums[i].offset);

                if (v == 0)
                        continue; /* absent: severity was checked above */
                if (v < (int)enums[i].first || (size_t)v >= enums[i].n) {
                        util_set_err(err, errlen, "%s: unknown value %d", enums[i].field, v);
                        return -EINVAL;
                }
        }
        if (s->start_date[0])
                RECHECK(date_ok(s->start_date), "start-date", s->start_date);
        if (s->duration_days > SIGNAL_DURATION_MAX) {
                snprintf(buf, sizeof(buf), "%u", s->duration_days);
                RECHECK(false, "duration-days", buf);
        }
        if (s->volume_t > SIGNAL_VOLUME_MAX) {
                snprintf(buf, sizeof(buf), "%llu", (unsigned long long)s->volume_t);
                RECHECK(false, "volume", buf);
        }
        if (s->note[0]) {
                size_t n = strnlen(s->note, sizeof(s->note));

                RECHECK(n <= SIGNAL_NOTE_MAX && util_text_ok(s->note, n), "note", s->note);
        }
#undef RECHECK
        return 0;
}

int signal_pack(const struct signal *s, uint8_t **buf, size_t *len)
{
        Nmo__Signal m = NMO__SIGNAL__INIT;
        uint8_t *out;
        size_t n;

        m.has_version = 1;
        m.version = 1;
        m.has_id = 1;
        m.id.data = (uint8_t *)s->id;
        m.id.len = SIGNAL_ID_BYTES;
        m.has_created_ms = 1;
        m.created_ms = s->created_ms;
        m.material = (char *)s->material;
        m.event = (char *)s->event;
        m.has_severity = 1;
        m.severity = s->severity;
        m.country = (char *)s->country;
#define OPT_ENUM(f)                          \
        do {                                 \
                if (s->f) {                  \
                        m.has_##f = 1;       \
                        m.f = s->f;          \
                }                            \
        } while (0)
        OPT_ENUM(status);
        OPT_ENUM(stage);
        OPT_ENUM(impact);
        OPT_ENUM(share);
        OPT_ENUM(confidence);
        OPT_ENUM(source);
        OPT_ENUM(duration_days);
        OPT_ENUM(volume_t);
        OPT_ENUM(note_consent);
#undef OPT_ENUM
        if (s->start_date[0])
                m.start_date = (char *)s->start_date;
        if (s->note[0])
                m.note = (char *)s->note;
        n = nmo__signal__get_packed_size(&m);
        out = malloc(n ? n : 1);
        if (!out)
                return -ENOMEM;
        *len = nmo__signal__pack(&m, out);
        *buf = out;
        return 0;
}

/* Copies an optional protobuf string into dst of cap bytes; too long is an error. */
static int copy_str(char *dst, size_t cap, const char *src)
{
        size_t n;

        if (!src) {
                dst[0] = '\0';
                return 0;
        }
        n = strlen(src);
        if (n >= cap)
                return -EBADMSG;
        memcpy(dst, src, n + 1);
        return 0;
}

int signal_unpack(struct signal *s, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
        Nmo__Signal *m;
        int r = -EBADMSG;

        memset(s, 0, sizeof(*s));
        if (len > SIGNAL_PACKED_MAX) {
                util_set_err(err, errlen, "signal larger than %d bytes", SIGNAL_PACKED_MAX);
                return -EBADMSG;
        }
        m = nmo__signal__unpack(NULL, len, buf);
        if (!m) {
                util_set_err(err, errlen, "signal is not a valid protobuf Signal");
                return -EBADMSG;
        }
        if (!m->has_version || m->version != 1) {
                util_set_err(err, errlen, "unsupported signal version");
                goto out;
        }
        if (!m->has_id || m->id.len != SIGNAL_ID_BYTES) {
                util_set_err(err, errlen, "signal id must be %d bytes", SIGNAL_ID_BYTES);
                goto out;
        }
        memcpy(s->id, m->id.data, SIGNAL_ID_BYTES);
        s->created_ms = m->has_created_ms ? m->created_ms : 0;
        if (copy_str(s->material, sizeof(s->material), m->material) < 0 ||
            copy_str(s->event, sizeof(s->event), m->event) < 0 ||
            copy_str(s->country, sizeof(s->country), m->country) < 0 ||
            copy_str(s->start_date, sizeof(s->start_date), m->start_date) < 0 ||
            copy_str(s->note, sizeof(s->note), m->note) < 0) {
                util_set_err(err, errlen, "a text field is longer than allowed");
                goto out;
        }
        /* protobuf-c keeps unknown enum numbers as they came: range-check them. */
#define ENUM_IN(f, names)                                                              \
        do {                                                                           \
                if (m->has_##f) {                                                      \
                        if ((unsigned int)m->f >= NMO_ARRAY_SIZE(names)) {             \
                                util_set_err(err, errlen, "%s: unknown value %d", #f,       \
                                        (int)m->f);                                    \
                                goto out;                                              \
                        }                                                              \
                        s->f = m->f;                                                   \
                }                                                                      \
        } while (0)
        ENUM_IN(severity, severity_names);
        ENUM_IN(status, status_names);
        ENUM_IN(stage, stage_names);
        ENUM_IN(impact, impact_names);
        ENUM_IN(share, share_names);
        ENUM_IN(confidence, confidence_names);
        ENUM_IN(source, source_names);
        ENUM_IN(note_consent, consent_names);
#undef ENUM_IN
        if (m->has_duration_days) {
                if (m->duration_days == 0) {
                        util_set_err(err, errlen, "duration-days: 0 is out of range");
                        goto out;
                }
                s->duration_days = m->duration_days;
        }
        if (m->has_volume_t) {
                if (m->volume_t == 0) {
                        util_set_err(err, errlen, "volume: 0 is out of range");
                        goto out;
                }
                s->volume_t = m->volume_t;
        }
        r = 0;
out:
        nmo__signal__free_unpacked(m, NULL);
        return r;
}
