/* log.c: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *log_program = "nmo";
static enum log_level log_level_max = LOG_LEVEL_INFO;
static bool log_journal;

/* Is stderr the journal? systemd sets JOURNAL_STREAM to the device and inode
 * of the stream it connected; stderr redirected elsewhere no longer matches. */
static bool stderr_is_journal(void)
{
        const char *js = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        char end;

        if (!js || sscanf(js, "%llu:%llu%c", &dev, &ino, &end) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(const char *program, enum log_level level)
{
        if (program)
                log_program = program;
        log_level_max = level;
        log_journal = stderr_is_journal();
}

enum log_level log_get_level(void)
{
        return log_level_max;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
        static const char *const names[] = { "error", "warning", "info", "debug" };
        char stamp[64] = "";
        struct timespec ts;
        struct tm tm;
        va_list ap;

        if (level > log_level_max)
                return;
        if (log_journal) {
                /* The journal keeps time and program itself; the syslog
                 * priority prefix makes journalctl -p work. */
                static const char prio[] = { '3', '4', '6', '7' };

                flockfile(stderr);
                fprintf(stderr, "<%c>%s: ", prio[level], names[level]);
                va_start(ap, fmt);
                vfprintf(stderr, fmt, ap);
                va_end(ap);
                fputc('\n', stderr);
                funlockfile(stderr);
                return;
        }
        if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && gmtime_r(&ts.tv_sec, &tm))
                snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                         tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);

        flockfile(stderr);
        fprintf(stderr, "%s %s %s: ", stamp, log_program, names[level]);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        funlockfile(stderr);
}
