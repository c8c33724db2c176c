/* test_race.cpp — kernels for the emulator's race check (built with -fsanitize=thread and an
 * emu.o compiled with -DMIXC_EMU_TSAN; see mk/emu.mk and docs/emulator.md).
 *
 *   test_race CASE      runs one kernel (*_after_failure: after a launch that fails); exit 0 if
 *                       it ran, 1 if the launch failed
 *
 * Each case is run in its own process by tests/emu/run.sh, which decides from ThreadSanitizer's
 * report (and exit code) whether a race was flagged: the racy_* cases must be reported, the
 * ordered_* cases must not. Together they pin down where the emulator declares ordering: exactly
 * at __syncthreads, at warp collectives among the lanes of their mask, at atomics (no race, no
 * order), and at block and launch boundaries.
 */
#include <cstdio>
#include <cstring>

namespace {

struct Params {
    int *out;
    int mode;
};

/* Thread 0 writes a shared word, thread 1 reads it: with a barrier between (ordered) or not. */
extern "C" __global__ void k_smem_pair(const Params p) {
    __shared__ int word;
    if (threadIdx.x == 0) word = 42;
    if (p.mode == 1) __syncthreads();
    if (threadIdx.x == 1) p.out[0] = word;
}
MIXC_EMU_ENTRY(k_smem_pair, Params)

/* Both threads pass one barrier; thread 0 then writes the word that thread 1 reads after the same
 * barrier. A racecheck that modelled the barrier as one sync object would let thread 0, scheduled
 * first, pass its post-barrier write to thread 1 through that object. mode 1 adds a second barrier
 * between, which orders them. */
extern "C" __global__ void k_run_ahead(const Params p) {
    __shared__ int word;
    if (threadIdx.x == 1) word = 1;
    __syncthreads();
    if (threadIdx.x == 0) word = 2;
    if (p.mode == 1) __syncthreads();
    if (threadIdx.x == 1) p.out[0] = word;
    __syncthreads();
}
MIXC_EMU_ENTRY(k_run_ahead, Params)

/* Lane 0 writes, lane 1 (mode 0: lane 16) reads, after a __syncwarp. mode 0: the two halves of
 * the warp sync separately (masks 0x0000ffff and 0xffff0000), which orders nothing between them. */
extern "C" __global__ void k_syncwarp(const Params p) {
    __shared__ int word;
    const unsigned lane = threadIdx.x;
    if (lane == 0) word = 7;
    if (p.mode == 1) __syncwarp();
    else __syncwarp(lane < 16 ? 0x0000ffffu : 0xffff0000u);
    if (lane == (p.mode == 1 ? 1u : 16u)) p.out[0] = word;
}
MIXC_EMU_ENTRY(k_syncwarp, Params)

/* Every thread adds to a shared counter (atomics do not race), then thread 0 reads it after the
 * barrier (ordered). mode 0 reads it before the barrier: a plain read racing with atomics. */
extern "C" __global__ void k_atomics(const Params p) {
    __shared__ int count;
    if (threadIdx.x == 0) count = 0;
    __syncthreads();
    atomicAdd(&count, 1);
    if (p.mode == 1) __syncthreads();
    if (threadIdx.x == blockDim.x - 1) p.out[0] = count;
    __syncthreads();
}
MIXC_EMU_ENTRY(k_atomics, Params)

/* Thread 5 of every block writes its own slot of global memory, thread 9 of the next block reads
 * the previous block's: ordered, as blocks run one after another (on a GPU this would be a race
 * between blocks, which the race check does not model). The host reads `out` after the launch. */
extern "C" __global__ void k_blocks(const Params p) {
    if (threadIdx.x == 5) p.out[blockIdx.x] = (int)blockIdx.x + 1;
    if (threadIdx.x == 9 && blockIdx.x > 0) p.out[64 + blockIdx.x] = p.out[blockIdx.x - 1];
}
MIXC_EMU_ENTRY(k_blocks, Params)

/* Barrier divergence: thread 0 skips the barrier, the launch fails with its fibers abandoned
 * mid-kernel. Run before k_smem_pair to check that the race check recovers from that. */
extern "C" __global__ void k_diverge(const Params p) {
    if (threadIdx.x != 0) __syncthreads();
}
MIXC_EMU_ENTRY(k_diverge, Params)

struct Case {
    const char *name;
    MixcEmuEntry entry;
    int mode;
    unsigned grid, block;
};
const Case cases[] = {
    {"racy_smem", k_smem_pair_emu_entry, 0, 1, 64},
    {"ordered_smem", k_smem_pair_emu_entry, 1, 1, 64},
    {"racy_run_ahead", k_run_ahead_emu_entry, 0, 1, 64},
    {"ordered_run_ahead", k_run_ahead_emu_entry, 1, 1, 64},
    {"racy_syncwarp_halves", k_syncwarp_emu_entry, 0, 1, 32},
    {"ordered_syncwarp", k_syncwarp_emu_entry, 1, 1, 32},
    {"racy_atomics", k_atomics_emu_entry, 0, 1, 64},
    {"ordered_atomics", k_atomics_emu_entry, 1, 1, 64},
    {"ordered_blocks", k_blocks_emu_entry, 1, 4, 32},
    {"racy_after_failure", k_smem_pair_emu_entry, 0, 1, 64},
    {"ordered_after_failure", k_smem_pair_emu_entry, 1, 1, 64},
};

} // namespace

int main(int argc, char **argv) {
    const Case *c = nullptr;
    for (const Case &k : cases)
        if (argc == 2 && !strcmp(argv[1], k.name)) c = &k;
    if (!c) {
        fprintf(stderr, "usage: test_race CASE; cases:");
        for (const Case &k : cases) fprintf(stderr, " %s", k.name);
        fprintf(stderr, "\n");
        return 2;
    }
    static int out[128];
    Params p{out, c->mode};
    char err[512] = "";
    if (strstr(c->name, "_after_failure") &&
        mixc_emu_launch(k_diverge_emu_entry, &p, dim3(2), dim3(64), 0, err, sizeof err) == 0) {
        fprintf(stderr, "test_race %s: the divergent launch did not fail\n", c->name);
        return 1;
    }
    int rc = mixc_emu_launch(c->entry, &p, dim3(c->grid), dim3(c->block), 0, err, sizeof err);
    if (rc) {
        fprintf(stderr, "test_race %s: launch failed: %s\n", c->name, err);
        return 1;
    }
    int sum = 0; /* the host reads every result: ordered after the launch */
    for (int v : out) sum += v;
    printf("test_race %s: ran (checksum %d)\n", c->name, sum);
    mixc_emu_release();
    return 0;
}
