/* reload.h: `nmo-hub serve` on SIGHUP: hub.conf read again, the settings
 * that can change while the hub runs told apart from those fixed at start
 * (sockets bound, buffers sized, disclosure parameters of released cells). */
#pragma once

#include "config.h"

/* Reads DIR/hub.conf again (over the defaults) into *next for a hub running
 * with the settings running. Values given on the command line
 * (running->*_set) are kept, and so is every setting that needs a restart;
 * the hub applies the rest of next (log level, member_rate, member_burst,
 * alert rules). Logs one line naming each applied change ("nothing
 * changed" when none), and a warning naming the changed settings that wait
 * for a restart. When hub.conf cannot be read or parsed, logs why and
 * returns its error (-EINVAL, -EFBIG, ...) with *next equal to *running. */
NMO_WUR int hub_reload_config(const char *hub_dir, const struct hub_config *running,
                              struct hub_config *next);
