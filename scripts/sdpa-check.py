#!/usr/bin/env python3
"""sdpa-check — the prefill kernel's output (tests/cuda/gpu_attn prefill) against PyTorch's
scaled_dot_product_attention in fp32 with the same causal / sliding-window mask.

    python3 scripts/sdpa-check.py DIR...

Each DIR holds gpu_attn prefill's q.npy, k.npy, v.npy and out.npy for one configuration, and the
JSON line it printed as prefill.json (window, 0: global, and head_dim). Prints a line per
configuration, "DIR ok|bad max |out - sdpa| = ...", with the error against a mask of one key more
per window beside it (so a window off by one shows); exit 0. Tolerance 2^-7: P and the output are
rounded to bf16 (at most 2^-9 each with |v| <= 1), a factor 2 over their sum.
Used by scripts/gpu-check.sh on a GPU and by `make test-python` with the kernel emulated
(tests/cuda/sdpa-emu.sh); torch is imported once for all.
"""
import json
import sys

import numpy as np
import torch


def check(d):
    with open(f"{d}/prefill.json") as f:
        run = json.load(f)
    win, hd = run["window"], run["head_dim"]
    q, k, v, out = (torch.from_numpy(np.load(f"{d}/{n}.npy")) for n in ("q", "k", "v", "out"))
    L = q.shape[0]
    H, KV = q.shape[1] // hd, k.shape[1] // hd
    qh = q.view(L, H, hd).transpose(0, 1)
    kh = k.view(L, KV, hd).transpose(0, 1).repeat_interleave(H // KV, 0)
    vh = v.view(L, KV, hd).transpose(0, 1).repeat_interleave(H // KV, 0)
    row = torch.arange(L)[:, None]
    col = torch.arange(L)[None, :]

    def sdpa(mask):
        return torch.nn.functional.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask).transpose(0, 1).reshape(L, H * hd)

    err = (out - sdpa((col <= row) & (col > row - win) if win else (col <= row))).abs().max().item()
    sens = (out - sdpa((col <= row) & (col > row - win - 1) if win else (col <= row))).abs().max().item()
    verdict = "ok" if err <= 2**-7 else "bad"
    return f"{d} {verdict} max |out - sdpa| = {err:.5f} (tolerance {2**-7:.5f}); with one key more per window: {sens:.5f}"


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: sdpa-check.py DIR...")
    for d in sys.argv[1:]:
        print(check(d), flush=True)


if __name__ == "__main__":
    main()
