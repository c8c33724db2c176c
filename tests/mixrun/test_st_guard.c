/* test_st_guard.c — a safetensors file shortened while it is mapped (runtime/model/safetensors.c): the
 * read of a tensor past its new end ends the program with exit status 1 and a message naming the
 * file (not a bare SIGBUS), removing the temporaries registered with remove_on_signal; a SIGBUS that is
 * not such a read stays fatal, or goes to the program's own handler, after which the file is still
 * guarded. Each case runs in a child process. Usage: test_st_guard TMPDIR. */
#include "mixc.h"
#include "safetensors.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static void result(bool ok, const char *name, const char *detail) {
    printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name, ok ? "" : ": ", ok ? "" : detail);
    failures += !ok;
}

/* Runs fn in a child with stderr into a pipe; its wait status and what it wrote (up to n - 1 bytes). */
static int in_child(void (*fn)(const char *), const char *arg, char *said, size_t n) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        fn(arg);
        _exit(3);   /* fn returned: the read did not fault */
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < n && (r = read(fds[0], said + got, n - 1 - got)) > 0) got += (size_t)r;
    said[got] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

/* Maps the file, cuts it to one page, reads its last tensor (past that page); a temporary registered
 * with remove_on_signal beside it must be gone after. */
static void read_shortened(const char *path) {
    StFile f;
    char err[512], tmp[600];
    if (!st_open(path, &f, err, sizeof err)) {
        fprintf(stderr, "open: %s\n", err);
        _exit(4);
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *t = fopen(tmp, "w");
    if (t) fclose(t);
    static const char *paths[1];
    paths[0] = tmp;
    remove_on_signal(paths, 1);
    if (truncate(path, 4096) != 0) _exit(5);
    const StTensor *last = &f.tensor[f.ntensors - 1];
    float *out = malloc((size_t)(last->nbytes / 4) * sizeof *out);
    st_to_f32(last, out, (int64_t)(last->nbytes / 4));
    fprintf(stderr, "read %g\n", (double)out[0]);
}

/* A SIGBUS sent while a file is mapped: not a read of the file. */
static void sent_sigbus(const char *path) {
    StFile f;
    char err[512];
    if (!st_open(path, &f, err, sizeof err)) _exit(4);
    raise(SIGBUS);
    _exit(0);
}

/* A handler of the program's own, there before the file is mapped, that takes a SIGBUS and returns. */
static volatile sig_atomic_t own_handler_calls;
static void own_sigbus_handler(int sig, siginfo_t *info, void *ctx) {
    (void)sig, (void)info, (void)ctx;
    own_handler_calls++;
}

/* The program's handler takes a SIGBUS that is not a read of the file; the file, shortened after, is
 * still guarded (alarm: a read that faults for ever would hang). */
static void own_handler_then_shortened(const char *path) {
    struct sigaction sa = {.sa_sigaction = own_sigbus_handler, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
    alarm(10);
    StFile f;
    char err[512];
    if (!st_open(path, &f, err, sizeof err)) _exit(4);
    raise(SIGBUS);
    if (own_handler_calls != 1) _exit(6);
    if (truncate(path, 4096) != 0) _exit(5);
    const StTensor *last = &f.tensor[f.ntensors - 1];
    float *out = malloc((size_t)(last->nbytes / 4) * sizeof *out);
    st_to_f32(last, out, (int64_t)(last->nbytes / 4));
    fprintf(stderr, "read %g\n", (double)out[0]);
}

/* Two tensors of 256 KiB: the second lies past the first page. */
static bool write_file(const char *path) {
    static float values[1 << 16];
    for (int i = 0; i < (1 << 16); i++) values[i] = (float)i;
    StWriter w = {0};
    const int64_t shape[1] = {1 << 16};
    char err[512];
    st_writer_add(&w, "a", ST_F32, 1, shape, values);
    st_writer_add(&w, "b", ST_F32, 1, shape, values);
    bool saved = st_writer_save(&w, path, err, sizeof err);
    st_writer_free(&w);
    if (!saved) result(false, "st_guard: write the file", err);
    return saved;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_st_guard TMPDIR\n");
        return 2;
    }
    char path[512], tmp[600], said[2048];
    snprintf(path, sizeof path, "%s/guard.safetensors", argv[1]);
    if (!write_file(path)) return 1;
    int status = in_child(read_shortened, path, said, sizeof said);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char detail[2600];
    snprintf(detail, sizeof detail, "status %#x, said: %s", (unsigned)status, said);
    result(WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(said, "guard.safetensors' changed while it was read") &&
               access(tmp, F_OK) != 0,
           "a safetensors file shortened while mapped: exit 1 naming the file, the registered temporary removed",
           detail);
    if (!write_file(path)) return 1;   /* whole again, so that the next child maps it */
    status = in_child(sent_sigbus, path, said, sizeof said);
    snprintf(detail, sizeof detail, "status %#x, said: %s", (unsigned)status, said);
    /* killed by it, or (under the sanitizers, whose handler was there first) their report's exit */
    bool fatal = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) > 5);
    result(fatal && !strstr(said, "changed while"),
           "a SIGBUS that is no read of a mapped file stays fatal (no message about the file)", detail);
    if (!write_file(path)) return 1;
    status = in_child(own_handler_then_shortened, path, said, sizeof said);
    snprintf(detail, sizeof detail, "status %#x (exit 6: the program's handler not called), said: %s",
             (unsigned)status, said);
    result(WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(said, "guard.safetensors' changed while it was read"),
           "after the program's own SIGBUS handler took a signal, a shortened file is still guarded", detail);
    return failures ? 1 : 0;
}
