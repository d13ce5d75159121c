/* vocab.h: the controlled vocabularies of a signal: material ids (EU Critical
 * Raw Materials Act), event type ids and ISO 3166-1 alpha-2 country codes.
 *
 * The tables are generated at build time from proto/data/ (the .tsv files), the project's
 * own copy. Ids are stable: never renamed, never reused. countries.tsv is kept
 * in id order (byte order), as vocab_country() searches it by halves. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct vocab_entry {
        const char *id;
        const char *name;  /* materials: name; events: category; countries: name */
        const char *extra; /* materials: critical flag; events: meaning */
};

extern const struct vocab_entry vocab_materials[];
extern const size_t vocab_materials_count;
extern const struct vocab_entry vocab_events[];
extern const size_t vocab_events_count;
extern const struct vocab_entry vocab_countries[];
extern const size_t vocab_countries_count;

/* Looks id up in a table; NULL when it is not there. */
const struct vocab_entry *vocab_material(const char *id);
const struct vocab_entry *vocab_event(const char *id);
const struct vocab_entry *vocab_country(const char *id);
