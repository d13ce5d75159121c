/* nmo-lazyfs: a pass-through FUSE file system that, on command, loses what a
 * power cut would lose. tests/fault/power-cut.sh runs the hub's and a node's
 * directories on it; kill -9 alone cannot show durability, because the page
 * cache outlives the process.
 *
 *   nmo-lazyfs [--debug] [--seed N] BACKING MOUNTPOINT
 *
 * Every operation goes through to the directory BACKING at once. For each
 * regular file written since its last fsync, the file system keeps an undo
 * log: the pre-images of the ranges that writes and truncations replaced, and
 * the file's size at its last fsync. SIGUSR1 is the power cut: the file
 * system stops answering, unmounts (the kernel drops the connection and,
 * with the last user of the mount gone, its page cache of these files), rolls
 * every file back to its state at its last fsync and exits. SIGINT, SIGTERM,
 * SIGHUP or `fusermount3 -u` is a clean shutdown that keeps everything. The
 * caller kills every process using the mount with SIGKILL before the cut and
 * mounts again afterwards to "boot" on what survived.
 *
 * A cut at a random moment mostly finds every file synced: programs that
 * sync at once leave unsynced data for a few milliseconds at a time. SIGUSR2
 * arms a cut for such a moment: after the 1st to 4th write from then on
 * (drawn from --seed) that leaves unsynced data, the file system freezes. It
 * answers that write, then nothing more, and logs "frozen". Callers block:
 * SIGKILL ends most of them, but one that waits for the write-back of its
 * mapped pages ends only at the cut, which aborts the connection first.
 * Nothing after the freeze becomes durable, so the power failed
 * there, although the processes run on until they touch the file system or
 * are killed. SIGUSR1 then cuts as above. A correct program acknowledges
 * nothing that is not durable, so the time between the freeze and the kill
 * can only reveal more.
 *
 * What it models:
 *   - write, pwrite and pages of shared writable mappings that the kernel has
 *     written back reach BACKING at once but are lost by a cut until the file
 *     is synced; dirty mapped pages not written back yet are lost too;
 *   - fsync and fdatasync make the whole file durable, contents and size
 *     (FUSE passes no range); a write on a descriptor opened with O_SYNC or
 *     O_DSYNC is followed here by a sync of the whole file, as it is by the
 *     kernel's own FUSE fsync after such a write;
 *   - truncation and extension: the size at the last sync is restored, and
 *     the bytes a shrink cut off come back;
 *   - files that existed when the file system was mounted count as synced.
 * What it does not model:
 *   - metadata: create, mkdir, unlink, rmdir, rename, link, symlink, chmod,
 *     chown and timestamps are durable at once, in the order they happened
 *     (a kind journaling file system), so fsync of a directory does nothing;
 *     a file created and not synced survives a cut, empty;
 *   - partial loss: a cut loses every write since the last sync of that file;
 *     a real disk may keep any subset of them, or tear a page in half;
 *   - lying disks (an fsync that returned and is lost anyway), I/O errors;
 *   - fallocate, copy_file_range, extended attributes (not offered: callers
 *     fall back to plain writes or do without); POSIX and flock locks stay in
 *     the kernel, as on any file system they are lost with the processes.
 * Requests are served by one thread, so a cut falls between two requests and
 * no undo log is read while a request changes it. */
#define FUSE_USE_VERSION 35

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LAZY_WUR __attribute__((warn_unused_result))

/* The bytes a write or a truncation replaced. */
struct lazy_undo {
        off_t off;
        size_t len;
        unsigned char *data;
};

/* A file changed since its last sync. fd is the file system's own read-write
 * descriptor, kept so that a file renamed or unlinked meanwhile can still be
 * rolled back (and its inode number is not reused while it is tracked). */
struct lazy_file {
        dev_t dev;
        ino_t ino;
        int fd;
        off_t synced_size;
        struct lazy_undo *undo;
        size_t nundo, cap;
        struct lazy_file *next;
};

/* An open file: fi->fh points to it. Listed, so that those still open when
 * the power is cut (no release comes for them) are closed at the end. */
struct lazy_handle {
        int fd;
        int flags;      /* the open flags */
        struct lazy_handle *prev, *next;
};

struct lazyfs {
        int backing;    /* the backing directory */
        struct lazy_file *files;
        struct lazy_handle *handles;
};

/* For the signal handlers: the session to end, a cut asked for (SIGUSR1),
 * armed (SIGUSR2), and set by the request that froze the file system. */
static struct fuse_session *cut_session;
static volatile sig_atomic_t cut_requested, cut_armed;
static bool frozen;
static unsigned int armed_writes;   /* dirtying writes still to let through */

static void on_cut(int sig)
{
        if (sig == SIGUSR2) {
                cut_armed = 1;
                return;
        }
        cut_requested = 1;
        if (cut_session)
                fuse_session_exit(cut_session);
}

/* Called after a request that left unsynced data behind: an armed cut
 * freezes the file system once the drawn number of such writes has passed. */
static void lazy_dirtied(void)
{
        if (!cut_armed || frozen)
                return;
        if (armed_writes == 0)
                armed_writes = 1 + (unsigned int)(random() % 4);
        if (--armed_writes > 0)
                return;
        frozen = true;
        fuse_session_exit(fuse_get_session(fuse_get_context()->fuse));
}

static struct lazyfs *lazy_get(void)
{
        return fuse_get_context()->private_data;
}

/* FUSE paths start with '/'; the backing calls take them relative to the
 * backing directory. */
static const char *rel(const char *path)
{
        return path[1] ? path + 1 : ".";
}

static int lazy_fd(struct fuse_file_info *fi)
{
        return ((struct lazy_handle *)(uintptr_t)fi->fh)->fd;
}

static void lazy_file_free(struct lazy_file *f)
{
        for (size_t i = 0; i < f->nundo; i++)
                free(f->undo[i].data);
        free(f->undo);
        if (f->fd >= 0)
                close(f->fd);
        free(f);
}

/* Forgets the undo log: everything in the file is durable now. */
static void lazy_file_synced(struct lazy_file *f, off_t size)
{
        for (size_t i = 0; i < f->nundo; i++)
                free(f->undo[i].data);
        f->nundo = 0;
        f->synced_size = size;
}

/* Finds the tracked file behind fd, or, with create, starts tracking it:
 * a file not tracked has no unsynced change, so its current size is its
 * synced size. */
LAZY_WUR static int lazy_file_get(struct lazyfs *fs, int fd, bool create, struct lazy_file **ret)
{
        struct lazy_file *f;
        char proc[64];
        struct stat st;

        *ret = NULL;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return 0;
        for (f = fs->files; f; f = f->next) {
                if (f->dev == st.st_dev && f->ino == st.st_ino) {
                        *ret = f;
                        return 0;
                }
        }
        if (!create)
                return 0;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        f->fd = open(proc, O_RDWR | O_CLOEXEC);
        if (f->fd < 0) {
                int r = -errno;

                free(f);
                return r;
        }
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->synced_size = st.st_size;
        f->next = fs->files;
        fs->files = f;
        *ret = f;
        return 0;
}

/* Stops tracking files that no name reaches any more: nothing to roll back. */
static void lazy_forget_unlinked(struct lazyfs *fs)
{
        struct lazy_file **p = &fs->files;

        while (*p) {
                struct lazy_file *f = *p;
                struct stat st;

                if (fstat(f->fd, &st) == 0 && st.st_nlink == 0) {
                        *p = f->next;
                        lazy_file_free(f);
                } else {
                        p = &f->next;
                }
        }
}

/* Saves the bytes of [off, end) that the next change replaces. Only bytes
 * below the synced size matter (the rollback truncates to it), and only
 * those the file has now (bytes between its size and the synced size were
 * cut off by a shrink that saved them already). A range some earlier entry
 * covers whole needs nothing: the older pre-image wins in the rollback. */
LAZY_WUR static int lazy_save(struct lazy_file *f, off_t off, off_t end, off_t size)
{
        struct lazy_undo *u;
        ssize_t got;

        if (end > size)
                end = size;
        if (end > f->synced_size)
                end = f->synced_size;
        if (off >= end)
                return 0;
        for (size_t i = 0; i < f->nundo; i++) {
                u = &f->undo[i];
                if (u->off <= off && u->off + (off_t)u->len >= end)
                        return 0;
        }
        if (f->nundo == f->cap) {
                size_t cap = f->cap ? f->cap * 2 : 16;
                struct lazy_undo *n = realloc(f->undo, cap * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                f->undo = n;
                f->cap = cap;
        }
        u = &f->undo[f->nundo];
        u->off = off;
        u->len = (size_t)(end - off);
        u->data = malloc(u->len);
        if (!u->data)
                return -ENOMEM;
        got = pread(f->fd, u->data, u->len, off);
        if (got != (ssize_t)u->len) {
                free(u->data);
                return got < 0 ? -errno : -EIO;
        }
        f->nundo++;
        return 0;
}

/* Truncates the file behind fd to size, saving what a shrink cuts off. */
LAZY_WUR static int lazy_truncate_fd(struct lazyfs *fs, int fd, off_t size)
{
        struct lazy_file *f;
        struct stat st;
        int r;

        r = lazy_file_get(fs, fd, true, &f);
        if (r < 0)
                return r;
        if (!f)
                return -EINVAL;
        if (fstat(f->fd, &st) < 0)
                return -errno;
        if (size < st.st_size) {
                r = lazy_save(f, size, st.st_size, st.st_size);
                if (r < 0)
                        return r;
        }
        return ftruncate(f->fd, size) < 0 ? -errno : 0;
}

/* Makes the file behind fd durable, in the backing file and here. */
LAZY_WUR static int lazy_sync_fd(struct lazyfs *fs, int fd, int datasync)
{
        struct lazy_file *f;
        struct stat st;
        int r;

        if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
                return -errno;
        r = lazy_file_get(fs, fd, false, &f);
        if (r < 0 || !f)
                return r;
        if (fstat(f->fd, &st) < 0)
                return -errno;
        lazy_file_synced(f, st.st_size);
        return 0;
}

/* The cut: every tracked file back to its last synced contents and size,
 * then synced, so that the backing file system keeps the rollback. Returns
 * the number of files that could not be rolled back. */
static unsigned lazy_rollback(struct lazyfs *fs)
{
        unsigned files = 0, failed = 0;
        size_t ranges = 0, bytes = 0;

        while (fs->files) {
                struct lazy_file *f = fs->files;
                bool ok = true;

                fs->files = f->next;
                for (size_t i = f->nundo; i-- > 0;) {
                        struct lazy_undo *u = &f->undo[i];

                        if (pwrite(f->fd, u->data, u->len, u->off) != (ssize_t)u->len)
                                ok = false;
                        ranges++;
                        bytes += u->len;
                }
                if (ftruncate(f->fd, f->synced_size) < 0 || fsync(f->fd) < 0)
                        ok = false;
                if (!ok) {
                        fprintf(stderr, "nmo-lazyfs: cannot roll back inode %llu: %s\n",
                                (unsigned long long)f->ino, strerror(errno));
                        failed++;
                }
                files++;
                lazy_file_free(f);
        }
        fprintf(stderr, "nmo-lazyfs: cut: %u files rolled back to their last sync "
                "(%zu ranges, %zu bytes restored)\n", files, ranges, bytes);
        return failed;
}

static void *lazy_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
        /* Inode numbers of the backing files; operations on open files by
         * handle, also once unlinked; no data kept in the page cache across
         * opens, and never a writeback cache: every write reaches us when
         * the writer makes it, not when the kernel flushes. */
        cfg->use_ino = 1;
        cfg->hard_remove = 1;
        cfg->nullpath_ok = 1;
        cfg->kernel_cache = 0;
        cfg->auto_cache = 0;
        cfg->direct_io = 0;
        conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
        return lazy_get();
}

static int lazy_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
        if (fi)
                return fstat(lazy_fd(fi), st) < 0 ? -errno : 0;
        return fstatat(lazy_get()->backing, rel(path), st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int lazy_readlink(const char *path, char *buf, size_t size)
{
        ssize_t n;

        if (size == 0)
                return -EINVAL;
        n = readlinkat(lazy_get()->backing, rel(path), buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        return 0;
}

static int lazy_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                        struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
        struct dirent *e;
        DIR *d;
        int fd;

        fd = openat(lazy_get()->backing, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                int r = -errno;

                close(fd);
                return r;
        }
        while ((e = readdir(d)) != NULL) {
                struct stat st = { .st_ino = e->d_ino, .st_mode = (mode_t)DTTOIF(e->d_type) };

                if (fill(buf, e->d_name, &st, 0, 0))
                        break;
        }
        closedir(d);
        return 0;
}

static int lazy_mkdir(const char *path, mode_t mode)
{
        return mkdirat(lazy_get()->backing, rel(path), mode) < 0 ? -errno : 0;
}

static int lazy_unlink(const char *path)
{
        struct lazyfs *fs = lazy_get();

        if (unlinkat(fs->backing, rel(path), 0) < 0)
                return -errno;
        lazy_forget_unlinked(fs);
        return 0;
}

static int lazy_rmdir(const char *path)
{
        return unlinkat(lazy_get()->backing, rel(path), AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int lazy_symlink(const char *target, const char *path)
{
        return symlinkat(target, lazy_get()->backing, rel(path)) < 0 ? -errno : 0;
}

static int lazy_rename(const char *from, const char *to, unsigned int flags)
{
        struct lazyfs *fs = lazy_get();

        if (renameat2(fs->backing, rel(from), fs->backing, rel(to), flags) < 0)
                return -errno;
        lazy_forget_unlinked(fs);
        return 0;
}

static int lazy_link(const char *from, const char *to)
{
        struct lazyfs *fs = lazy_get();

        return linkat(fs->backing, rel(from), fs->backing, rel(to), 0) < 0 ? -errno : 0;
}

static int lazy_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
        if (fi)
                return fchmod(lazy_fd(fi), mode) < 0 ? -errno : 0;
        return fchmodat(lazy_get()->backing, rel(path), mode, 0) < 0 ? -errno : 0;
}

static int lazy_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
        if (fi)
                return fchown(lazy_fd(fi), uid, gid) < 0 ? -errno : 0;
        return fchownat(lazy_get()->backing, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ?
                -errno : 0;
}

static int lazy_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
        struct lazyfs *fs = lazy_get();
        int fd, r;

        if (fi) {
                fd = -1;
                r = lazy_truncate_fd(fs, lazy_fd(fi), size);
        } else {
                fd = openat(fs->backing, rel(path), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return -errno;
                r = lazy_truncate_fd(fs, fd, size);
                close(fd);
        }
        if (r == 0)
                lazy_dirtied();
        return r;
}

static int lazy_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
        if (fi)
                return futimens(lazy_fd(fi), tv) < 0 ? -errno : 0;
        return utimensat(lazy_get()->backing, rel(path), tv, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* Opens (and with O_CREAT creates) the backing file. O_TRUNC goes through
 * lazy_truncate_fd, so that a cut brings the old contents back; O_APPEND is
 * left to the kernel, which sends the offset of every write. */
static int lazy_open_file(const char *path, int flags, mode_t mode, struct fuse_file_info *fi)
{
        struct lazyfs *fs = lazy_get();
        struct lazy_handle *h;
        int fd, r;

        h = malloc(sizeof(*h));
        if (!h)
                return -ENOMEM;
        fd = openat(fs->backing, rel(path), (flags & ~(O_TRUNC | O_APPEND)) | O_CLOEXEC, mode);
        if (fd < 0) {
                r = -errno;
                free(h);
                return r;
        }
        if (flags & O_TRUNC) {
                r = lazy_truncate_fd(fs, fd, 0);
                if (r < 0) {
                        close(fd);
                        free(h);
                        return r;
                }
                lazy_dirtied();
        }
        h->fd = fd;
        h->flags = flags;
        h->prev = NULL;
        h->next = fs->handles;
        if (fs->handles)
                fs->handles->prev = h;
        fs->handles = h;
        fi->fh = (uint64_t)(uintptr_t)h;
        fi->keep_cache = 0;
        fi->direct_io = 0;
        return 0;
}

static int lazy_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
        return lazy_open_file(path, fi->flags | O_CREAT, mode, fi);
}

static int lazy_open(const char *path, struct fuse_file_info *fi)
{
        return lazy_open_file(path, fi->flags & ~(O_CREAT | O_EXCL), 0, fi);
}

static int lazy_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
        ssize_t n = pread(lazy_fd(fi), buf, size, off);

        return n < 0 ? -errno : (int)n;
}

static int lazy_write(const char *path, const char *buf, size_t size, off_t off,
                      struct fuse_file_info *fi)
{
        struct lazy_handle *h = (struct lazy_handle *)(uintptr_t)fi->fh;
        struct lazyfs *fs = lazy_get();
        struct lazy_file *f;
        struct stat st;
        ssize_t n;
        int r;

        if (size > INT_MAX)
                size = INT_MAX;
        r = lazy_file_get(fs, h->fd, true, &f);
        if (r < 0)
                return r;
        if (f) {
                if (fstat(f->fd, &st) < 0)
                        return -errno;
                r = lazy_save(f, off, off + (off_t)size, st.st_size);
                if (r < 0)
                        return r;
        }
        n = pwrite(h->fd, buf, size, off);
        if (n < 0)
                return -errno;
        if (h->flags & (O_SYNC | O_DSYNC)) {
                r = lazy_sync_fd(fs, h->fd, 1);
                if (r < 0)
                        return r;
        } else if (f) {
                lazy_dirtied();
        }
        return (int)n;
}

static int lazy_statfs(const char *path, struct statvfs *st)
{
        return fstatvfs(lazy_get()->backing, st) < 0 ? -errno : 0;
}

static int lazy_release(const char *path, struct fuse_file_info *fi)
{
        struct lazyfs *fs = lazy_get();
        struct lazy_handle *h = (struct lazy_handle *)(uintptr_t)fi->fh;

        if (h->prev)
                h->prev->next = h->next;
        else
                fs->handles = h->next;
        if (h->next)
                h->next->prev = h->prev;
        close(h->fd);
        free(h);
        return 0;
}

static int lazy_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
        return lazy_sync_fd(lazy_get(), lazy_fd(fi), datasync);
}

/* Metadata is durable at once (see the top of this file). */
static int lazy_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
        return 0;
}

static const struct fuse_operations lazy_ops = {
        .init = lazy_init,
        .getattr = lazy_getattr,
        .readlink = lazy_readlink,
        .readdir = lazy_readdir,
        .mkdir = lazy_mkdir,
        .unlink = lazy_unlink,
        .rmdir = lazy_rmdir,
        .symlink = lazy_symlink,
        .rename = lazy_rename,
        .link = lazy_link,
        .chmod = lazy_chmod,
        .chown = lazy_chown,
        .truncate = lazy_truncate,
        .utimens = lazy_utimens,
        .create = lazy_create,
        .open = lazy_open,
        .read = lazy_read,
        .write = lazy_write,
        .statfs = lazy_statfs,
        .release = lazy_release,
        .fsync = lazy_fsync,
        .fsyncdir = lazy_fsyncdir,
};

static void usage(FILE *out)
{
        fputs("usage: nmo-lazyfs [--debug] [--seed N] BACKING MOUNTPOINT\n"
              "Mounts BACKING at MOUNTPOINT (FUSE, in the foreground). SIGUSR1 cuts the\n"
              "power: unmount, every file back to its last fsync, exit. SIGUSR2 arms a\n"
              "freeze after the 1st-4th write (drawn from --seed) that leaves unsynced\n"
              "data; \"frozen\" on stderr tells it happened. SIGTERM or fusermount3 -u\n"
              "unmounts keeping everything.\n"
              "Exit status: 0 after a cut or an unmount, 1 on failure, 2 usage error.\n", out);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "debug", no_argument, NULL, 'd' },
                { "help", no_argument, NULL, 'h' },
                { "seed", required_argument, NULL, 's' },
                { NULL, 0, NULL, 0 },
        };
        char *fargv[] = { argv[0], "-o",
                          "fsname=nmo-lazyfs,subtype=nmo-lazyfs,default_permissions", "-d", NULL };
        struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
        struct lazyfs fs = { .backing = -1 };
        struct fuse *f = NULL;
        struct sigaction sa;
        bool mounted = false, handlers = false;
        unsigned long seed = (unsigned long)time(NULL) ^ (unsigned long)getpid();
        sigset_t waitset;
        char *end;
        int c, r = 1;

        while ((c = getopt_long(argc, argv, "dhs:", opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        args.argc = 4;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 's':
                        errno = 0;
                        seed = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || optarg[0] == '-') {
                                fprintf(stderr, "nmo-lazyfs: --seed takes a number\n");
                                return 2;
                        }
                        break;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (argc - optind != 2) {
                usage(stderr);
                return 2;
        }
        srandom((unsigned int)seed);
        fs.backing = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fs.backing < 0) {
                fprintf(stderr, "nmo-lazyfs: %s: %s\n", argv[optind], strerror(errno));
                goto cleanup;
        }
        f = fuse_new(&args, &lazy_ops, sizeof(lazy_ops), &fs);
        if (!f)
                goto cleanup;
        if (fuse_mount(f, argv[optind + 1]) != 0)
                goto cleanup;
        mounted = true;
        cut_session = fuse_get_session(f);
        if (fuse_set_signal_handlers(cut_session) != 0)
                goto cleanup;
        handlers = true;
        /* No SA_RESTART: the signal must end the wait for the next request. */
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_cut;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0)
                goto cleanup;
        sigemptyset(&waitset);
        sigaddset(&waitset, SIGUSR1);
        sigaddset(&waitset, SIGTERM);
        sigaddset(&waitset, SIGINT);
        sigaddset(&waitset, SIGHUP);
        r = fuse_loop(f) < 0 ? 1 : 0;
        /* A cut ends the loop with the session marked exited. */
        if (cut_requested)
                r = 0;
        if (frozen && !cut_requested) {
                /* Answer nothing until the cut (or a clean unmount); the
                 * signal may have come already. */
                fprintf(stderr, "nmo-lazyfs: frozen\n");
                if (sigprocmask(SIG_BLOCK, &waitset, NULL) == 0 && !cut_requested) {
                        int sig = 0;

                        if (sigwait(&waitset, &sig) == 0 && sig == SIGUSR1)
                                cut_requested = 1;
                }
                r = 0;
        }
cleanup:
        if (handlers)
                fuse_remove_signal_handlers(cut_session);
        /* Unmount first: the kernel drops the connection and the page cache
         * of the mount, so nothing rolled back is read from a cache. */
        if (mounted)
                fuse_unmount(f);
        if (cut_requested && lazy_rollback(&fs) > 0)
                r = 1;
        if (f)
                fuse_destroy(f);
        while (fs.files) {
                struct lazy_file *lf = fs.files;

                fs.files = lf->next;
                lazy_file_free(lf);
        }
        while (fs.handles) {
                struct lazy_handle *h = fs.handles;

                fs.handles = h->next;
                close(h->fd);
                free(h);
        }
        if (fs.backing >= 0)
                close(fs.backing);
        fuse_opt_free_args(&args);
        return r;
}
