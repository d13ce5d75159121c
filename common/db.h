/* db.h: the one place that talks to LMDB's environment: opening with the
 * project's defaults, error conversion, and growing the map instead of failing.
 *
 * Both the hub and the node keep every durable byte in LMDB. Commits use LMDB's
 * default durable mode (fsync on commit), so a committed transaction survives a
 * crash of the process or the machine. */
#pragma once

#include <stddef.h>
#include <lmdb.h>

#include "util.h"

/* Largest map any store grows to: a bound, not an allocation (the map is sparse). */
#define DB_MAP_MAX ((size_t)1 << 40)

/* Converts an LMDB return code (MDB_* or errno) into a negative errno.
 * MDB_MAP_FULL (the map, a bound we set, is full) is -EFBIG; -ENOSPC is left
 * for the file system (a write failed because the disk is full), which a
 * larger map would not help. */
int db_errno(int mdb_rc);

/* Opens the environment in directory dir (created with mode 0700 unless
 * MDB_RDONLY is in flags) for up to maxdbs named databases. mapsize is the
 * initial map size; a larger size already on disk is kept. On success *ret owns
 * the environment; close it with db_env_close(). */
NMO_WUR int db_env_open(MDB_env **ret, const char *dir, unsigned int maxdbs, size_t mapsize,
                        unsigned int flags);

/* Closes an environment opened with db_env_open(); accepts NULL. */
void db_env_close(MDB_env *env);

/* Begins a transaction, adopting a map grown by another process on the way.
 *
 * The map may only be resized while no transaction of this process is open
 * (threads share the mapping): every transaction begun here holds the
 * environment's lock shared until db_txn_commit() or db_txn_abort(), and
 * db_env_grow() takes it exclusively. Never end these with mdb_txn_commit()
 * or mdb_txn_abort() directly. */
NMO_WUR int db_txn_begin(MDB_env *env, unsigned int flags, MDB_txn **txn);

/* Commits (returning LMDB's code, like mdb_txn_commit()) or aborts a
 * transaction begun with db_txn_begin(). */
int db_txn_commit(MDB_txn *txn);
void db_txn_abort(MDB_txn *txn);

/* Doubles the map size after MDB_MAP_FULL. The calling thread must have no
 * transaction open in env; other threads' transactions are waited for.
 * Returns -EFBIG once DB_MAP_MAX is reached. */
NMO_WUR int db_env_grow(MDB_env *env);

/* Runs fn(txn, userdata) in one write transaction of env (opened with
 * db_env_open()) and commits it durably; fn returns 0 or a negative errno
 * (LMDB codes through db_errno()), and a failure aborts the transaction.
 *
 * A full map (-EFBIG from fn, MDB_MAP_FULL from the commit) aborts, grows the
 * map (db_env_grow()) and runs fn again from scratch, so fn must reset
 * whatever it reports through userdata. A full file system (-ENOSPC, or a
 * commit that LMDB reports as an I/O error, a write cut short, while the file
 * system has no block left) is not a full map: nothing is grown, "disk full
 * on DIR: N bytes free" is logged once (until a commit succeeds again, which
 * is logged too) and -ENOSPC returned, for the caller to refuse or retry
 * later. -EFBIG when the map reached DB_MAP_MAX; otherwise what fn or the
 * commit failed with. */
NMO_WUR int db_write(MDB_env *env, int (*fn)(MDB_txn *txn, void *userdata), void *userdata);

/* Runs fn(txn, userdata) in one read-only transaction of env. The
 * transaction is committed when fn returns 0, so the database handles fn
 * opened stay open for the life of env (aborting would close them), and
 * aborted otherwise. Returns what fn or the commit returned. */
NMO_WUR int db_read(MDB_env *env, int (*fn)(MDB_txn *txn, void *userdata), void *userdata);

/* Opens (creating unless the transaction is read-only) the named database. */
NMO_WUR int db_dbi_open(MDB_txn *txn, const char *name, unsigned int flags, MDB_dbi *dbi);
