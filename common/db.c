/* db.c: see db.h. */
#include "db.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "log.h"

int db_errno(int rc)
{
        switch (rc) {
        case MDB_SUCCESS:
                return 0;
        case MDB_NOTFOUND:
                return -ENOENT;
        case MDB_KEYEXIST:
                return -EEXIST;
        case MDB_MAP_FULL:
                return -EFBIG;
        case MDB_MAP_RESIZED:
        case MDB_READERS_FULL:
                return -EAGAIN;
        case MDB_DBS_FULL:
                return -EMFILE;
        case MDB_TXN_FULL:
        case MDB_BAD_VALSIZE:
                return -E2BIG;
        case MDB_VERSION_MISMATCH:
        case MDB_INCOMPATIBLE:
                return -EPROTO;
        case MDB_PAGE_NOTFOUND:
        case MDB_CORRUPTED:
        case MDB_INVALID:
        case MDB_PANIC:
                return -EIO;
        default:
                return rc > 0 ? -rc : -EIO;
        }
}

/* Held shared by every transaction of this process, exclusively to resize. */
struct env_lock {
        pthread_rwlock_t lock;
        /* A write found the disk full and said so; cleared by a commit. */
        int disk_full;
};

static pthread_rwlock_t *env_lock(MDB_env *env)
{
        struct env_lock *l = mdb_env_get_userctx(env);

        return l ? &l->lock : NULL;
}

int db_env_open(MDB_env **ret, const char *dir, unsigned int maxdbs, size_t mapsize,
                unsigned int flags)
{
        MDB_env *env = NULL;
        MDB_envinfo info;
        int rc, r;

        if (!(flags & MDB_RDONLY)) {
                r = util_mkdir_p(dir, 0700);
                if (r < 0)
                        return r;
        }
        rc = mdb_env_create(&env);
        if (rc)
                return db_errno(rc);
        {
                struct env_lock *l = calloc(1, sizeof(*l));

                if (!l || pthread_rwlock_init(&l->lock, NULL) != 0) {
                        free(l);
                        mdb_env_close(env);
                        return -ENOMEM;
                }
                (void)mdb_env_set_userctx(env, l);
        }
        rc = mdb_env_set_maxdbs(env, maxdbs);
        if (!rc)
                rc = mdb_env_set_maxreaders(env, 256);
        if (!rc)
                rc = mdb_env_set_mapsize(env, mapsize);
        /* MDB_NOTLS: read transactions are tied to the transaction object, not the
         * thread, so a long-lived reader may be renewed from any thread.
         * MDB_NORDAHEAD: pages read through the map come in one by one, not as
         * large read-ahead folios, of which a commit that changes one page
         * would write back all (measured: up to 2 MiB for a 4 KiB page). */
        if (!rc)
                rc = mdb_env_open(env, dir, flags | MDB_NOTLS | MDB_NORDAHEAD, 0600);
        if (rc)
                goto fail;
        /* Another process may have grown the map past our initial size. */
        if (mdb_env_info(env, &info) == 0 && info.me_mapsize < mapsize &&
            !(flags & MDB_RDONLY))
                rc = mdb_env_set_mapsize(env, mapsize);
        if (rc)
                goto fail;
        /* Readers left by processes that were killed hold pages forever. */
        (void)mdb_reader_check(env, NULL);
        *ret = env;
        return 0;
fail:
        db_env_close(env);
        return db_errno(rc);
}

void db_env_close(MDB_env *env)
{
        struct env_lock *l;

        if (!env)
                return;
        l = mdb_env_get_userctx(env);
        mdb_env_close(env);
        if (l) {
                pthread_rwlock_destroy(&l->lock);
                free(l);
        }
}

int db_txn_begin(MDB_env *env, unsigned int flags, MDB_txn **txn)
{
        pthread_rwlock_t *l = env_lock(env);
        int rc;

        if (l)
                pthread_rwlock_rdlock(l);
        rc = mdb_txn_begin(env, NULL, flags, txn);
        if (rc == MDB_MAP_RESIZED) {
                /* Another process grew the map: adopt its size, alone. */
                if (l) {
                        pthread_rwlock_unlock(l);
                        pthread_rwlock_wrlock(l);
                }
                rc = mdb_env_set_mapsize(env, 0);
                if (l) {
                        pthread_rwlock_unlock(l);
                        pthread_rwlock_rdlock(l);
                }
                if (!rc)
                        rc = mdb_txn_begin(env, NULL, flags, txn);
        }
        if (rc && l)
                pthread_rwlock_unlock(l);
        return db_errno(rc);
}

int db_txn_commit(MDB_txn *txn)
{
        pthread_rwlock_t *l = env_lock(mdb_txn_env(txn));
        int rc = mdb_txn_commit(txn);

        if (l)
                pthread_rwlock_unlock(l);
        return rc;
}

void db_txn_abort(MDB_txn *txn)
{
        pthread_rwlock_t *l = env_lock(mdb_txn_env(txn));

        mdb_txn_abort(txn);
        if (l)
                pthread_rwlock_unlock(l);
}

int db_env_grow(MDB_env *env)
{
        pthread_rwlock_t *l = env_lock(env);
        MDB_envinfo info;
        size_t next;
        int rc;

        if (l)
                pthread_rwlock_wrlock(l);
        rc = mdb_env_info(env, &info);
        if (rc)
                goto out;
        if (info.me_mapsize >= DB_MAP_MAX) {
                rc = EFBIG;
                goto out;
        }
        next = info.me_mapsize * 2;
        if (next > DB_MAP_MAX)
                next = DB_MAP_MAX;
        rc = mdb_env_set_mapsize(env, next);
        if (!rc)
                log_info("store map grown from %zu to %zu MiB", info.me_mapsize >> 20,
                         next >> 20);
out:
        if (l)
                pthread_rwlock_unlock(l);
        return rc == EFBIG ? -EFBIG : db_errno(rc);
}

/* Says once that the disk of env is full, with what is left, and once that
 * it is not any longer. */
static void note_disk_full(MDB_env *env, bool full)
{
        struct env_lock *l = mdb_env_get_userctx(env);
        const char *path = NULL;
        struct statvfs vfs;

        if (!l || __atomic_exchange_n(&l->disk_full, full, __ATOMIC_RELAXED) == (int)full)
                return;
        if (mdb_env_get_path(env, &path) != 0 || !path)
                path = "?";
        if (!full)
                log_info("disk space on %s suffices again: writes go on", path);
        else if (statvfs(path, &vfs) == 0)
                log_error("disk full on %s: %llu bytes free; not growing the store, "
                          "retrying later", path,
                          (unsigned long long)vfs.f_bavail * (unsigned long long)vfs.f_frsize);
        else
                log_error("disk full on %s; not growing the store, retrying later", path);
}

/* LMDB reports a write that the file system cut short as EIO ("short
 * write, filesystem full?" in mdb_page_flush()), not ENOSPC: it is a full
 * disk when no block is left to write into. */
static bool disk_is_full(MDB_env *env)
{
        const char *path = NULL;
        struct statvfs vfs;

        return mdb_env_get_path(env, &path) == 0 && path && statvfs(path, &vfs) == 0 &&
               (vfs.f_bavail == 0 || vfs.f_bfree == 0);
}

int db_write(MDB_env *env, int (*fn)(MDB_txn *txn, void *userdata), void *userdata)
{
        const char *path = NULL;

        for (;;) {
                MDB_txn *txn = NULL;
                int r;

                r = db_txn_begin(env, 0, &txn);
                if (r < 0)
                        return r;
                r = fn(txn, userdata);
                if (r < 0) {
                        db_txn_abort(txn);
                } else {
                        r = db_errno(db_txn_commit(txn));
                        if (r == -EIO && disk_is_full(env))
                                r = -ENOSPC;
                }
                if (r == -ENOSPC)
                        note_disk_full(env, true);
                else if (r == 0)
                        note_disk_full(env, false);
                if (r != -EFBIG)
                        return r;
                r = db_env_grow(env);
                if (r < 0) {
                        if (mdb_env_get_path(env, &path) != 0 || !path)
                                path = "?";
                        log_error("store %s cannot grow further: %s", path,
                                  r == -EFBIG ? "its map reached 1 TiB" : strerror(-r));
                        return r;
                }
        }
}

int db_read(MDB_env *env, int (*fn)(MDB_txn *txn, void *userdata), void *userdata)
{
        MDB_txn *txn = NULL;
        int r;

        r = db_txn_begin(env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        r = fn(txn, userdata);
        if (r == 0)
                r = db_errno(db_txn_commit(txn));
        else
                db_txn_abort(txn);
        return r;
}

int db_dbi_open(MDB_txn *txn, const char *name, unsigned int flags, MDB_dbi *dbi)
{
        unsigned int tflags = 0;

        if (mdb_env_get_flags(mdb_txn_env(txn), &tflags) == 0 && (tflags & MDB_RDONLY))
                flags &= ~(unsigned int)MDB_CREATE;
        return db_errno(mdb_dbi_open(txn, name, flags, dbi));
}
