/* signal.h: a supply-disruption signal in memory, its fields by name (as the
 * options of `nmo-node submit` and the keys of its JSONL input), validation,
 * and its protobuf encoding (proto/signal.proto).
 *
 * Both ends validate with the same code: the node before it queues a signal, the
 * hub before it stores one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "signal.pb-c.h"

#define SIGNAL_ID_BYTES 16
#define SIGNAL_ID_HEX (2 * SIGNAL_ID_BYTES + 1)
#define SIGNAL_NOTE_MAX 1000
#define SIGNAL_DURATION_MAX 3650u
#define SIGNAL_VOLUME_MAX 100000000u
/* How far ahead of the hub's clock a signal's creation time may be. */
#define SIGNAL_CLOCK_SKEW_MS (15u * 60u * 1000u)
/* Largest serialised Signal (the note dominates). */
#define SIGNAL_PACKED_MAX 2048

struct signal {
        uint8_t id[SIGNAL_ID_BYTES];
        uint64_t created_ms;
        char material[32];
        char event[32];
        char country[3];
        Nmo__Severity severity;
        Nmo__EventStatus status;
        Nmo__Stage stage;
        char start_date[11];        /* YYYY-MM-DD or empty */
        uint32_t duration_days;     /* 0: not given */
        Nmo__Impact impact;
        Nmo__Share share;
        uint64_t volume_t;          /* 0: not given */
        Nmo__Confidence confidence;
        Nmo__Source source;
        char note[SIGNAL_NOTE_MAX + 1];
        Nmo__NoteConsent note_consent;
};

/* The field names signal_set() takes, in the order `--help` lists them, each
 * with a one-line description. */
struct signal_field {
        const char *name;
        const char *help;
        bool required;
};
extern const struct signal_field signal_fields[];
extern const size_t signal_fields_count;

/* A fresh signal id: the time in milliseconds (48 bits, big-endian), then 80
 * random bits (PROTOCOL.md 4.1). */
void signal_new_id(uint8_t id[SIGNAL_ID_BYTES], uint64_t now_ms);

/* Clears s, gives it a fresh id and the current time. */
void signal_init(struct signal *s);

/* Sets one field from its text form ("severity", "high"). Unknown fields and
 * bad values: -EINVAL and a one-line reason in err. */
NMO_WUR int signal_set(struct signal *s, const char *field, const char *value, char *err,
                       size_t errlen);

/* Checks every field: required ones present, every value in its vocabulary or
 * range. Returns 0, or -EINVAL with the first problem in err. */
NMO_WUR int signal_validate(const struct signal *s, char *err, size_t errlen);

/* Serialises s into a fresh buffer (free()). */
NMO_WUR int signal_pack(const struct signal *s, uint8_t **buf, size_t *len);

/* Parses a serialised Signal into s. Structure only (lengths, version, enum
 * ranges); call signal_validate() for the rest. -EBADMSG with err on failure. */
NMO_WUR int signal_unpack(struct signal *s, const uint8_t *buf, size_t len, char *err,
                          size_t errlen);

/* Text names of enum values ("high", "in-effect", "10-25"); "" for unspecified. */
const char *signal_severity_name(Nmo__Severity v);
const char *signal_status_name(Nmo__EventStatus v);
const char *signal_stage_name(Nmo__Stage v);
const char *signal_impact_name(Nmo__Impact v);
const char *signal_share_name(Nmo__Share v);
const char *signal_confidence_name(Nmo__Confidence v);
const char *signal_source_name(Nmo__Source v);
const char *signal_consent_name(Nmo__NoteConsent v);

/* Hex form of a signal id (SIGNAL_ID_HEX bytes with NUL), and its parse. */
void signal_id_hex(const uint8_t id[SIGNAL_ID_BYTES], char out[SIGNAL_ID_HEX]);
NMO_WUR int signal_id_parse(const char *hex, uint8_t id[SIGNAL_ID_BYTES]);
