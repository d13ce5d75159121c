/* analytics.c: see analytics.h. */
#include "analytics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"

#define ANALYTICS_INITIAL_MAP ((size_t)32 << 20)

const char *analytics_kind_name(Nmo__Hub__CellKind kind)
{
        switch (kind) {
        case NMO__HUB__CELL_KIND__CELL_EVENT_WEEK:
                return "event-week";
        case NMO__HUB__CELL_KIND__CELL_MATERIAL_WEEK:
                return "material-week";
        case NMO__HUB__CELL_KIND__CELL_EVENT_MONTH:
                return "event-month";
        case NMO__HUB__CELL_KIND__CELL_COUNTRY_WEEK:
                return "country-week";
        default:
                return "unknown";
        }
}

const char *analytics_suppression_name(Nmo__Hub__Suppression s)
{
        switch (s) {
        case NMO__HUB__SUPPRESSION__SUPPRESSION_NONE:
                return "none";
        case NMO__HUB__SUPPRESSION__SUPPRESSION_FREQUENCY:
                return "frequency";
        case NMO__HUB__SUPPRESSION__SUPPRESSION_SECONDARY:
                return "secondary";
        default:
                return "unknown";
        }
}

/* Opens the named databases and checks (after writing it, for the hub) the
 * format record, in txn; an is the store. Run by db_write() or db_read(),
 * which commit on success, also when read-only, so the handles stay open. */
static int open_dbis_txn(MDB_txn *txn, void *userdata)
{
        struct analytics *an = userdata;
        MDB_val k = { 6, "format" }, v;
        unsigned int f = an->readonly ? 0 : MDB_CREATE;
        int r;

        r = db_errno(mdb_dbi_open(txn, "meta", f, &an->meta));
        if (r == -ENOENT)
                return -EMEDIUMTYPE; /* an LMDB environment, but not ours */
        if (r == 0 && !an->readonly) {
                v.mv_size = strlen(ANALYTICS_FORMAT);
                v.mv_data = ANALYTICS_FORMAT;
                r = db_errno(mdb_put(txn, an->meta, &k, &v, 0));
        }
        if (r == 0) {
                r = db_errno(mdb_get(txn, an->meta, &k, &v));
                if (r == 0 && (v.mv_size != strlen(ANALYTICS_FORMAT) ||
                               memcmp(v.mv_data, ANALYTICS_FORMAT, v.mv_size) != 0))
                        r = -EMEDIUMTYPE;
                if (r == -ENOENT)
                        r = -EMEDIUMTYPE;
        }
        if (r == 0)
                r = db_errno(mdb_dbi_open(txn, "cells", f, &an->cells));
        if (r == 0)
                r = db_errno(mdb_dbi_open(txn, "alerts", f, &an->alerts));
        if (r == 0) {
                r = db_errno(mdb_dbi_open(txn, "releases", f, &an->releases));
                an->has_releases = r == 0;
                if (r == -ENOENT)
                        r = 0;
        }
        return r;
}

/* The hub creates the databases in a write transaction like every other
 * (growing the map if need be); an analyst only reads. */
static int open_dbis(struct analytics *an)
{
        if (an->readonly)
                return db_read(an->env, open_dbis_txn, an);
        return db_write(an->env, open_dbis_txn, an);
}

int analytics_open(struct analytics **ret, const char *dir, bool readonly)
{
        struct analytics *an;
        struct stat st;
        char *lock = NULL;
        int r;

        if (readonly) {
                char *data = util_path(dir, "data.mdb");

                if (!data)
                        return -ENOMEM;
                r = stat(dir, &st) < 0 ? -errno : 0;
                if (r == 0 && stat(data, &st) < 0)
                        r = errno == ENOENT ? -EMEDIUMTYPE : -errno;
                free(data);
                if (r < 0)
                        return r;
        }
        an = calloc(1, sizeof(*an));
        if (!an)
                return -ENOMEM;
        an->readonly = readonly;
        if (!readonly) {
                r = util_mkdir_p(dir, 0750);
                if (r < 0)
                        goto fail;
                (void)chmod(dir, 0750);
        }
        r = db_env_open(&an->env, dir, 4, ANALYTICS_INITIAL_MAP, readonly ? MDB_RDONLY : 0);
        if (r < 0)
                goto fail;
        if (!readonly) {
                char *data = util_path(dir, "data.mdb");

                lock = util_path(dir, "lock.mdb");
                if (data)
                        (void)chmod(data, 0640);
                /* Readers register in the lock file, so they need to write it. */
                if (lock)
                        (void)chmod(lock, 0660);
                free(data);
        }
        r = open_dbis(an);
        if (r < 0)
                goto fail;
        free(lock);
        *ret = an;
        return 0;
fail:
        free(lock);
        analytics_free(an);
        return r;
}

void analytics_free(struct analytics *an)
{
        if (!an)
                return;
        if (an->env)
                db_env_close(an->env);
        free(an);
}

static int append(uint8_t *buf, size_t *off, const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (*off + n + 1 > ANALYTICS_KEY_MAX)
                return -E2BIG;
        memcpy(buf + *off, s ? s : "", n);
        buf[*off + n] = 0;
        *off += n + 1;
        return 0;
}

int analytics_cell_key(const Nmo__Hub__Cell *c, uint8_t *buf, size_t *len)
{
        size_t off = 0;
        int r;

        r = append(buf, &off, c->material);
        if (r < 0)
                return r;
        if (off + 1 > ANALYTICS_KEY_MAX)
                return -E2BIG;
        buf[off++] = (uint8_t)c->kind;
        r = append(buf, &off, c->period);
        if (!r)
                r = append(buf, &off, c->event);
        if (!r)
                r = append(buf, &off, c->country);
        *len = off;
        return r;
}

int analytics_foreach_cell(struct analytics *an, const char *material,
                           int (*fn)(const Nmo__Hub__Cell *, void *), void *userdata)
{
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        size_t plen = material ? strlen(material) + 1 : 0;
        int rc, r;

        r = db_txn_begin(an->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, an->cells, &cur);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        k.mv_size = plen;
        k.mv_data = (void *)material;
        for (rc = mdb_cursor_get(cur, &k, &v, material ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                Nmo__Hub__Cell *c;

                if (material && (k.mv_size < plen || memcmp(k.mv_data, material, plen) != 0))
                        break;
                c = nmo__hub__cell__unpack(NULL, v.mv_size, v.mv_data);
                if (!c) {
                        r = -EBADMSG;
                        break;
                }
                r = fn(c, userdata);
                nmo__hub__cell__free_unpacked(c, NULL);
                if (r < 0)
                        break;
        }
        if (r == 0 && rc && rc != MDB_NOTFOUND)
                r = db_errno(rc);
out:
        if (cur)
                mdb_cursor_close(cur);
        db_txn_abort(txn);
        return r;
}

int analytics_foreach_alert(struct analytics *an,
                            int (*fn)(const uint8_t *, size_t, const Nmo__AlertBody *, void *),
                            void *userdata)
{
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r;

        r = db_txn_begin(an->env, MDB_RDONLY, &txn);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, an->alerts, &cur);
        if (rc) {
                r = db_errno(rc);
                goto out;
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                Nmo__SignedAlert *sa = nmo__signed_alert__unpack(NULL, v.mv_size, v.mv_data);
                Nmo__AlertBody *b = NULL;

                if (sa && sa->has_body)
                        b = nmo__alert_body__unpack(NULL, sa->body.len, sa->body.data);
                if (!b) {
                        if (sa)
                                nmo__signed_alert__free_unpacked(sa, NULL);
                        r = -EBADMSG;
                        break;
                }
                r = fn(v.mv_data, v.mv_size, b, userdata);
                nmo__alert_body__free_unpacked(b, NULL);
                nmo__signed_alert__free_unpacked(sa, NULL);
                if (r < 0)
                        break;
        }
        if (r == 0 && rc && rc != MDB_NOTFOUND)
                r = db_errno(rc);
out:
        if (cur)
                mdb_cursor_close(cur);
        db_txn_abort(txn);
        return r;
}

struct release_walk {
        struct analytics *an;
        int (*fn)(const Nmo__Hub__Release *, void *);
        void *userdata;
};

static int release_walk_txn(MDB_txn *txn, void *userdata)
{
        struct release_walk *w = userdata;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r = 0;

        rc = mdb_cursor_open(txn, w->an->releases, &cur);
        if (rc)
                return db_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                Nmo__Hub__Release *rel = nmo__hub__release__unpack(NULL, v.mv_size, v.mv_data);

                if (!rel) {
                        r = -EBADMSG;
                        break;
                }
                r = w->fn(rel, w->userdata);
                nmo__hub__release__free_unpacked(rel, NULL);
        }
        mdb_cursor_close(cur);
        if (r == 0 && rc != MDB_NOTFOUND)
                r = db_errno(rc);
        return r;
}

int analytics_foreach_release(struct analytics *an,
                              int (*fn)(const Nmo__Hub__Release *, void *), void *userdata)
{
        struct release_walk w = { an, fn, userdata };

        if (!an->has_releases)
                return 0;
        return db_read(an->env, release_walk_txn, &w);
}
