/* output.c — the one way every command writes a file (docs/output.md has the rules):
 *  - "-" is standard output;
 *  - a path that is not a regular file once symlinks are followed (a device, a FIFO, /dev/stdout)
 *    is written in place, never replaced;
 *  - a symlink is followed to its target, which is written as below (the link stays);
 *  - a regular file (or a new one) is replaced atomically: an unpredictable temporary name in the
 *    same directory created exclusively (mkstemp), written, fsynced, renamed over the target, and
 *    the directory fsynced. A failure leaves the old file as it was and no temporary behind;
 *  - a directory of outputs (write_dir_atomic) is written into a temporary sibling and renamed (or
 *    exchanged) into place, so readers see one complete set of files or the other.
 */
#include "mixc.h"
#include "progress.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes the pieces in order, each in writes of at most 4 MiB: a signal whose handler removes the
 * temporary (remove_on_signal) runs between two, where one write of the whole file would finish
 * first (the kernel completes a regular file's write before a handled signal runs). A write into a
 * regular file (path; NULL for a device or a FIFO, whose reader sets the pace) that lasts past 2
 * seconds, a checkpoint of GBs, shows its progress on stderr in MiB (progress_line; none under 1 MiB). */
static bool write_all(int fd, const OutPiece *pieces, int npieces, const char *path) {
    size_t total = 0, done = 0;
    for (int i = 0; i < npieces; i++) total += pieces[i].len;
    double start = mono_seconds(), last = start;
    char what[160];
    snprintf(what, sizeof what, "writing '%.100s': MiB", path ? path : "");
    for (int i = 0; i < npieces; i++) {
        const char *data = pieces[i].data;
        for (size_t len = pieces[i].len; len > 0;) {
            ssize_t n = write(fd, data, len < ((size_t)4 << 20) ? len : (size_t)4 << 20);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            data += n;
            len -= (size_t)n;
            done += (size_t)n;
            if (path && total >> 20) progress_line(start, &last, what, (int64_t)(done >> 20), (int64_t)(total >> 20));
        }
    }
    return true;
}

/* The file a path names once every symlink in its last component is followed (the target may not
 * exist yet). Caller frees. NULL with errno ELOOP after 40 links. */
static char *follow_links(const char *path) {
    char *cur = xstrdup(path);
    for (int hops = 0; hops < 40; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
        char target[PATH_MAX];
        ssize_t n = readlink(cur, target, sizeof target - 1);
        if (n < 0) {
            free(cur);
            return NULL;
        }
        target[n] = '\0';
        char *next;
        if (target[0] == '/') {
            next = xstrdup(target);
        } else {
            char *copy = xstrdup(cur);
            Buf b = {0};
            buf_printf(&b, "%s/%s", dirname(copy), target);
            free(copy);
            next = b.data;
        }
        free(cur);
        cur = next;
    }
    free(cur);
    errno = ELOOP;
    return NULL;
}

/* Writes into an existing non-regular file (device, FIFO) without replacing it. */
static bool write_in_place(const char *path, const OutPiece *pieces, int npieces) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = write_all(fd, pieces, npieces, NULL);
    int saved = errno;
    ok = close(fd) == 0 && ok;
    if (!ok && !errno) errno = saved ? saved : EIO;
    return ok;
}

static void fsync_directory(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* The temporary file beside `target`: ".NAME.XXXXXX" in its directory, created exclusively. */
static int make_temporary(const char *target, char **tmp_out, char **dir_out) {
    char *dcopy = xstrdup(target), *bcopy = xstrdup(target);
    Buf tmp = {0};
    buf_printf(&tmp, "%s/.%s.XXXXXX", dirname(dcopy), basename(bcopy));
    *dir_out = xstrdup(dcopy);
    free(dcopy);
    free(bcopy);
    int fd = mkostemp(tmp.data, O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        buf_free(&tmp);
        free(*dir_out);
        errno = saved;
        return -1;
    }
    *tmp_out = tmp.data;
    return fd;
}

/* The signals that end a program from outside (^C, kill, a closed terminal) are held while a
 * temporary is made and while it is renamed into place: one that comes meanwhile takes effect after,
 * and one that comes while the data is written removes the temporary (remove_on_signal) and ends the
 * program at once, however long the write. Never a temporary left behind. (SIGKILL cannot be held.) */
static const int held[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

void signals_hold(sigset_t *old) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < (int)(sizeof held / sizeof held[0]); i++) sigaddset(&set, held[i]);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

void signals_release(const sigset_t *old) {
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, old, NULL);
    errno = saved;
}

static mode_t current_umask(void) {
    mode_t mask = umask(0);
    umask(mask);
    return mask;
}

/* Replaces the regular file `target` (or creates it) atomically, keeping an existing file's mode
 * (a new file gets new_mode less the umask, as open would give it). */
static bool replace_regular(const char *target, const OutPiece *pieces, int npieces, mode_t new_mode) {
    char *tmp, *dir;
    sigset_t old;
    signals_hold(&old);
    int fd = make_temporary(target, &tmp, &dir);
    if (fd < 0) {
        signals_release(&old);
        return false;
    }
    const char *const removed_on_signal[] = {tmp};
    remove_on_signal(removed_on_signal, 1);
    signals_release(&old);
    struct stat st;
    mode_t mode;
    if (stat(target, &st) == 0) {
        mode = st.st_mode & 07777;
    } else {
        mode = new_mode & ~current_umask();
    }
    bool ok = fchmod(fd, mode) == 0 && write_all(fd, pieces, npieces, target) && fsync(fd) == 0;
    int saved = errno;
    signals_hold(&old);
    remove_on_signal(NULL, 0);
    ok = close(fd) == 0 && ok;
    if (ok) ok = rename(tmp, target) == 0;
    if (!ok) {
        saved = errno ? errno : saved;
        unlink(tmp);
        errno = saved;
    } else {
        fsync_directory(dir);
    }
    signals_release(&old);
    free(tmp);
    free(dir);
    return ok;
}

/* The regular file to replace for path: the file itself once every symlink is resolved when it
 * exists, else (a new file, or a symlink to one) what its links name. Caller frees. */
static char *regular_target(const char *path) {
    char *real = realpath(path, NULL);
    return real ? real : follow_links(path);
}

static bool write_stdout(const OutPiece *pieces, int npieces) {
    for (int i = 0; i < npieces; i++)
        if (fwrite(pieces[i].data, 1, pieces[i].len, stdout) != pieces[i].len) return false;
    return fflush(stdout) == 0;
}

static bool write_output(const char *path, const OutPiece *pieces, int npieces, mode_t new_mode) {
    if (strcmp(path, "-") == 0) return write_stdout(pieces, npieces);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        return false;
    }
    /* The kernel follows every link (also /dev/stdout's /proc/self/fd/1 -> pipe:[N]). */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) return write_in_place(path, pieces, npieces);
    char *target = regular_target(path);
    if (!target) return false;
    bool ok = replace_regular(target, pieces, npieces, new_mode);
    int saved = errno;
    free(target);
    errno = saved;
    return ok;
}

bool write_file_atomic(const char *path, const char *data, size_t len) {
    return write_output(path, &(OutPiece){data, len}, 1, 0666);
}

bool write_pieces_atomic(const char *path, const OutPiece *pieces, int npieces) {
    return write_output(path, pieces, npieces, 0666);
}

bool write_executable_atomic(const char *path, const char *data, size_t len) {
    return write_output(path, &(OutPiece){data, len}, 1, 0777);
}

bool output_path_usable(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (strcmp(path, "-") == 0) return true;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "cannot write '%s': it is a directory", path);
        return false;
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (access(path, W_OK) == 0) return true;
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        return false;
    }
    char *target = regular_target(path);
    if (!target) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        return false;
    }
    char *copy = xstrdup(target);
    const char *dir = dirname(copy);
    bool ok = false;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        snprintf(err, errlen, "cannot write '%s': directory '%s' does not exist", path, dir);
    else if (access(dir, W_OK) != 0)
        snprintf(err, errlen, "cannot write '%s': directory '%s' is not writable", path, dir);
    else
        ok = true;
    free(copy);
    free(target);
    return ok;
}

/* Where a file not there yet would be created: its directory's real path and its name. NULL when
 * that directory does not exist. Caller frees. */
static char *new_file_name(const char *path) {
    char *target = regular_target(path);
    if (!target) return NULL;
    char *dcopy = xstrdup(target), *bcopy = xstrdup(target), *dir = realpath(dirname(dcopy), NULL), *name = NULL;
    if (dir) {
        Buf b = {0};
        buf_printf(&b, "%s/%s", dir, basename(bcopy));
        name = b.data;
    }
    free(dir);
    free(dcopy);
    free(bcopy);
    free(target);
    return name;
}

bool output_replaces(const char *path, const char *other) {
    if (!strcmp(path, "-") || !strcmp(other, "-")) return false;
    struct stat a, b;
    bool have_a = stat(path, &a) == 0, have_b = stat(other, &b) == 0;
    if (have_a || have_b)
        return have_a && have_b && S_ISREG(a.st_mode) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    char *na = new_file_name(path), *nb = new_file_name(other);
    bool same = na && nb && !strcmp(na, nb);
    free(na);
    free(nb);
    return same;
}

bool stdout_written(const char *prog) {
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return true;
    fprintf(stderr, "%s: cannot write the output: %s\n", prog, errno ? strerror(errno) : "an earlier write failed");
    return false;
}

/* ---- temporaries removed should a signal end the program (mixc build's workspace) */

#define MAX_REMOVED_LISTS 4   /* nested: mixc build's workspace, the emulator compile's, an output's temporary */
static struct {
    const char *const *paths;
    int n;
} removed[MAX_REMOVED_LISTS];
static volatile sig_atomic_t nlists;
static struct sigaction saved_actions[sizeof held / sizeof held[0]];

void remove_paths(const char *const *paths, int n) {   /* async-signal-safe */
    for (int i = 0; i < n; i++)
        if (paths[i][0] && unlink(paths[i]) != 0) rmdir(paths[i]);
}

void remove_registered_paths(void) {   /* async-signal-safe */
    for (int i = nlists - 1; i >= 0; i--) remove_paths(removed[i].paths, removed[i].n);
}

static void remove_and_raise(int sig) {
    if (child_group_forward(sig)) return;   /* run_in_own_group ends the program once its child has */
    remove_registered_paths();
    signal(sig, SIG_DFL);
    raise(sig);
}

void remove_on_signal(const char *const *paths, int n) {
    struct sigaction sa = {.sa_handler = remove_and_raise};
    sigemptyset(&sa.sa_mask);
    bool first = n && nlists == 0, last = !n && nlists == 1;
    for (int i = 0; (first || last) && i < (int)(sizeof held / sizeof held[0]); i++) {
        if (first && sigaction(held[i], NULL, &saved_actions[i]) == 0 && saved_actions[i].sa_handler != SIG_IGN)
            sigaction(held[i], &sa, NULL);
        else if (last)
            sigaction(held[i], &saved_actions[i], NULL);
    }
    if (n && nlists == MAX_REMOVED_LISTS) fatal("remove_on_signal: more than %d nested lists", MAX_REMOVED_LISTS);
    if (n) {
        removed[nlists].paths = paths, removed[nlists].n = n;
        nlists++;   /* after the entry: a signal sees whole entries */
    } else if (nlists > 0) {
        nlists--;
    }
}

/* ---- a directory of outputs (emit -o DIR) */

/* Writes one file into dir (a new private directory: plain create, then fsync). */
static bool write_new_file(const char *dir, const char *name, const char *data, size_t len) {
    Buf p = {0};
    buf_printf(&p, "%s/%s", dir, name);
    int fd = open(p.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        buf_free(&p);
        return false;
    }
    bool ok = write_all(fd, &(OutPiece){data, len}, 1, p.data) && fsync(fd) == 0;
    buf_free(&p);
    return close(fd) == 0 && ok;
}

/* Whether dir holds nothing but files named in names[] (so swapping it out loses nothing). */
static bool holds_only(const char *dir, const char *const *names, int n) {
    DIR *d = opendir(dir);
    if (!d) return false;
    bool only = true;
    for (struct dirent *e; only && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        bool known = false;
        for (int i = 0; i < n && !known; i++) known = !strcmp(e->d_name, names[i]);
        only = known;
    }
    closedir(d);
    return only;
}

static void remove_files(const char *dir, const char *const *names, int n) {
    Buf p = {0};
    for (int i = 0; i < n; i++) {
        p.len = 0;
        buf_printf(&p, "%s/%s", dir, names[i]);
        unlink(p.data);
    }
    buf_free(&p);
    rmdir(dir);
}

/* The files one by one into a directory that holds other files too, under an exclusive lock on it
 * (two writers take turns: each leaves a consistent set). */
static bool write_files_locked(const char *dir, const char *const *names, const char *const *data,
                               const size_t *lens, int n) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        if (fd >= 0) close(fd);
        return false;
    }
    bool ok = true;
    Buf p = {0};
    for (int i = 0; i < n && ok; i++) {
        p.len = 0;
        buf_printf(&p, "%s/%s", dir, names[i]);
        ok = write_file_atomic(p.data, data[i], lens[i]);
    }
    buf_free(&p);
    close(fd);   /* releases the lock */
    return ok;
}

static bool write_dir_at(const char *dir, const char *const *names, const char *const *data, const size_t *lens,
                         int n);

bool write_dir_atomic(const char *dir, const char *const *names, const char *const *data, const size_t *lens,
                      int n) {
    char *target = regular_target(dir);   /* a symlink to a directory: the directory it names */
    if (!target) return false;
    bool ok = write_dir_at(target, names, data, lens, n);
    int saved = errno;
    free(target);
    errno = saved;
    return ok;
}

static bool write_dir_at(const char *dir, const char *const *names, const char *const *data, const size_t *lens,
                         int n) {
    struct stat st;
    bool exists = stat(dir, &st) == 0;
    if (exists && !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return false;
    }
    if (exists && !holds_only(dir, names, n)) return write_files_locked(dir, names, data, lens, n);
    char *dcopy = xstrdup(dir), *bcopy = xstrdup(dir);
    Buf tmp = {0};
    buf_printf(&tmp, "%s/.%s.XXXXXX", dirname(dcopy), basename(bcopy));
    sigset_t old;
    signals_hold(&old);
    bool ok = mkdtemp(tmp.data) != NULL && chmod(tmp.data, 0777 & ~current_umask()) == 0;
    for (int i = 0; ok && i < n; i++) ok = write_new_file(tmp.data, names[i], data[i], lens[i]);
    /* Readers see the old set or the new one: a new directory is renamed into place, an existing
     * one (holding only these files) is exchanged with it in one step, then removed. */
    if (ok && !exists) {
        ok = rename(tmp.data, dir) == 0;
        if (!ok && (errno == EEXIST || errno == ENOTEMPTY) && holds_only(dir, names, n))
            ok = exists = true;   /* another writer's set got there first: exchange with it */
    }
    if (ok && exists) ok = renameat2(AT_FDCWD, tmp.data, AT_FDCWD, dir, RENAME_EXCHANGE) == 0;
    int saved = errno;
    if (ok) fsync_directory(dcopy);
    remove_files(tmp.data, names, n);   /* the old set after an exchange, or the unfinished new one */
    signals_release(&old);
    free(dcopy);
    free(bcopy);
    buf_free(&tmp);
    errno = saved;
    return ok;
}
