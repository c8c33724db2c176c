/* emu.cpp — the CUDA-on-CPU emulator: fibers, scheduler, barriers, warp collectives, launcher.
 *
 * One translation unit on purpose: a program linked with libmixcemu.a and -rdynamic then exports
 * every emulator symbol as soon as it references one, which an emulated kernels.so needs (and the
 * hot paths inline across the scheduler and the collectives). The warp collectives' completion
 * code is in emu_warp.inc, the scheduler's sweeps in emu_sched.inc and the context switch in
 * emu_switch.inc, included below, only to keep each file readable.
 *
 * Execution model. Every thread of a block is a fiber with its own mmap'ed stack (guard page
 * below). The scheduler (on the launching thread's own stack) sweeps the block's fibers in thread
 * order and runs each ready one until it blocks: at __syncthreads, at a warp collective whose lanes
 * have not all arrived, or at exit (a blocking fiber switches straight to the next ready one of
 * the sweep; the last returns to the scheduler). When a sweep finds nothing ready, either every
 * live thread waits at the same __syncthreads (released), every thread exited (the block is done),
 * or the block is stuck, which is reported as an error naming who waits where. A warp collective
 * completes in the context of its last arriving lane, which reads the other lanes' inputs and writes
 * their outputs directly (their stacks are intact while they wait) and marks them ready.
 *
 * Context switches are a hand-written x86-64 routine (callee-saved registers, MXCSR and the x87
 * control word), about a hundred times cheaper than swapcontext's sigprocmask system call. Under
 * AddressSanitizer every switch is announced with __sanitizer_{start,finish}_switch_fiber.
 *
 * Race check (-DMIXC_EMU_TSAN, kernels compiled with -fsanitize=thread; docs/emulator.md). Every
 * emulated thread is a ThreadSanitizer fiber, and every switch is announced with no_sync so that
 * the scheduler's strict alternation implies no ordering. Ordering is then declared exactly where
 * CUDA gives it: each thread releases an "arrive" sync object when it reaches a barrier or
 * collective (or exits); whoever completes it (the scheduler for __syncthreads and block end, the
 * last lane for a warp collective) acquires the participants' arrive objects and releases their
 * "wake" objects; each participant acquires its wake object when it resumes. An event of the whole
 * block (barrier, block start and end) uses one pair of objects for all its threads, and a
 * collective of a whole warp one pair for its lanes: such an event completes only when every
 * participant has arrived, so after every one has resumed from the one before, and none of its
 * objects can mix two events (a thread that runs ahead into the next barrier releases only into the
 * arrive object, read when that barrier completes). A collective of part of a warp uses its lanes'
 * own objects: two disjoint ones of one warp must not lend each other an ordering. One pair instead
 * of one a thread halves the vector-clock joins, most of the race check's time. This file itself
 * is compiled WITHOUT -fsanitize=thread: its bookkeeping (fiber states, lane inputs written by the
 * completing lane) is the synchronization being modelled, not something to check; the accesses it
 * makes for a kernel (ldmatrix rows, cp.async) are announced by mixc_emu.h in the kernel's code.
 */
#include "mixc_emu.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define MIXC_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MIXC_EMU_ASAN 1
#endif
#endif
#ifndef MIXC_EMU_ASAN
#define MIXC_EMU_ASAN 0
#endif
#if MIXC_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#ifndef MIXC_EMU_TSAN
#define MIXC_EMU_TSAN 0
#endif
#if MIXC_EMU_TSAN_CODE /* instrumented, it would report its own hand-offs; without hooks, nothing */
#error "for the race check, compile emu.cpp with -DMIXC_EMU_TSAN and without -fsanitize=thread"
#endif
#if MIXC_EMU_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#if !defined(__x86_64__)
#error "the mixc emulator's context switch is written for x86-64"
#endif

__thread mixc_emu::ThreadView *mixc_emu_tv;
__thread mixc_emu::BlockView mixc_emu_bv;

/* ------------------------------------------------------------------ context switch */
#include "emu_switch.inc"

namespace {

using mixc_emu::ShflMode;
using mixc_emu::VoteMode;

enum class St : uint8_t { Ready, Barrier, Warp, Done };
enum class Coll : uint8_t { None, Syncwarp, Shfl, Vote, Mma, Ldmatrix };

/* The inputs a lane brings to a warp collective; pointers point into the lane's own stack. */
struct LaneIn {
    uint64_t bits;           /* shfl value */
    int mode, arg, width;    /* shfl mode/lane/width; vote mode */
    int pred;                /* vote */
    int variant;             /* mma: bf16?; ldmatrix: nmat*2 + trans. Must agree across lanes */
    const uint32_t *a, *b;   /* mma */
    const float *c;
    float *d;
    const void *row;         /* ldmatrix: this lane's row address */
    uint32_t *r;             /* ldmatrix: destination registers */
};

/* A cp.async copy issued and not yet waited for: it lands at the wait that covers its group. */
struct AsyncCopy {
    void *dst;
    const void *src;
    unsigned group;          /* the thread's commit count when it was issued */
};

/* Race check: a pair of sync objects (their addresses only; never read or written), see the top. */
struct SyncPair {
    char arrive = 0, wake = 0;
};

struct Fiber {
    void *sp = nullptr;
    char *map = nullptr;      /* mmap'ed region: guard page + stack */
    size_t map_size = 0;
    char *stack = nullptr;    /* lowest usable stack address */
    size_t stack_size = 0;
    bool dirty = false;       /* abandoned mid-kernel: its ASan stack shadow may be poisoned */
    mixc_emu::ThreadView view{};
    St st = St::Done;
    Coll coll = Coll::None;
    unsigned mask = 0;
    const char *name = "";    /* what it waits at, for messages */
    const char *file = "";
    int line = 0;
    LaneIn in{};
    uint64_t result = 0;
    void *asan_fake = nullptr;
    void *tsan_fiber = nullptr; /* race check: this thread's ThreadSanitizer context */
    SyncPair tsan;              /* race check: its own, for collectives of part of a warp */
    std::vector<AsyncCopy> async; /* cp.async copies in flight, in issue order */
    unsigned async_commits = 0;   /* cp_async_commit calls: the group the next copy joins */
};

struct Warp {
    unsigned arrived; /* lanes waiting at a collective */
    unsigned present; /* lanes that exist (a block's last warp may be partial) */
    SyncPair tsan;    /* race check: collectives of the whole warp */
};

struct Engine {
    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    size_t stack_size = 0; /* 0 = default / environment */
    int reverse = -1;      /* -1 = environment */
    void *sched_sp = nullptr;
    Fiber *cur = nullptr;
    unsigned block_threads = 0; /* the running block's fibers, swept in order (reversed: from the last) */
    bool reverse_sweep = false;
    bool from_scheduler = false; /* the fiber now resuming was switched to by the scheduler (ASan) */
    MixcEmuEntry entry = nullptr;
    const void *params = nullptr;
    bool failed = false;
    std::string err;
    const void *main_bottom = nullptr; /* the scheduler's stack, for ASan */
    size_t main_size = 0;
    void *tsan_sched = nullptr;        /* the launching thread's TSan context */
    SyncPair tsan_block;               /* barriers, block start and end */
    MixcEmuStats stats{};

    ~Engine() { release_stacks(); }
    void release_stacks() {
        for (Fiber &f : fibers) {
            if (f.map) munmap(f.map, f.map_size);
#if MIXC_EMU_TSAN
            if (f.tsan_fiber) __tsan_destroy_fiber(f.tsan_fiber);
#endif
        }
        fibers.clear();
        fibers.shrink_to_fit();
    }
};

/* The calling OS thread's engine. A plain __thread pointer: a thread_local object would cost an
 * initialisation check (__tls_init) on every access, measured at 11% of an attention kernel. */
__thread Engine *engine_ptr;
struct EngineOwner { /* deletes the engine when its thread exits */
    Engine *e = nullptr;
    ~EngineOwner() { delete e; }
};
thread_local EngineOwner engine_owner;

Engine &engine() {
    if (__builtin_expect(!engine_ptr, 0)) {
        engine_ptr = new Engine();
        engine_owner.e = engine_ptr;
    }
    return *engine_ptr;
}
/* Inside a launch the engine exists; the public entry points call engine() first. */
#define E (*engine_ptr)

const unsigned FULL = 0xffffffffu;
const size_t MAX_DYNAMIC_SMEM = 232448; /* sm_90: 227 KiB per block */

const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

std::string vformat(const char *fmt, va_list ap) {
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    return buf;
}

std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = vformat(fmt, ap);
    va_end(ap);
    return s;
}

std::string block_name() {
    const uint3 b = mixc_emu_bv.bid;
    return format("block (%u,%u,%u)", b.x, b.y, b.z);
}

/* ------------------------------------------------------------------ race check hooks
 * Empty without MIXC_EMU_TSAN (see the comment at the top). tsan_arrive and tsan_resume run in the
 * thread that arrives or resumes; tsan_complete in whoever completes the barrier or collective. */
#if MIXC_EMU_TSAN
inline void tsan_arrive(SyncPair &s) { __tsan_release(&s.arrive); }
inline void tsan_resume(SyncPair &s) { __tsan_acquire(&s.wake); }
/* The participants' work before the event happens before everyone's work after it. */
inline void tsan_complete(SyncPair &s) {
    __tsan_acquire(&s.arrive);
    __tsan_release(&s.wake);
}
/* The same for the lanes of mask in a warp, each with its own pair. */
void tsan_complete_lanes(Fiber *lanes, unsigned mask) {
    for (unsigned l = 0; l < 32; l++)
        if (mask >> l & 1) __tsan_acquire(&lanes[l].tsan.arrive);
    for (unsigned l = 0; l < 32; l++)
        if (mask >> l & 1) __tsan_release(&lanes[l].tsan.wake);
}
#else
inline void tsan_arrive(SyncPair &) {}
inline void tsan_resume(SyncPair &) {}
inline void tsan_complete(SyncPair &) {}
inline void tsan_complete_lanes(Fiber *, unsigned) {}
#endif

/* ------------------------------------------------------------------ switching */
/* The scheduler runs the first ready fiber of a sweep; each fiber, when it blocks or exits, hands
 * over directly to the next ready one after it in sweep order (one context switch instead of two
 * through the scheduler), and the last one of the sweep returns to the scheduler. The order is the
 * scheduler's own sweep, so every result is the same. */
void enter(Fiber *f) {
    E.cur = f;
    mixc_emu_tv = &f->view;
    E.stats.context_switches++;
}

void run_fiber(Fiber *f) {
    enter(f);
    E.from_scheduler = true;
#if MIXC_EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f->stack, f->stack_size);
#endif
#if MIXC_EMU_TSAN
    __tsan_switch_to_fiber(f->tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
    mixc_emu_ctx_switch(&E.sched_sp, f->sp);
#if MIXC_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
    E.cur = nullptr;
    mixc_emu_tv = nullptr;
}

/* The first ready fiber at sweep position k or later (position k: fiber k, or fiber n-1-k when the
 * sweep is reversed), or null. */
Fiber *ready_from(unsigned k) {
    for (const unsigned n = E.block_threads; k < n; k++) {
        Fiber *f = &E.fibers[E.reverse_sweep ? n - 1 - k : k];
        if (f->st == St::Ready) return f;
    }
    return nullptr;
}

/* The next ready fiber after f in this sweep, or null (the sweep ends: back to the scheduler). */
Fiber *next_in_sweep(const Fiber *f) {
    if (E.failed) return nullptr;
    const unsigned at = f->view.linear;
    return ready_from((E.reverse_sweep ? E.block_threads - 1 - at : at) + 1);
}

/* Called by a fiber on resuming: ASan learns the stack it came from (the scheduler's is kept, to
 * switch back to it). */
void resumed(void *fake) {
#if MIXC_EMU_ASAN
    if (E.from_scheduler) __sanitizer_finish_switch_fiber(fake, &E.main_bottom, &E.main_size);
    else __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    (void)fake;
#endif
    E.from_scheduler = false;
}

/* The current fiber blocks (or, final, exits): on to the next ready fiber of the sweep, or back to
 * the scheduler. Returns when the fiber is resumed. */
void switch_away(bool final) {
    Fiber *f = E.cur, *next = next_in_sweep(f);
#if MIXC_EMU_ASAN
    __sanitizer_start_switch_fiber(final ? nullptr : &f->asan_fake, next ? next->stack : E.main_bottom,
                                   next ? next->stack_size : E.main_size);
#else
    (void)final;
#endif
#if MIXC_EMU_TSAN
    __tsan_switch_to_fiber(next ? next->tsan_fiber : E.tsan_sched, __tsan_switch_to_fiber_no_sync);
#endif
    if (next) enter(next);
    mixc_emu_ctx_switch(&f->sp, next ? next->sp : E.sched_sp);
    resumed(f->asan_fake);
}

void fiber_main(Fiber *f) {
    resumed(nullptr);
    tsan_resume(E.tsan_block); /* the block start: the host's writes before the launch */
    E.entry(E.params);
    tsan_arrive(E.tsan_block); /* the block end: read by the next block and the host */
    f->st = St::Done;
    switch_away(true);
    abort(); /* a finished fiber is never resumed */
}

/* Ends the launch with an error raised by the current thread; never returns. The fiber is
 * abandoned, so nothing owning heap memory may be alive on its stack: messages are formatted into
 * plain char buffers here (a std::string argument would leak). */
[[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void fail(const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    Fiber *f = engine_ptr ? E.cur : nullptr;
    if (!f) {
        fprintf(stderr, "mixc_emu: %s (outside a kernel launch)\n", what);
        abort();
    }
    if (!E.failed) {
        const uint3 t = f->view.tid;
        char where[96];
        snprintf(where, sizeof where, ", thread (%u,%u,%u): ", t.x, t.y, t.z);
        E.err = block_name() + where + what;
        E.failed = true;
    }
    f->dirty = true;
    switch_away(false);
    abort(); /* the scheduler abandons a failed launch */
}

Fiber *current(const char *what) {
    if (!engine_ptr || !E.cur) {
        fprintf(stderr, "mixc_emu: %s called outside a kernel launch\n", what);
        abort();
    }
    return E.cur;
}

/* ------------------------------------------------------------------ stacks */
size_t page_size() {
    static const size_t p = (size_t)sysconf(_SC_PAGESIZE);
    return p;
}

size_t wanted_stack_size() {
    size_t s = E.stack_size;
    if (!s) {
        const char *env = getenv("MIXC_EMU_STACK_KB");
        long kb = env ? strtol(env, nullptr, 10) : 0;
        s = kb > 0 ? (size_t)kb * 1024 : (MIXC_EMU_ASAN ? 256 * 1024 : 64 * 1024);
    }
    if (s < 16 * 1024) s = 16 * 1024;
    return (s + page_size() - 1) / page_size() * page_size();
}

bool ensure_stack(Fiber &f, size_t size) {
    if (f.map && f.stack_size == size) return true;
    if (f.map) munmap(f.map, f.map_size);
#if MIXC_EMU_TSAN
    if (f.tsan_fiber && f.dirty) { /* about to forget `dirty`: see ensure_tsan_fiber */
        __tsan_destroy_fiber(f.tsan_fiber);
        f.tsan_fiber = nullptr;
    }
#endif
    f.map = nullptr;
    size_t total = size + page_size();
    void *m = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) return false;
    mprotect(m, page_size(), PROT_NONE); /* overflow faults instead of corrupting a neighbour */
    f.map = (char *)m;
    f.map_size = total;
    f.stack = f.map + page_size();
    f.stack_size = size;
    f.dirty = false;
    return true;
}

/* The race check's TSan context of a fiber. One abandoned mid-kernel (failed launch) is replaced:
 * its shadow call stack still holds the frames it never returned from. */
void ensure_tsan_fiber(Fiber &f) {
#if MIXC_EMU_TSAN
    if (f.tsan_fiber && f.dirty) {
        __tsan_destroy_fiber(f.tsan_fiber);
        f.tsan_fiber = nullptr;
    }
    if (!f.tsan_fiber) f.tsan_fiber = __tsan_create_fiber(0);
#else
    (void)f;
#endif
}

/* Lays out a first frame that mixc_emu_ctx_switch "returns" into mixc_emu_ctx_start. */
void init_context(Fiber &f) {
    ensure_tsan_fiber(f);
#if MIXC_EMU_ASAN
    if (f.dirty) __asan_unpoison_memory_region(f.stack, f.stack_size);
#endif
    f.dirty = false;
    f.async.clear();   /* a block's copies left in flight die with its shared memory */
    f.async_commits = 0;
    uint32_t mxcsr;
    uint16_t fcw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fcw));
    uint64_t *top = (uint64_t *)(f.stack + f.stack_size);
    top[-1] = 0;
    top[-2] = (uint64_t)(uintptr_t)&mixc_emu_ctx_start; /* return address */
    top[-3] = 0;                                        /* rbp */
    top[-4] = 0;                                        /* rbx */
    top[-5] = (uint64_t)(uintptr_t)&f;                  /* r12: argument */
    top[-6] = (uint64_t)(uintptr_t)&fiber_main;         /* r13: function */
    top[-7] = 0;                                        /* r14 */
    top[-8] = 0;                                        /* r15 */
    top[-9] = (uint64_t)mxcsr | ((uint64_t)fcw << 32);
    f.sp = &top[-9];
}

/* ------------------------------------------------------------------ scheduling */
#include "emu_sched.inc"

/* ------------------------------------------------------------------ warp collectives */
#include "emu_warp.inc"

/* ------------------------------------------------------------------ launch */
std::string check_launch(MixcEmuEntry entry, dim3 grid, dim3 block, size_t smem) {
    if (!entry) return "no kernel entry point";
    if (!grid.x || !grid.y || !grid.z)
        return format("invalid grid (%u,%u,%u): every dimension must be at least 1", grid.x, grid.y, grid.z);
    if (grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535)
        return format("invalid grid (%u,%u,%u): limits are (2^31-1,65535,65535)", grid.x, grid.y, grid.z);
    if (!block.x || !block.y || !block.z)
        return format("invalid block (%u,%u,%u): every dimension must be at least 1", block.x, block.y, block.z);
    if (block.x > 1024 || block.y > 1024 || block.z > 64 ||
        (uint64_t)block.x * block.y * block.z > 1024)
        return format("invalid block (%u,%u,%u): at most (1024,1024,64) and 1024 threads", block.x,
                      block.y, block.z);
    if (smem > MAX_DYNAMIC_SMEM)
        return format("dynamic shared memory of %zu bytes exceeds the %zu-byte limit", smem, MAX_DYNAMIC_SMEM);
    if (E.cur) return "kernel launch from inside a kernel (dynamic parallelism) is not supported";
    return "";
}

void prepare_block(unsigned n, dim3 block) {
    for (unsigned i = 0; i < n; i++) {
        Fiber &f = E.fibers[i];
        f.view.tid = make_uint3(i % block.x, i / block.x % block.y, i / (block.x * block.y));
        f.view.linear = i;
        f.view.lane = i % 32;
        f.view.warp = i / 32;
        f.st = St::Ready;
        f.coll = Coll::None;
        f.mask = 0;
        init_context(f);
#if MIXC_EMU_TSAN
        /* race reports then name the CUDA thread: "Thread T2 'thread (1,0,0) block (0,0,0)'" */
        const uint3 b = mixc_emu_bv.bid;
        char name[80];
        snprintf(name, sizeof name, "thread (%u,%u,%u) block (%u,%u,%u)", f.view.tid.x,
                 f.view.tid.y, f.view.tid.z, b.x, b.y, b.z);
        __tsan_set_fiber_name(f.tsan_fiber, name);
#endif
    }
    for (unsigned w = 0; w < E.warps.size(); w++) {
        unsigned lanes = n - w * 32 >= 32 ? 32 : n - w * 32;
        E.warps[w] = Warp{0, lanes == 32 ? FULL : (1u << lanes) - 1, {}};
    }
}

int finish(int rc, const std::string &msg, char *err, size_t errlen) {
    if (err && errlen) snprintf(err, errlen, "%s", msg.c_str());
    return rc;
}

bool reverse_schedule() {
    if (E.reverse >= 0) return E.reverse != 0;
    const char *env = getenv("MIXC_EMU_SCHEDULE");
    return env && strcmp(env, "reverse") == 0;
}

} // namespace

/* ------------------------------------------------------------------ collectives (public) */
namespace mixc_emu {

void syncthreads(const char *file, int line) {
    Fiber *f = current("__syncthreads");
    f->st = St::Barrier;
    f->name = "__syncthreads";
    f->file = file;
    f->line = line;
    tsan_arrive(E.tsan_block);
    switch_away(false);
    tsan_resume(E.tsan_block);
}

void syncwarp(unsigned mask, const char *file, int line) {
    Fiber *f = current("__syncwarp");
    f->in.variant = 0;
    arrive(f, Coll::Syncwarp, mask, "__syncwarp", file, line);
}

uint64_t shfl(unsigned mask, uint64_t bits, ShflMode mode, int arg, int width, const char *name,
              const char *file, int line) {
    Fiber *f = current(name);
    if (width < 1 || width > 32 || (width & (width - 1)))
        fail("%s (%s:%d): width %d is not a power of 2 in [1, 32]", name, base_name(file), line, width);
    f->in.bits = bits;
    f->in.mode = mode;
    f->in.arg = arg;
    f->in.width = width;
    f->in.variant = 0;
    arrive(f, Coll::Shfl, mask, name, file, line);
    return f->result;
}

unsigned vote(unsigned mask, int pred, VoteMode mode, const char *file, int line) {
    static const char *const names[] = {"__ballot_sync", "__any_sync", "__all_sync"};
    Fiber *f = current(names[mode]);
    f->in.pred = pred;
    f->in.mode = mode;
    f->in.variant = 0;
    arrive(f, Coll::Vote, mask, names[mode], file, line);
    return (unsigned)f->result;
}

void mma_16816(bool bf16, float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
               const char *file, int line) {
    const char *name = bf16 ? "mma_bf16_16816" : "mma_fp16_16816";
    Fiber *f = current(name);
    require_full_warp(f, name, file, line);
    f->in.a = a;
    f->in.b = b;
    f->in.c = c;
    f->in.d = d;
    f->in.variant = bf16;
    arrive(f, Coll::Mma, FULL, name, file, line);
}

void ldmatrix(int nmat, bool trans, uint32_t *r, const void *row, const char *file, int line) {
    static const char *const names[2][5] = {
        {"", "ldmatrix_x1", "ldmatrix_x2", "", "ldmatrix_x4"},
        {"", "ldmatrix_x1_trans", "ldmatrix_x2_trans", "", "ldmatrix_x4_trans"}};
    const char *name = names[trans][nmat];
    Fiber *f = current(name);
    require_full_warp(f, name, file, line);
    /* only lanes 0..8*nmat-1 supply addresses; the others' are ignored, as on the GPU */
    if (f->view.lane < 8u * (unsigned)nmat && (row == nullptr || (uintptr_t)row % 16))
        fail("%s (%s:%d): row address %p of lane %u is not 16-byte aligned", name,
             base_name(file), line, row, f->view.lane);
    f->in.row = row;
    f->in.r = r;
    f->in.variant = nmat * 2 + (trans ? 1 : 0);
    arrive(f, Coll::Ldmatrix, FULL, name, file, line);
}

/* cp.async as the GPU may run it, at its latest: the copy lands only at the wait that covers its
 * group, and until then its destination holds MIXC_EMU_ASYNC_POISON (0xff bytes: NaN in bf16, fp16
 * and fp32), so that a tile read before its wait, or a wait count that leaves its group pending,
 * gives wrong results instead of the right ones by luck. The source is read when the copy lands. */
void cp_async_16(void *dst, const void *src, const char *file, int line) {
    Fiber *f = current("cp_async_16");
    if (!dst || !src || (uintptr_t)dst % 16 || (uintptr_t)src % 16)
        fail("cp_async_16 (%s:%d): addresses %p <- %p must be 16-byte aligned", base_name(file),
             line, dst, src);
    f->async.push_back({dst, src, f->async_commits});
    memset(dst, MIXC_EMU_ASYNC_POISON, 16);
}

void cp_async_commit() {
    Fiber *f = current("cp_async_commit");
    if (f->view.linear == 0) E.stats.async_groups++;
    f->async_commits++;
}

/* cp.async.wait_group n: every committed group but the n most recent lands; copies not yet
 * committed stay in flight (as in PTX: wait_group waits for committed groups only). */
void cp_async_wait_group(unsigned pending) {
    Fiber *f = current("cp_async_wait_group");
    if (f->async_commits <= pending) return;
    const unsigned landed = f->async_commits - pending;   /* groups 0 .. landed - 1 */
    size_t kept = 0;
    for (const AsyncCopy &c : f->async) {
        if (c.group < landed) memcpy(c.dst, c.src, 16);
        else f->async[kept++] = c;
    }
    f->async.resize(kept);
}

void kernel_error(const char *file, int line, const char *what) {
    current(what);
    fail("%s:%d: %s", base_name(file), line, what);
}

} // namespace mixc_emu

/* ------------------------------------------------------------------ launcher */
int mixc_emu_launch(void (*entry)(const void *), const void *params, dim3 grid, dim3 block,
                    size_t dynamic_smem_bytes, char *err, size_t errlen) {
    engine();
    std::string bad = check_launch(entry, grid, block, dynamic_smem_bytes);
    if (!bad.empty()) return finish(2, "invalid launch: " + bad, err, errlen);

    const unsigned n = block.x * block.y * block.z;
    const size_t stack = wanted_stack_size();
    if (E.fibers.size() < n) E.fibers.resize(n);
    for (unsigned i = 0; i < n; i++)
        if (!ensure_stack(E.fibers[i], stack))
            return finish(3, format("cannot allocate %u fiber stacks of %zu bytes: %s", n, stack,
                                    strerror(errno)), err, errlen);
    E.warps.assign((n + 31) / 32, Warp{0, 0, {}});

    /* exactly the requested size, so that AddressSanitizer sees overruns past its end */
    void *smem = nullptr;
    if (dynamic_smem_bytes && posix_memalign(&smem, 128, dynamic_smem_bytes) != 0)
        return finish(3, "cannot allocate dynamic shared memory", err, errlen);

    E.entry = entry;
    E.params = params;
    E.failed = false;
    E.err.clear();
    E.stats.launches++;
#if MIXC_EMU_TSAN
    E.tsan_sched = __tsan_get_current_fiber();
#endif
    const mixc_emu::BlockView saved = mixc_emu_bv;
    const bool reverse = reverse_schedule();
    mixc_emu_bv.bdim = make_uint3(block.x, block.y, block.z);
    mixc_emu_bv.gdim = make_uint3(grid.x, grid.y, grid.z);
    mixc_emu_bv.dynamic_smem = smem;
    mixc_emu_bv.dynamic_smem_bytes = dynamic_smem_bytes;
    bool ok = true;
    for (unsigned z = 0; ok && z < grid.z; z++)
        for (unsigned y = 0; ok && y < grid.y; y++)
            for (unsigned x = 0; ok && x < grid.x; x++) {
                mixc_emu_bv.bid = make_uint3(x, y, z);
                if (smem) memset(smem, 0xff, dynamic_smem_bytes); /* unwritten reads give NaN */
                prepare_block(n, block);
                tsan_complete(E.tsan_block); /* host and earlier blocks before this one */
                ok = run_block(n, reverse);
                tsan_complete(E.tsan_block); /* this block before the host and later ones */
                E.stats.blocks++;
                E.stats.threads += n;
                if (!ok)
                    for (unsigned i = 0; i < n; i++)
                        if (E.fibers[i].st != St::Done) E.fibers[i].dirty = true;
                if (!ok) break;
            }
    free(smem);
    mixc_emu_bv = saved;
    return ok ? 0 : finish(1, E.err, err, errlen);
}

extern "C" {

int mixc_emu_launch_c(MixcEmuEntry entry, const void *params, EmuDim3 grid, EmuDim3 block,
                      size_t dynamic_smem_bytes, char *err, size_t errlen) {
    return mixc_emu_launch(entry, params, dim3(grid.x, grid.y, grid.z), dim3(block.x, block.y, block.z),
                           dynamic_smem_bytes, err, errlen);
}

void *mixc_emu_dlopen_kernels(const char *so_path, char *err, size_t errlen) {
    void *h = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    if (!h && err && errlen) {
        const char *why = dlerror();
        snprintf(err, errlen, "cannot load emulated kernels '%s': %s", so_path, why ? why : "unknown error");
    }
    return h;
}

void *mixc_emu_find_kernel(void *handle, const char *name) {
    if (!handle || !name) return nullptr;
    std::string sym = std::string(name) + "_emu_entry";
    return dlsym(handle, sym.c_str());
}

void mixc_emu_dlclose(void *handle) {
    if (handle) dlclose(handle);
}

void mixc_emu_set_stack_size(size_t bytes) { engine().stack_size = bytes; }
void mixc_emu_set_schedule(int reverse) { engine().reverse = reverse ? 1 : 0; }
void mixc_emu_release(void) {
    if (engine_ptr) E.release_stacks();
}
void mixc_emu_get_stats(MixcEmuStats *out) {
    if (out) *out = engine().stats;
}

} // extern "C"
