/* vocab.c: look-ups in the generated vocabulary tables. See vocab.h. */
#include "vocab.h"

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

const struct vocab_entry *vocab_country(const char *id)
{
        return find(vocab_countries, vocab_countries_count, id);
}
