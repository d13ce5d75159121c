/* cli.c: what the analyst's commands share on their command lines, on top of
 * common/cli.h: the vocabulary checks with their suggestions, the output
 * form, and the date, week and month bounds. */
#include "analyst.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "date.h"
#include "period.h"
#include "vocab.h"

int analyst_finish_output(void)
{
        if (fflush(stdout) != 0 || ferror(stdout))
                return cli_fail("cannot write the output: %s",
                                strerror(errno ? errno : EIO));
        return CLI_EXIT_OK;
}

bool analyst_check_material(const char *cmd, const char *id)
{
        if (vocab_material(id))
                return true;
        for (size_t i = 0; i < vocab_materials_count; i++)
                if (strcasecmp(id, vocab_materials[i].id) == 0 ||
                    strcasecmp(id, vocab_materials[i].name) == 0) {
                        cli_usage(cmd, "unknown material '%s'; did you mean '%s'?", id,
                                  vocab_materials[i].id);
                        return false;
                }
        cli_usage(cmd, "unknown material '%s'; 'nmo-analyst materials' lists the "
                  "material ids", id);
        return false;
}

bool analyst_check_event(const char *cmd, const char *id)
{
        char list[1024];
        size_t o = 0;

        if (vocab_event(id))
                return true;
        for (size_t i = 0; i < vocab_events_count; i++)
                if (strcasecmp(id, vocab_events[i].id) == 0) {
                        cli_usage(cmd, "unknown event type '%s'; did you mean '%s'?",
                                  id, vocab_events[i].id);
                        return false;
                }
        list[0] = 0;
        for (size_t i = 0; i < vocab_events_count && o < sizeof(list); i++)
                o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
                                      vocab_events[i].id);
        cli_usage(cmd, "unknown event type '%s'; the event types are: %s", id, list);
        return false;
}

bool analyst_check_country(const char *cmd, const char *id, const char **out)
{
        for (size_t i = 0; i < vocab_countries_count; i++)
                if (strcasecmp(id, vocab_countries[i].id) == 0) {
                        *out = vocab_countries[i].id;
                        return true;
                }
        cli_usage(cmd, "unknown country code '%s'; use an ISO 3166-1 alpha-2 code "
                  "such as CN or CD", id);
        return false;
}

bool analyst_check_store(const char *cmd, const char *store)
{
        if (store)
                return true;
        cli_required(cmd, "--store DIR");
        return false;
}

bool analyst_set_format(const char *cmd, enum analyst_format *out, enum analyst_format f)
{
        if (*out != ANALYST_OUT_TABLE && *out != f) {
                cli_usage(cmd, "--json and --csv cannot be combined");
                return false;
        }
        *out = f;
        return true;
}

int analyst_parse_bound(const char *s, bool upper, int64_t *day)
{
        int64_t first, last;

        if (date_parse(s, day) == 0)
                return 0;
        if (period_range(s, &first, &last, NULL) < 0)
                return -EINVAL;
        *day = upper ? last : first;
        return 0;
}

int64_t analyst_today(void)
{
        return date_day_of_ms(util_now_ms());
}
