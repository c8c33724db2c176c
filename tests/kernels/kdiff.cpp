/* kdiff.cpp — differential tests: every kernel of an emitted kernels.cu, run on the CPU emulator,
 * against the fp32 references of ref.c.
 *
 *   kdiff KERNELS.so MANIFEST.json [SUBSTRING] [--long]
 *
 * For each kernel of the manifest (whose name contains SUBSTRING), builds inputs from a fixed seed,
 * launches it with the manifest's geometry and compares with the reference:
 * |out - ref| <= atol + rtol * |ref| (tolerances in docs/kernels.md). A layout with an 8-bit cache
 * (kv_dtype int8 or fp8) fills its caches with the cpu quantizer's codes and scales (mixc_kv8.h) and
 * compares against attention over their dequantized values, then against attention over the
 * unquantized keys and values within the bound docs/kernels.md derives (the measured error and the
 * bound are printed). Every prefill launch also counts the key tiles its blocks load (the emulator's
 * cp.async groups) against the count of the masks' whole-tile skipping; a chunked layer's prefill is
 * also run over a chunk of up to 1024 tokens, where that count must be a fraction of a global
 * layer's (O(L * C) work, not O(L^2)). Prints "PASS name" or
 * "FAIL name" and the first mismatches; exits 1 if anything failed. --long: longer prefill chunks
 * (up to 300 and 177 tokens instead of 70 and 37).
 *
 * Compiled as CUDA-on-CPU C++ (-DMIXC_EMU -include mixc_emu.h -I templates) only for the parameter
 * structs of the templates; the kernels themselves come from KERNELS.so.
 */
#include "small.cuh"
#include "rope.cuh"
#include "decode.cuh"
#include "prefill.cuh"

#include <jansson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kdiff.h"

namespace {

using namespace kdiff;


/* ------------------------------------------------------------------ attention */

struct AttnKernel {
    int g;
    long long window, cap;
    long long chunked;   /* 0: not chunked (absent from the manifest) */
    size_t smem;
    int splits;
    long long page;      /* a paged cache's rows per page (the manifest's page_tokens); 0: unpaged */
};

/* One head's values quantized as the cpu backend does (mixc_kv8.h); returns the scale and writes the
 * codes and their dequantized values. */
float quantize_row(const Model &m, const float *x, unsigned char *codes, float *deq) {
    float absmax = 0.0f;
    for (int d = 0; d < m.hd; d++) absmax = std::max(absmax, std::fabs(x[d]));
    const float scale = mixc_kv8_scale(m.fp8, absmax);
    for (int d = 0; d < m.hd; d++) {
        codes[d] = mixc_kv8_code(m.fp8, x[d], scale);
        deq[d] = mixc_kv8_value(m.fp8, codes[d]) * scale;
    }
    return scale;
}

/* The largest error of quantizing x in a head of scale s: half a step (int8); half a unit in the
 * last of e4m3's 3 mantissa bits, 2^-4 |x|, or half the subnormal step 2^-9 s (docs/kernels.md). */
float quant_error(const Model &m, float x, float s) {
    return m.fp8 ? std::max(std::ldexp(std::fabs(x), -4), std::ldexp(s, -10)) : s / 2;
}

/* Keys and values of one sequence by absolute position; for an 8-bit cache also their codes, scales
 * and dequantized values (kq, vq: the values themselves otherwise). */
struct History {
    Tensor k, v;
    int npos;
    std::vector<unsigned char> kc, vc;
    std::vector<float> kq, vq, ks, vs;   /* ks, vs: [npos][kv_heads] */
    History(const Model &m, int npos_) : k((size_t)npos_ * m.kv_heads * m.hd, m.is_fp16),
                                         v((size_t)npos_ * m.kv_heads * m.hd, m.is_fp16), npos(npos_) {
        k.fill_random(1.0f);
        v.fill_random(1.0f);
        kq = k.f, vq = v.f;
        if (!m.kv8) return;
        kc.resize(k.f.size()), vc.resize(v.f.size());
        ks.resize((size_t)npos * m.kv_heads), vs.resize(ks.size());
        for (size_t r = 0; r < ks.size(); r++) {
            ks[r] = quantize_row(m, &k.f[r * m.hd], &kc[r * m.hd], &kq[r * m.hd]);
            vs[r] = quantize_row(m, &v.f[r * m.hd], &vc[r * m.hd], &vq[r * m.hd]);
        }
    }
};

/* A K or V cache of `batch` sequences in the kernels' layout (MIXC_KV_SEQ_BYTES): elements of the
 * model dtype, or codes then scales. Slots never written hold NaN (an element, or a scale):
 * reading one would show. Paged (page > 0; docs/plan.md, "Paged caches"): one pool of rows (then its
 * scales) and a block table per sequence, its pages a scramble of the pool's (neither in order nor
 * increasing; two spare pages no table holds), the same for K and V. */
struct Cache {
    size_t seq_bytes, row;
    long long cap, page, pool_rows = 0;
    int kv_heads, table_pages = 0;
    std::vector<unsigned char> bytes;
    std::vector<int> table;   /* paged: [batch][table_pages] */
    Cache(const Model &m, long long cap_, int batch, long long page_ = 0)
        : seq_bytes((size_t)MIXC_KV_SEQ_BYTES(cap_, (long long)m.kv_heads, (long long)m.hd, m.kv8 ? 1LL : 2LL)),
          row((size_t)m.kv_heads * m.hd), cap(cap_), page(page_), kv_heads(m.kv_heads) {
        long long rows = cap;   /* a block's rows: a sequence's, or (paged: one block) the pool's */
        if (page) {
            table_pages = (int)((cap + page - 1) / page);
            std::vector<int> ids((size_t)batch * table_pages + 2);
            for (size_t i = 0; i < ids.size(); i++) ids[i] = (int)i;
            std::mt19937 shuffle(1234);
            std::shuffle(ids.begin(), ids.end(), shuffle);
            table.assign(ids.begin(), ids.begin() + (long)batch * table_pages);
            rows = pool_rows = (long long)ids.size() * page;
            seq_bytes = (size_t)MIXC_KV_SEQ_BYTES(pool_rows, (long long)m.kv_heads, (long long)m.hd, m.kv8 ? 1LL : 2LL);
            batch = 1;
        }
        bytes.assign(seq_bytes * batch, 0);
        const uint16_t nan16 = m.is_fp16 ? 0x7e00 : 0x7fc0;
        const float nan32 = std::nanf("");
        for (int b = 0; b < batch; b++)
            for (long long i = 0; i < rows * (long long)(m.kv8 ? m.kv_heads : row); i++) {
                if (m.kv8) memcpy(&bytes[b * seq_bytes + rows * row + i * 4], &nan32, 4);
                else memcpy(&bytes[b * seq_bytes + i * 2], &nan16, 2);
            }
    }
    /* The row of position p of sequence b: its ring slot in b's block, or its pool row. */
    size_t row_of(int b, long long p) const {
        return page ? (size_t)MIXC_PAGED_ROW(&table[(size_t)b * table_pages], page, p) : (size_t)(p % cap);
    }
    /* The byte offset of position p's elements (codes) of sequence b, element size esize. */
    size_t at(int b, long long p, size_t esize) const { return (page ? 0 : b * seq_bytes) + row_of(b, p) * row * esize; }
    /* Sequence b's scales of position p (8-bit caches). */
    float *scales(int b, long long p) {
        return reinterpret_cast<float *>(&bytes[(page ? 0 : b * seq_bytes) + (page ? pool_rows : cap) * row]) +
               row_of(b, p) * kv_heads;
    }
    /* Positions 0..npos-1 of h into sequence b's rows (later positions overwrite earlier ones in a
     * ring, as the appends did). */
    void fill(const Model &m, const History &h, const Tensor &src, const std::vector<unsigned char> &codes,
              const std::vector<float> &sc, int b) {
        for (int p = 0; p < h.npos; p++) {
            if (!m.kv8) {
                memcpy(&bytes[at(b, p, 2)], &src.raw[(size_t)p * row], row * 2);
                continue;
            }
            memcpy(&bytes[at(b, p, 1)], &codes[(size_t)p * row], row);
            memcpy(scales(b, p), &sc[(size_t)p * kv_heads], (size_t)kv_heads * 4);
        }
    }
    /* The kernels' view of the tables (all 0 unpaged). */
    MixcPagedKv paged() const { return page ? MixcPagedKv{table.data(), pool_rows, table_pages} : MixcPagedKv{}; }
    void *data() { return bytes.data(); }
};

/* Both caches of `batch` sequences with their histories. */
struct Caches {
    Cache k, v;
    Caches(const Model &m, long long cap, const std::vector<History> &hist, long long page = 0)
        : k(m, cap, (int)hist.size(), page), v(m, cap, (int)hist.size(), page) {
        for (size_t b = 0; b < hist.size(); b++) {
            k.fill(m, hist[b], hist[b].k, hist[b].kc, hist[b].ks, (int)b);
            v.fill(m, hist[b], hist[b].v, hist[b].vc, hist[b].vs, (int)b);
        }
    }
};

/* docs/kernels.md, "8-bit caches": keys off by at most ek[j][d] and values by ev[j][d] move an
 * attention output by at most (e^(2 eps) - 1) max|v| + max ev, eps = scale max_j sum_d |q_d| ek[j][d].
 * vs_exact: against the unquantized keys and values (the quantization error and, in prefill, the
 * rounding of the dequantized values to the model dtype); else against the dequantized ones (that
 * rounding only). Taken over every key of the history: a superset of the visible ones. */
float attention_bound(const Model &m, const float *q, int kvh, const History &h, bool prefill, bool vs_exact) {
    const float u = m.is_fp16 ? std::ldexp(1.0f, -11) : std::ldexp(1.0f, -8);
    double eps = 0, ev_max = 0, v_max = 0;
    for (int j = 0; j < h.npos; j++) {
        const size_t r = (size_t)j * m.kv_heads + kvh;
        double sk = 0;
        for (int d = 0; d < m.hd; d++) {
            const size_t i = r * m.hd + d;
            const double ek = (vs_exact ? quant_error(m, h.k.f[i], h.ks[r]) : 0) + (prefill ? u * std::fabs(h.kq[i]) : 0);
            const double ev = (vs_exact ? quant_error(m, h.v.f[i], h.vs[r]) : 0) + (prefill ? u * std::fabs(h.vq[i]) : 0);
            sk += std::fabs(q[d]) * ek;
            ev_max = std::max(ev_max, ev);
            v_max = std::max(v_max, (double)std::fabs(vs_exact ? h.v.f[i] : h.vq[i]));
        }
        eps = std::max(eps, (double)m.scale * sk);
    }
    return (float)(std::expm1(2 * eps) * v_max + ev_max);
}

/* n queries of one sequence (q [n][heads][hd], got likewise) against the reference over the cache's
 * values; with an 8-bit cache also against the unquantized values within attention_bound (vs_exact),
 * adding "measured / bound" to *note. */
bool check_attention(const std::string &name, const Model &m, const float *got, const float *q,
                     const int *qpos, int n, const History &h, const AttnKernel &ak, bool prefill,
                     const float *sinks, std::string *note) {
    const Tol t = tol_for(m);
    const size_t width = (size_t)m.heads * m.hd;
    for (int exact = 0; exact <= (m.kv8 ? 1 : 0); exact++) {
        std::vector<float> want((size_t)n * width);
        ref_attention(want.data(), q, qpos, n, (exact ? h.k.f : h.kq).data(), (exact ? h.v.f : h.vq).data(),
                      h.npos, m.heads, m.kv_heads, m.hd, ak.window, ak.chunked, m.scale, m.softcap, sinks);
        double worst = 0, bound_max = 0;
        for (size_t r = 0; r < (size_t)n * m.heads; r++) {
            const float bound = m.kv8 ? attention_bound(m, q + r * m.hd, (int)(r % m.heads) / (m.heads / m.kv_heads),
                                                        h, prefill, exact) : 0.0f;
            bound_max = std::max(bound_max, (double)bound);
            for (int d = 0; d < m.hd; d++) worst = std::max(worst, (double)std::fabs(got[r * m.hd + d] - want[r * m.hd + d]));
            if (ref_compare((name + (exact ? " vs fp32 K/V" : "")).c_str(), got + r * m.hd, want.data() + r * m.hd,
                            m.hd, t.atol + bound, t.rtol, 3) != 0)
                return false;
        }
        if (exact) {
            char buf[160];
            snprintf(buf, sizeof buf, "; vs fp32 K/V over %d keys: measured %.4f, bound %.4f + tolerance", h.npos,
                     worst, bound_max);
            *note += buf;
        }
    }
    return true;
}

/* Attention sinks for every attention test: a logit per head in the model dtype, of the scores' size
 * (the kernels' no-sink path runs in test_prefill_tiles and in every model-level emu run). */
Tensor head_sinks(const Model &m) {
    Tensor t((size_t)m.heads, m.is_fp16);
    t.fill_random(2.0f);
    return t;
}

/* The manifest's dynamic smem (computed by codegen.c) must be what the template carves up. */
bool smem_matches(const std::string &name, size_t manifest, size_t tmpl) {
    if (manifest == tmpl) return true;
    fprintf(stderr, "  %s: manifest dynamic_smem %zu, template needs %zu\n", name.c_str(), manifest, tmpl);
    return false;
}

/* The key tiles one prefill block loads under whole-tile skipping: from the tile of its first query's
 * first key to the tile of its last query (the masks of docs/language.md, written here apart from the
 * kernels' mixc_first_key). */
long long block_tiles(long long qlo, long long qhi, const AttnKernel &ak, int bn) {
    const long long kmin = ak.chunked > 0 ? qlo - qlo % ak.chunked
                           : ak.window > 0 ? std::max(0LL, qlo - ak.window + 1) : 0;
    return qhi / bn - kmin / bn + 1;
}

/* The tiles of a launch: every block of every sequence, for every head. */
long long prefill_tiles(const int *len, const int *pos0, int nseq, int heads, const AttnKernel &ak, int bn) {
    long long n = 0;
    for (int b = 0; b < nseq; b++)
        for (int m0 = 0; m0 < len[b]; m0 += PREFILL_BM)
            n += block_tiles(pos0[b] + m0, pos0[b] + std::min(m0 + PREFILL_BM, len[b]) - 1, ak, bn);
    return n * heads;
}

/* A batched prefill's int table (mixc_prefill_args, as the backends fill it) for parts packed in order,
 * sized for `tokens` tokens and exactly these parts; sets p's part and tile pointers, batch, ntiles. */
struct PrefillTable {
    std::vector<int> args;
    PrefillTable(PrefillParams &p, int parts, int tokens, const int *len, const int *pos0, const int *slot)
        : args((size_t)PREFILL_ARGS_INTS(tokens, parts)) {
        p.ntiles = mixc_prefill_args(args.data(), parts, parts, len, pos0, slot);
        p.q_start = args.data(), p.q_len = p.q_start + parts, p.pos0 = p.q_len + parts, p.slot = p.pos0 + parts;
        p.tiles = args.data() + PREFILL_PART_INTS * parts;
        p.batch = parts;
    }
    /* heaviest first: the keys each tile's last query sees never grow along the table */
    bool heaviest_first(const PrefillParams &p) const {
        long long last = -1;
        for (int t = 0; t < p.ntiles; t++) {
            const int b = p.tiles[2 * t], m0 = p.tiles[2 * t + 1];
            const long long keys = (long long)p.pos0[b] + std::min(m0 + PREFILL_BM, p.q_len[b]);
            if (last >= 0 && keys > last) return false;
            last = keys;
        }
        return true;
    }
};

/* Launches a prefill over `tokens` tokens and counts the key tiles its blocks loaded (cp.async
 * groups, one per tile). The backends' grid: [ceil(tokens / BM), heads, parts]. */
bool launch_counting(MixcEmuEntry entry, const PrefillParams &p, int tokens, const Model &m, const AttnKernel &ak,
                     const std::string &name, long long *tiles) {
    MixcEmuStats before, after;
    mixc_emu_get_stats(&before);
    const unsigned gx = (unsigned)((tokens + PREFILL_BM - 1) / PREFILL_BM);
    bool ok = launch(entry, &p, {gx, (unsigned)m.heads, (unsigned)p.batch}, {(unsigned)PREFILL_THREADS(m.hd), 1, 1}, ak.smem, name);
    mixc_emu_get_stats(&after);
    *tiles = (long long)(after.async_groups - before.async_groups);
    return ok;
}

/* A chunked layer's prefill over one long chunk (up to 1024 tokens from position 0): its tiles are
 * the analytic count, and, where the chunk spans 8 or more of the layer's chunks, at most half of
 * what a global layer's blocks would load (a prefill of a few chunks loads about all of a global
 * layer's tiles: every query block reaches back to its chunk's start). Only counted: the values are
 * test_prefill's. */
void test_prefill_tiles(const std::string &name, MixcEmuEntry entry, const Model &m, const AttnKernel &ak) {
    int len[1] = {(int)std::min<long long>(m.chunk, 1024)}, pos0[1] = {0}, slot[1] = {0};
    Tensor q((size_t)len[0] * m.heads * m.hd, m.is_fp16), out(q.f.size(), m.is_fp16);
    q.fill_random(2.0f);
    std::vector<History> hist;
    hist.emplace_back(m, len[0]);
    Caches c(m, ak.cap, hist, ak.page);
    PrefillParams p = {};
    p.q = q.data(), p.out = out.data(), p.k_cache = c.k.data(), p.v_cache = c.v.data(), p.scale = m.scale;
    p.paged = c.k.paged();
    PrefillTable table(p, 1, len[0], len, pos0, slot);
    const int bn = PREFILL_BN(m.hd);
    long long got = -1, want = prefill_tiles(len, pos0, 1, m.heads, ak, bn);
    const AttnKernel global = {ak.g, 0, ak.cap, 0, ak.smem, ak.splits, ak.page};
    const long long dense = prefill_tiles(len, pos0, 1, m.heads, global, bn);
    /* O(L * C): a block's queries reach at most C - 1 + BM keys, so at most that many tiles' worth
     * plus one for alignment */
    const long long blocks = (len[0] + PREFILL_BM - 1) / PREFILL_BM;
    const long long bound = blocks * m.heads * ((ak.chunked - 1 + PREFILL_BM + bn - 1) / bn + 1);
    const bool long_prefill = len[0] >= 8LL * ak.chunked;
    bool ok = launch_counting(entry, p, len[0], m, ak, name, &got);
    report(name + " tiles over " + std::to_string(len[0]) + " tokens: " + std::to_string(got) + ", expected " +
               std::to_string(want) + ", at most " + std::to_string(bound) + ", a global layer's " +
               std::to_string(dense) + (long_prefill ? "" : " (not compared: fewer than 8 chunks)"),
           ok && got == want && got <= bound && (!long_prefill || 2 * got <= dense));
}

/* A batched prefill (docs/kernels.md): three sequences' chunks in one launch, lengths not multiples of
 * the 64-query tile; the second starts late enough to wrap around a ring cache, the third mid-prompt.
 * Part b reads cache block slot[b], out of order, and block 3 (a history of its own) is read by none.
 * Chunks never exceed the planned chunk (the ring's guarantee). */
bool run_prefill(const std::string &name, MixcEmuEntry entry, const Model &m, const AttnKernel &ak, std::string *note,
                 std::vector<uint16_t> *bits = nullptr) {
    if (!smem_matches(name, ak.smem, PREFILL_SMEM_BYTES(m.hd, 2))) return false;
    const int parts = 3, blocks = 4;
    const int len[parts] = {(int)std::min<long long>(m.chunk, long_mode ? 300 : 70),
                            (int)std::min<long long>(m.chunk, long_mode ? 177 : 37),
                            (int)std::min<long long>(m.chunk, long_mode ? 9 : 5)};
    const int pos0[parts] = {0, (int)std::max(0LL, std::min(m.context - len[1], ak.cap + 29)),
                             (int)std::max(0LL, std::min(m.context - len[2], 41LL))};
    const int slot[parts] = {2, 0, 1};
    const int heads = m.heads, hd = m.hd, tokens = len[0] + len[1] + len[2];
    Tensor q((size_t)tokens * heads * hd, m.is_fp16), out(q.f.size(), m.is_fp16);
    q.fill_random(2.0f);
    std::vector<History> hist;
    for (int k = 0; k < blocks; k++) {
        const int b = (int)(std::find(slot, slot + parts, k) - slot);
        hist.emplace_back(m, b < parts ? pos0[b] + len[b] : 13);
    }
    Caches c(m, ak.cap, hist, ak.page);
    Tensor sinks = head_sinks(m);
    PrefillParams p = {};
    p.q = q.data(), p.out = out.data(), p.k_cache = c.k.data(), p.v_cache = c.v.data(), p.scale = m.scale;
    p.paged = c.k.paged();
    p.sinks = sinks.raw.data();
    PrefillTable table(p, parts, tokens, len, pos0, slot);
    long long tiles = -1, want_tiles = prefill_tiles(len, pos0, parts, heads, ak, PREFILL_BN(hd));
    bool ok = table.heaviest_first(p) && launch_counting(entry, p, tokens, m, ak, name, &tiles);
    if (!table.heaviest_first(p)) fprintf(stderr, "  %s: the tile table is not heaviest first\n", name.c_str());
    if (ok && tiles != want_tiles)
        fprintf(stderr, "  %s: loaded %lld key tiles, whole-tile skipping loads %lld\n", name.c_str(), tiles, want_tiles);
    ok = ok && tiles == want_tiles;
    std::vector<float> got = out.decoded();
    std::string unused;   /* the first (longest) part's figures are the ones reported */
    if (bits) *bits = out.raw;
    for (int b = 0; ok && b < parts; b++) {
        std::vector<int> qpos(len[b]);
        for (int i = 0; i < len[b]; i++) qpos[i] = pos0[b] + i;
        const size_t at = (size_t)p.q_start[b] * heads * hd;
        ok = check_attention(name + " part" + std::to_string(b), m, got.data() + at, q.f.data() + at, qpos.data(),
                             len[b], hist[slot[b]], ak, true, sinks.f.data(), b == 0 ? note : &unused);
    }
    return ok;
}

void test_prefill(const std::string &name, MixcEmuEntry entry, const Model &m, const AttnKernel &ak) {
    std::string note;
    const bool ok = run_prefill(name, entry, m, ak, &note);
    report(name + (m.kv8 && ok ? " (" + note.substr(2) + ")" : ""), ok);
}


/* One decode step of 4 rows over `splits` splits (grid.y: the backend chooses it per launch,
 * plan_decode_launch_splits), then the reduce; every row against the reference. note: the longest
 * history's error figures. direct (one split): the kernel writes the output itself (DecodeParams.out)
 * and no reduce runs, as the plan schedules it; bits (when not NULL): the output's stored bits. */
bool run_decode(const std::string &name, MixcEmuEntry entry, MixcEmuEntry reduce, const Model &m,
                const AttnKernel &ak, int splits, std::string *note, bool direct = false,
                std::vector<uint16_t> *bits = nullptr) {
    /* The first token, a short prefix, a position just past the ring, the last position. */
    const long long last = m.context - 1;
    const int pos[4] = {0, (int)std::min(last, 37LL), (int)std::min(last, ak.cap + 5), (int)last};
    const int batch = 4, heads = m.heads, hd = m.hd;
    /* Row b reads cache block slot[b]: blocks out of order, as a scheduler's active slots are, and
     * block 3 (a history of its own) read by no row. */
    const int slot[4] = {2, 0, 4, 1}, blocks = 5;
    Tensor q((size_t)batch * heads * hd, m.is_fp16), out(q.f.size(), m.is_fp16);
    q.fill_random(2.0f);
    std::vector<History> blocks_hist;
    for (int k = 0; k < blocks; k++) {
        int row = (int)(std::find(slot, slot + batch, k) - slot);
        blocks_hist.emplace_back(m, row < batch ? pos[row] + 1 : 9);
    }
    Caches c(m, ak.cap, blocks_hist, ak.page);
    /* NaN until written: a split that leaves its partial unwritten fails */
    std::vector<float> o_part((size_t)batch * heads * splits * hd, NAN), ml((size_t)batch * heads * splits * 2, NAN);
    Tensor sinks = head_sinks(m);
    DecodeParams p = {q.data(), c.k.data(), c.v.data(), pos, slot, o_part.data(), ml.data(), m.scale, batch,
                      direct ? out.data() : nullptr, sinks.raw.data(), c.k.paged()};
    bool ok = launch(entry, &p, {(unsigned)m.kv_heads, (unsigned)splits, (unsigned)batch},
                     {DECODE_THREADS, 1, 1}, ak.smem, name);
    DecodeReduceParams r = {o_part.data(), ml.data(), out.data(), heads, splits, batch, sinks.raw.data()};
    if (!direct) ok = ok && launch(reduce, &r, {(unsigned)heads, (unsigned)batch, 1}, {(unsigned)hd, 1, 1}, 0, name);
    if (bits) *bits = out.raw;
    std::vector<float> got = out.decoded();
    for (int b = 0; ok && b < batch; b++) {
        std::string nb;   /* the longest history's figures are the ones reported */
        ok = check_attention(name + " pos" + std::to_string(pos[b]), m, got.data() + (size_t)b * heads * hd,
                             q.f.data() + (size_t)b * heads * hd, &pos[b], 1, blocks_hist[slot[b]], ak, false,
                             sinks.f.data(), &nb);
        if (b == batch - 1) *note = nb;
    }
    return ok;
}

void test_decode(const std::string &name, MixcEmuEntry entry, MixcEmuEntry reduce, const Model &m,
                 const AttnKernel &ak) {
    const bool tc = name.find("_tc") != std::string::npos;   /* on tensor cores: q as T rows */
    if (!smem_matches(name, ak.smem, tc ? DECODE_TC_SMEM_BYTES(ak.g, m.hd) : DECODE_SMEM_BYTES(ak.g, m.hd, m.kv8 ? 1 : 2)))
        return report(name, false);
    std::string note;
    bool ok = run_decode(name, entry, reduce, m, ak, ak.splits, &note);
    report(name + " (splits " + std::to_string(ak.splits) + note + ")", ok);
    /* The split counts a launch may choose: 1 to 256, so at the short positions (0 and 37) most splits
     * are empty (more splits than keys, let alone key tiles) and write m = -inf, l = 0. */
    static const int sweep[] = {1, 2, 3, 7, 16, 64, 256};
    std::string failed;
    for (int n : sweep)
        if (!run_decode(name, entry, reduce, m, ak, n, &note)) failed += " " + std::to_string(n);
    report(name + " split counts 1 2 3 7 16 64 256 (empty splits included)" +
               (failed.empty() ? "" : ": wrong at" + failed), failed.empty());
    /* One split writing the output itself (no reduce after it): right, and the reduced output's bits. */
    std::vector<uint16_t> reduced, direct;
    const uint64_t inputs = rng_state;   /* both runs on the same inputs */
    ok = run_decode(name, entry, reduce, m, ak, 1, &note, false, &reduced);
    rng_state = inputs;
    ok = run_decode(name, entry, reduce, m, ak, 1, &note, true, &direct) && ok;
    report(name + " one split, no reduce: the reduced output bit for bit", ok && reduced == direct);
}

/* A paged kernel's output (prefill, or decode of `splits` splits) on inputs it reads through
 * scrambled block tables = the unpaged kernel's (`flat`, kdiff --unpaged) on the same inputs in
 * per-slot blocks, bit for bit. */
void test_paged_bits(const std::string &name, MixcEmuEntry entry, MixcEmuEntry flat, MixcEmuEntry reduce,
                     const Model &m, const AttnKernel &ak, int splits) {
    std::vector<uint16_t> paged, unpaged;
    std::string note;
    AttnKernel flat_ak = ak;
    flat_ak.page = 0;
    const uint64_t inputs = rng_state;
    bool ok = reduce ? run_decode(name, entry, reduce, m, ak, splits, &note, false, &paged)
                     : run_prefill(name, entry, m, ak, &note, &paged);
    rng_state = inputs;
    ok = (reduce ? run_decode(name, flat, reduce, m, flat_ak, splits, &note, false, &unpaged)
                 : run_prefill(name, flat, m, flat_ak, &note, &unpaged)) && ok;
    report(name + (reduce ? " (splits " + std::to_string(splits) + ")" : "") +
               " = the unpaged kernel on the same inputs, bit for bit", ok && paged == unpaged);
}

/* ------------------------------------------------------------------ rope + append */

/* An 8-bit append: V's codes and scales are the cpu quantizer's, bit for bit; K's (quantized after
 * RoPE in fp32) dequantize to the rotated reference within the tolerance plus the quantization
 * error; every slot not written keeps its bytes. */
bool check_append_kv8(const std::string &name, const Model &m, Cache &kc, Cache &vc, const Cache &before,
                      const Tensor &v, const std::vector<float> &want_k, const std::vector<int> &pos,
                      const std::vector<int> &seq) {
    const Tol t = tol_for(m);
    const size_t row = kc.row;
    std::vector<char> written(2 * kc.cap, 0);
    std::vector<unsigned char> codes(m.hd);
    std::vector<float> deq(m.hd);
    for (size_t tk = 0; tk < pos.size(); tk++) {
        const long long slot = pos[tk] % kc.cap;
        written[seq[tk] * kc.cap + slot] = 1;
        for (int h = 0; h < m.kv_heads; h++) {
            const size_t at = kc.at(seq[tk], slot, 1) + (size_t)h * m.hd;
            const float sv = quantize_row(m, &v.f[tk * row + h * m.hd], codes.data(), deq.data());
            if (memcmp(&vc.bytes[at], codes.data(), m.hd) != 0 || vc.scales(seq[tk], slot)[h] != sv) {
                fprintf(stderr, "  %s: token %zu head %d: V codes or scale differ from the cpu quantizer's\n", name.c_str(), tk, h);
                return false;
            }
            const float sk = kc.scales(seq[tk], slot)[h];
            for (int d = 0; d < m.hd; d++) {
                const float ref = want_k[tk * row + h * m.hd + d];
                const float got = mixc_kv8_value(m.fp8, kc.bytes[at + d]) * sk;
                if (!(std::fabs(got - ref) <= t.atol + t.rtol * std::fabs(ref) + quant_error(m, ref, sk))) {
                    fprintf(stderr, "  %s: token %zu head %d dim %d: K %g, reference %g (scale %g)\n", name.c_str(), tk, h, d,
                            got, ref, sk);
                    return false;
                }
            }
        }
    }
    for (int b = 0; b < 2; b++)
        for (long long slot = 0; slot < kc.cap; slot++) {
            if (written[b * kc.cap + slot]) continue;
            const size_t at = kc.at(b, slot, 1);
            if (memcmp(&kc.bytes[at], &before.bytes[at], row) || memcmp(kc.scales(b, slot), const_cast<Cache &>(before).scales(b, slot), 4 * m.kv_heads)) {
                fprintf(stderr, "  %s: slot %lld of sequence %d was written\n", name.c_str(), slot, b);
                return false;
            }
        }
    return true;
}

/* The table the kernel gets: the plain one of the manifest's theta, one with every pair scaled
 * differently and cos/sin scaled (as llama3 and yarn make them), or none (NoPE; NopeTemperature: with
 * Llama 4's attention temperature, floor 2 and scale 0.37, so each position has its factor). */
enum class RopeCase { Plain, Scaled, Nope, NopeTemperature };

void test_rope(const std::string &name, MixcEmuEntry entry, const Model &m, bool owner, long long cap,
               RopeCase rc, long long page) {
    const int T = 6, heads = m.heads, kvh = m.kv_heads, hd = m.hd;
    /* Tokens alternate between two sequences; consecutive positions per sequence past the ring. */
    const long long p0 = std::max(0LL, std::min(m.context - T, cap + 3));
    std::vector<int> pos(T), seq(T);
    for (int t = 0; t < T; t++) seq[t] = t % 2, pos[t] = (int)(p0 + t);
    Tensor q((size_t)T * heads * hd, m.is_fp16), k((size_t)T * kvh * hd, m.is_fp16), v(k.f.size(), m.is_fp16);
    q.fill_random(1.0f);
    k.fill_random(1.0f);
    v.fill_random(1.0f);
    const long long ccap = owner ? cap : 1;
    const Cache pages(m, ccap, 2, page);   /* paged: the pool's rows and the scrambled tables */
    const long long rows = page ? pages.pool_rows : 2 * ccap;
    Tensor kc((size_t)rows * kvh * hd, m.is_fp16), vc(kc.f.size(), m.is_fp16);
    std::fill(kc.raw.begin(), kc.raw.end(), (uint16_t)0x1234);   /* untouched slots keep it */
    std::fill(vc.raw.begin(), vc.raw.end(), (uint16_t)0x1234);
    std::vector<float> inv_freq((size_t)hd / 2);
    ref_rope_default_table(inv_freq.data(), hd, m.theta);
    float scale = 1.0f;
    if (rc == RopeCase::Scaled) {
        for (int i = 0; i < hd / 2; i++) inv_freq[i] /= 1.0f + (float)(i % 7);
        scale = 1.2079442f;   /* yarn's 0.1 ln(8) + 1 */
    }
    const bool temperature = rc == RopeCase::NopeTemperature;
    const float *table = rc == RopeCase::Nope || temperature ? nullptr : inv_freq.data();
    std::vector<float> want_q = q.f, want_k = k.f;
    for (int t = 0; t < T; t++) {
        ref_rope(want_q.data() + (size_t)t * heads * hd, pos[t], heads, hd, table, scale);
        ref_rope(want_k.data() + (size_t)t * kvh * hd, pos[t], kvh, hd, table, scale);
        for (int i = 0; temperature && i < heads * hd; i++)   /* transformers' formula, written out */
            want_q[(size_t)t * heads * hd + i] *= std::log1p(std::floor((pos[t] + 1.0f) / 2.0f)) * 0.37f + 1.0f;
    }
    const int temp_floor = temperature ? 2 : 0;
    const float temp_scale = temperature ? 0.37f : 0.0f;
    /* an owner's input: the fused qkv rows (each token's q, k, v in one row), q written to q_out */
    const size_t qw = (size_t)heads * hd, kw = (size_t)kvh * hd, W = qw + 2 * kw;
    Tensor qkv((size_t)T * W, m.is_fp16), q_out(q.f.size(), m.is_fp16);
    for (int t = 0; t < T; t++)
        for (size_t i = 0; i < W; i++) {
            const Tensor &part = i < qw ? q : i < qw + kw ? k : v;
            const size_t at = (size_t)t * (i < qw ? qw : kw) + (i < qw ? i : (i - qw) % kw);
            qkv.raw[(size_t)t * W + i] = part.raw[at], qkv.f[(size_t)t * W + i] = part.f[at];
        }
    const std::vector<uint16_t> qkv_before = qkv.raw;
    uint16_t *q_in = static_cast<uint16_t *>(owner ? qkv.data() : q.data());
    Tensor &q_got = owner ? q_out : q;
    if (m.kv8 && owner) {   /* the cache's initial bytes: NaN scales, codes 0 */
        Cache kq(m, cap, 2, page), vq(m, cap, 2, page);
        const Cache before = kq;
        RopeParams p = {q_in, q_in + qw, q_in + qw + kw, kq.data(), vq.data(), pos.data(), seq.data(), table, T, scale,
                        temp_floor, temp_scale, q_out.data(), kq.paged()};
        bool ok = launch(entry, &p, {(unsigned)T, 1, 1}, {128, 1, 1}, 0, name) && qkv.raw == qkv_before;
        std::vector<float> got_q = q_got.decoded();
        const Tol t = tol_for(m);
        ok = ok && ref_compare((name + " q").c_str(), got_q.data(), want_q.data(), want_q.size(), t.atol, t.rtol, 5) == 0;
        return report(name, ok && check_append_kv8(name, m, kq, vq, before, v, want_k, pos, seq));
    }
    RopeParams p = {q_in, owner ? q_in + qw : nullptr, owner ? q_in + qw + kw : nullptr,
                    owner ? kc.data() : nullptr, owner ? vc.data() : nullptr, pos.data(), seq.data(), table, T,
                    scale, temp_floor, temp_scale, owner ? q_out.data() : nullptr, owner ? pages.paged() : MixcPagedKv{}};
    bool ok = launch(entry, &p, {(unsigned)T, 1, 1}, {128, 1, 1}, 0, name);
    if (owner && qkv.raw != qkv_before) fprintf(stderr, "  %s: the kernel wrote its qkv input\n", name.c_str()), ok = false;
    const Tol t = tol_for(m);
    if (ok) {
        std::vector<float> got_q = q_got.decoded();
        ok = ref_compare((name + " q").c_str(), got_q.data(), want_q.data(), want_q.size(), t.atol,
                         t.rtol, 5) == 0;
    }
    if (ok && owner) {
        const size_t row = (size_t)kvh * hd;
        std::vector<char> written((size_t)rows, 0);
        std::vector<float> got_k = kc.decoded();
        for (int tk = 0; ok && tk < T; tk++) {
            const size_t slot = page ? pages.row_of(seq[tk], pos[tk]) : (size_t)seq[tk] * cap + pos[tk] % cap;
            written[slot] = 1;
            ok = ref_compare((name + " k").c_str(), got_k.data() + slot * row, want_k.data() + tk * row,
                             row, t.atol, t.rtol, 5) == 0 &&
                 std::equal(vc.raw.begin() + slot * row, vc.raw.begin() + (slot + 1) * row,
                            v.raw.begin() + tk * row);
        }
        for (size_t s = 0; ok && s < written.size(); s++)
            if (!written[s])
                ok = std::all_of(kc.raw.begin() + s * row, kc.raw.begin() + (s + 1) * row,
                                 [](uint16_t x) { return x == 0x1234; });
        if (!ok) fprintf(stderr, "  %s: cache contents differ (k, v or an untouched slot)\n", name.c_str());
    }
    report(name, ok);
}

} // namespace

int main(int argc, char **argv) {
    if (argc > 3 && std::string(argv[argc - 1]) == "--long") long_mode = true, argc--;
    char err[512];
    void *flat_so = nullptr;   /* --unpaged SO: the unpaged kernels a paged one must equal */
    if (argc > 4 && std::string(argv[argc - 2]) == "--unpaged") {
        if (!(flat_so = mixc_emu_dlopen_kernels(argv[argc - 1], err, sizeof err))) {
            fprintf(stderr, "kdiff: %s\n", err);
            return 1;
        }
        argc -= 2;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: kdiff KERNELS.so MANIFEST.json [SUBSTRING] [--unpaged UNPAGED.so] [--long]\n");
        return 2;
    }
    void *so = mixc_emu_dlopen_kernels(argv[1], err, sizeof err);
    if (!so) {
        fprintf(stderr, "kdiff: %s\n", err);
        return 1;
    }
    json_error_t jerr;
    json_t *man = json_load_file(argv[2], 0, &jerr);
    if (!man) {
        fprintf(stderr, "kdiff: %s: %s\n", argv[2], jerr.text);
        return 1;
    }
    Model m;
    m.heads = (int)jint(man, "heads");
    m.kv_heads = (int)jint(man, "kv_heads");
    m.hd = (int)jint(man, "head_dim");
    m.hidden = (int)jint(man, "hidden");
    m.ffn = (int)jint(man, "ffn");
    m.vocab = (int)jint(man, "vocab");
    m.context = jint(man, "context");
    m.chunk = jint(man, "chunk");
    m.is_fp16 = std::string(json_string_value(json_object_get(man, "dtype"))) == "fp16";
    const std::string kv_dtype = json_string_value(json_object_get(man, "kv_dtype"));
    m.kv8 = kv_dtype == "int8" || kv_dtype == "fp8";
    m.fp8 = kv_dtype == "fp8";
    m.theta = (float)json_real_value(json_object_get(man, "rope_theta"));
    m.eps = (float)json_real_value(json_object_get(man, "norm_eps"));
    m.scale = (float)json_real_value(json_object_get(man, "softmax_scale"));
    m.norm_offset = (float)json_real_value(json_object_get(man, "norm_weight_offset"));
    m.embed_scale = (float)json_real_value(json_object_get(man, "embed_scale"));
    m.softcap = (float)json_real_value(json_object_get(man, "attn_softcap"));
    m.logit_softcap = (float)json_real_value(json_object_get(man, "logit_softcap"));
    m.swiglu_limit = (float)json_real_value(json_object_get(man, "swiglu_limit"));
    m.swiglu_alpha = (float)json_real_value(json_object_get(man, "swiglu_alpha"));
    const std::string model = json_string_value(json_object_get(man, "model"));
    const char *filter = argc > 3 ? argv[3] : "";

    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(man, "kernels"), i, k) {
        const std::string kname = json_string_value(json_object_get(k, "name"));
        const std::string kind = json_string_value(json_object_get(k, "kind"));
        if (kname.find(filter) == std::string::npos) continue;
        const std::string label = model + "/" + kname;
        auto entry = (MixcEmuEntry)mixc_emu_find_kernel(so, kname.c_str());
        if (!entry) {
            report(label + " (no entry point)", false);
            continue;
        }
        AttnKernel ak = {(int)jint(k, "group"), jint(k, "window"), jint(k, "capacity"), jint(k, "chunked"),
                         (size_t)jint(k, "dynamic_smem"), (int)jint(k, "splits"), jint(k, "page_tokens")};
        const std::string page_suffix = "_page" + std::to_string(ak.page);
        auto flat = flat_so && ak.page ? (MixcEmuEntry)mixc_emu_find_kernel(
                                             flat_so, kname.substr(0, kname.size() - page_suffix.size()).c_str())
                                       : nullptr;
        if (flat_so && ak.page && !flat) report(label + " (no unpaged twin in --unpaged)", false);
        if (kind == "attn_prefill") {
            test_prefill(label, entry, m, ak);
            if (flat) test_paged_bits(label, entry, flat, nullptr, m, ak, 0);
            if (ak.chunked) test_prefill_tiles(label, entry, m, ak);
        }
        else if (kind == "attn_decode") {
            const std::string rname = "attn_decode_reduce_hd" + std::to_string(m.hd) +
                                      (m.is_fp16 ? "_fp16" : "_bf16");
            auto reduce = (MixcEmuEntry)mixc_emu_find_kernel(so, rname.c_str());
            if (!reduce) report(label + " (no " + rname + ")", false);
            else test_decode(label, entry, reduce, m, ak);
            if (reduce && flat) test_paged_bits(label, entry, flat, reduce, m, ak, 3);
        } else if (kind == "rope_append" || kind == "rope_q") {
            test_rope(label, entry, m, kind == "rope_append", ak.cap, RopeCase::Plain, ak.page);
            test_rope(label + " scaled table", entry, m, kind == "rope_append", ak.cap, RopeCase::Scaled, ak.page);
            test_rope(label + " nope", entry, m, kind == "rope_append", ak.cap, RopeCase::Nope, ak.page);
            test_rope(label + " nope temperature", entry, m, kind == "rope_append", ak.cap, RopeCase::NopeTemperature, ak.page);
        }
        else if (kind == "rmsnorm")
            test_rmsnorm(label, entry, m, json_object_get(k, "width") ? (int)jint(k, "width") : m.hidden,
                         (int)jint(k, "heads"), (int)jint(k, "row"));
        else if (kind == "add_rmsnorm") {
            const char *rn = json_string_value(json_object_get(json_object_get(man, "model_kernels"), "rmsnorm"));
            auto rms = rn ? (MixcEmuEntry)mixc_emu_find_kernel(so, rn) : nullptr;
            if (!rms) report(label + " (no rmsnorm kernel to compare with)", false);
            else test_add_rmsnorm(label, entry, rms, m);
        }
        else if (kind == "silu_mul" || kind == "residual_add")
            test_elementwise(label, entry, m, kind == "silu_mul", jint(k, "width"));
        else if (kind == "embed") test_embed(label, entry, m);
        else if (kind == "argmax") test_argmax(label, entry, m);
        else if (kind == "router_bias_add" || kind.compare(0, 4, "moe_") == 0) test_moe_kernel(label, kind, entry, m, man, k);
        /* attn_decode_reduce is exercised by every attn_decode test. */
    }
    json_decref(man);
    mixc_emu_dlclose(so);
    if (flat_so) mixc_emu_dlclose(flat_so);
    mixc_emu_release();
    return failures ? 1 : 0;
}
