/* log.h: one-line log records on stderr for the daemons and tools.
 *
 * Records carry a UTC timestamp, the program name and a level. Under systemd,
 * when stderr is the journal (JOURNAL_STREAM names it), a record is instead
 * the syslog priority prefix (<3> error, <4> warning, <6> info, <7> debug),
 * the level and the message: the journal adds time and program, and
 * `journalctl -p err` selects by the prefix. They never carry secrets or
 * signal content: callers log ids, counts and reasons only. */
#pragma once

enum log_level {
        LOG_LEVEL_ERROR = 0,
        LOG_LEVEL_WARN = 1,
        LOG_LEVEL_INFO = 2,
        LOG_LEVEL_DEBUG = 3,
};

/* Sets the program name printed in each record and the most verbose level
 * shown, and looks whether stderr is the journal (again at each call). */
void log_setup(const char *program, enum log_level level);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
