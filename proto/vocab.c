/* vocab.c: look-ups in the generated vocabulary tables. See vocab.h. */
#include "vocab.h"

#include <stdlib.h>
#include <string.h>

static const struct vocab_entry *find(const struct vocab_entry *t, size_t n, const char *id)
{
        if (!id)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (strcmp(t[i].id, id) == 0)
                        return &t[i];
        return NULL;
}

const struct vocab_entry *vocab_material(const char *id)
{
        return find(vocab_materials, vocab_materials_count, id);
}

const struct vocab_entry *vocab_event(const char *id)
{
        return find(vocab_events, vocab_events_count, id);
}

static int by_id(const void *key, const void *entry)
{
        return strcmp(key, ((const struct vocab_entry *)entry)->id);
}

/* Every signal is checked against 249 countries: a binary search, as
 * countries.tsv is in id order (test-signal checks that it stays so). */
const struct vocab_entry *vocab_country(const char *id)
{
        if (!id)
                return NULL;
        return bsearch(id, vocab_countries, vocab_countries_count, sizeof(vocab_countries[0]),
                       by_id);
}
