/* commands.c: the command table of nmo-analyst and its global help. */
#include "analyst.h"

#include <string.h>

const struct analyst_command analyst_commands[] = {
        { "cells", analyst_cmd_cells, "released and suppressed cells: table, JSON or CSV" },
        { "alerts", analyst_cmd_alerts, "the alerts the hub issued" },
        { "trend", analyst_cmd_trend, "reports per week for one material, as a small chart" },
        { "materials", analyst_cmd_materials, "every material and its latest activity" },
        { "releases", analyst_cmd_releases, "the hub's releases and the next release point" },
};
const size_t analyst_commands_count = NMO_ARRAY_SIZE(analyst_commands);

const struct analyst_command *analyst_command_find(const char *name)
{
        for (size_t i = 0; i < analyst_commands_count; i++)
                if (strcmp(name, analyst_commands[i].name) == 0)
                        return &analyst_commands[i];
        return NULL;
}

const char analyst_help[] =
        "Usage: nmo-analyst --store DIR COMMAND [OPTIONS]\n"
        "\n"
        "Reads the GDN hub's analytics store: the figures that disclosure control\n"
        "released, and the alerts the hub issued. Nothing in it names or links to a\n"
        "member. The store is opened read-only, so this is safe while the hub runs.\n"
        "\n"
        "Commands:\n"
        "  cells      released and suppressed cells: table, JSON or CSV\n"
        "  alerts     the alerts the hub issued\n"
        "  trend      reports per week for one material, as a small chart\n"
        "  materials  every material and its latest activity\n"
        "  releases   the hub's releases and the next release point\n"
        "\n"
        "Options:\n"
        "  --store DIR    the hub's analytics store, HUB_DIR/analytics (required; also\n"
        "                 accepted after the command). Analysts need to be in the\n"
        "                 group that owns it.\n"
        "  -h, --help     this help; 'nmo-analyst COMMAND --help' (or 'nmo-analyst\n"
        "                 help COMMAND') explains a command and its columns\n"
        "  -V, --version  print the version\n"
        "\n"
        ANALYST_DISCLOSURE_RULE
        "\n"
        ANALYST_RELEASES
        "\n"
        "Exit status: 0 success (also when nothing matches), 1 failure (the store is\n"
        "missing, not an analytics store, unreadable or damaged), 2 usage error\n"
        "(unknown command or option, malformed date, unknown material, event type or\n"
        "country).\n";

