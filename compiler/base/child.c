/* child.c — running a compiler as a child so that a killed build leaves none of its files.
 *
 * system() would run the compiler in our process group and return once the shell ends. When
 * the build is killed, the compiler driver removes its temporaries in its own handler, but the
 * compiler proper, killed a moment later, can write one again; and the caller's workspace would be
 * removed while they still run. So the command runs in a process group of its own, with TMPDIR a
 * private directory; a signal that ends the program (remove_on_signal's) is passed on to that
 * group; and only once no process of the group is left is the directory emptied, the caller's
 * lists removed and the program ended by the signal. Not being the terminal's foreground group, it
 * reads no terminal (standard input is /dev/null) and runs with SIGTTOU ignored, so that writing to a
 * terminal set to `tostop` does not stop it (and leave us waiting for ever); its output goes where
 * ours goes, as with system(). (Ignored, not blocked: sh clears the signal mask, but keeps what is
 * ignored, as every exec does.) ^Z stops the child's group with this process, and `fg` or `bg`
 * goes on with both.
 */
#include "mixc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static volatile sig_atomic_t running_group;   /* the child's process group while it runs, else 0 */
static volatile sig_atomic_t pending_signal;  /* a signal passed on to it: ends the program after */

bool child_group_forward(int sig) {   /* async-signal-safe */
    if (!running_group) return false;
    pending_signal = sig;
    kill(-(pid_t)running_group, sig);
    return true;
}

/* ^Z (SIGTSTP) while the child runs: its group is stopped first, then this process, the default
 * way (a shell sees the job stop). Once this process is continued, or at once where its stop is
 * discarded (an orphaned process group), the child's group goes on as well. */
static void stop_with_group(int sig) {
    int saved = errno;
    pid_t group = (pid_t)running_group;
    if (group) kill(-group, SIGTSTP);
    struct sigaction dfl = {.sa_handler = SIG_DFL}, mine;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, &mine);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);   /* returns once continued */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    sigaction(sig, &mine, NULL);
    if (group) kill(-group, SIGCONT);
    errno = saved;
}

/* stop_with_group in place for SIGTSTP (unless it is ignored), or the action `before` back. */
static void stop_with_group_while(bool running, struct sigaction *before) {
    if (running) {
        struct sigaction sa = {.sa_handler = stop_with_group};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTSTP, NULL, before);
        if (before->sa_handler != SIG_IGN) sigaction(SIGTSTP, &sa, NULL);
    } else {
        sigaction(SIGTSTP, before, NULL);
    }
}

/* The environment with TMPDIR=tmpdir in place of any TMPDIR. */
static char **environment_with_tmpdir(const char *tmpdir, char **tmpdir_entry) {
    int n = 0;
    while (environ[n]) n++;
    char **env = xcalloc((size_t)n + 2, sizeof *env);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(environ[i], "TMPDIR=", 7) != 0) env[k++] = environ[i];
    size_t len = strlen(tmpdir) + 8;
    *tmpdir_entry = xmalloc(len);
    snprintf(*tmpdir_entry, len, "TMPDIR=%s", tmpdir);
    env[k] = *tmpdir_entry;
    return env;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reaps every process of the group (orphans come to us: we are their subreaper) until none is
 * left; after 10 s the group is killed, and after 5 s more it is given up. */
static void reap_group(pid_t group) {
    for (int waited = 0; waited < 15000; waited += 5) {
        int st;
        pid_t r;
        while ((r = waitpid(-group, &st, WNOHANG)) > 0) {}
        if (r < 0 && errno == ECHILD) return;
        if (waited == 10000) kill(-group, SIGKILL);
        sleep_ms(5);
    }
}

/* Removes the files (and empty directories) in dir, then dir. */
static void remove_dir_and_files(const char *dir) {
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0) rmdir(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}

/* The child has ended: the group's last processes, the private TMPDIR, and, when a signal was
 * passed on, the caller's lists and the program. Signals are held throughout. */
static void child_ended(pid_t group, const char *tmpdir, const sigset_t *old) {
    int sig = pending_signal;
    if (sig) reap_group(group);
    else while (waitpid(-group, NULL, WNOHANG) > 0) {}
    running_group = 0;
    remove_dir_and_files(tmpdir);
    remove_on_signal(NULL, 0);
    if (sig) {
        remove_registered_paths();
        signal(sig, SIG_DFL);
        sigset_t set = *old;
        sigdelset(&set, sig);
        pthread_sigmask(SIG_SETMASK, &set, NULL);
        raise(sig);
    }
}

/* Spawns `sh -c cmd` in a group of its own with the environment env and the signal mask `mask`,
 * SIGTTOU ignored and standard input /dev/null. */
static int spawn_shell(pid_t *pid, const char *cmd, char **env, const sigset_t *mask) {
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, mask);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    char *const argv[] = {"sh", "-c", (char *)cmd, NULL};
    fflush(NULL);
    /* posix_spawn cannot ignore a signal in the child, which keeps what its parent ignores: ours is
     * ignored for the moment of the spawn */
    struct sigaction ignore = {.sa_handler = SIG_IGN}, before;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGTTOU, &ignore, &before);
    int err = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, env);
    sigaction(SIGTTOU, &before, NULL);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return err;
}

int run_in_own_group(const char *cmd, const char *workspace) {
    char tmpdir[4200];
    snprintf(tmpdir, sizeof tmpdir, "%s/tmp", workspace);
    const char *const removed[] = {tmpdir};
    sigset_t old, tstp;
    signals_hold(&old);
    sigemptyset(&tstp);   /* ^Z waits until the child's group is known (stop_with_group), not stopping this process alone */
    sigaddset(&tstp, SIGTSTP);
    pthread_sigmask(SIG_BLOCK, &tstp, NULL);
    if (mkdir(tmpdir, 0700) != 0) {
        int e = errno;
        signals_release(&old);
        errno = e;
        return -1;
    }
    remove_on_signal(removed, 1);   /* also puts the handler in place that passes signals on */
    int was_subreaper = 0;
    prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    char *entry;
    char **env = environment_with_tmpdir(tmpdir, &entry);
    pid_t pid;
    int err = spawn_shell(&pid, cmd, env, &old);
    free(env);
    free(entry);
    int status = -1;
    if (err == 0) {
        struct sigaction tstp_before;
        pending_signal = 0;
        running_group = pid;
        stop_with_group_while(true, &tstp_before);
        signals_release(&old);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        signals_hold(&old);
        stop_with_group_while(false, &tstp_before);
        child_ended(pid, tmpdir, &old);
    } else {
        remove_dir_and_files(tmpdir);
        remove_on_signal(NULL, 0);
    }
    if (!was_subreaper) prctl(PR_SET_CHILD_SUBREAPER, 0);
    signals_release(&old);
    if (err) errno = err;
    return status;
}
