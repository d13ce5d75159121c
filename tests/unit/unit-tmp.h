/* unit-tmp.h: a private temporary directory for one unit test program.
 *
 * Tests never write into the current directory: each program makes a fresh
 * directory under $TMPDIR (or /tmp) with mkdtemp() and removes it, with
 * everything in it, when it ends. */
#pragma once

/* _GNU_SOURCE (for nftw) comes from the project's compiler arguments. */

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int unit_tmp_rm_one(const char *path, const struct stat *st, int type,
                                  struct FTW *ftw)
{
        (void)st;
        (void)type;
        (void)ftw;
        return remove(path) < 0 ? -errno : 0;
}

/* Creates the directory into buf (PATH_MAX bytes); NULL on failure. */
static inline char *unit_tmp_make(char *buf, size_t len, const char *tag)
{
        const char *base = getenv("TMPDIR");

        if (!base || !*base)
                base = "/tmp";
        if (snprintf(buf, len, "%s/nmo-%s-XXXXXX", base, tag) >= (int)len)
                return NULL;
        return mkdtemp(buf);
}

/* Removes the directory and everything under it. */
static inline int unit_tmp_remove(const char *dir)
{
        return nftw(dir, unit_tmp_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
