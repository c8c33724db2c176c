#!/usr/bin/env python3
"""Recomputes every layout's KV bytes per sequence from an independent formula and compares them
with `mixc report --format json`.

The formula is written here from the issue's text, using only the model header and each layer's
window and `reads` (not mixc's cache table or retention):
  a cache per owning layer o (reads == o); its users are o and every layer reading o;
  retention = unbounded if any user is global, else the largest reach: W for a window, C for a chunked
  layer (its query at p sees keys from floor(p / C) * C >= p - C + 1, so a prefill chunk of n tokens
  starting at s needs s + n - floor(s / C) * C <= C - 1 + n of them at once);
  tokens = L if unbounded, else min(L, retention + C - 1);
  bytes = tokens * kv_heads * head_dim * 2 * bytes(kv_dtype)
          + (int8/fp8 only) tokens * kv_heads * 2 * 4   (fp32 scale per token, KV head, K and V)
  with kv_heads and head_dim the owner's own (a layer's kind may give its own: the layer's "kv_heads"
  and "head_dim" in the JSON; absent: the header's);
  standard = every layer global with its own cache (each layer's own shape); unexploited = the same
  caches at L tokens.
Usage: kv_formula.py MIXC FILE.mix...   Prints one PASS/FAIL line per file.
"""
import json
import subprocess
import sys

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}
CONTEXTS = [1, 100, 1000, 1535, 4096, 32768, 131072, 1 << 20]
CHUNKS = [1, 64, 512]


def per_token_bytes(model, layer):
    kvb = DTYPE_BYTES[model["kv_dtype"]]
    kv_heads = layer.get("kv_heads", model["kv_heads"])
    head_dim = layer.get("head_dim", model["head_dim"])
    per_token = kv_heads * head_dim * 2 * kvb
    if model["kv_dtype"] in ("int8", "fp8"):
        per_token += kv_heads * 2 * 4
    return per_token


def expected(model, layers, L, C):
    users = {}
    for i, layer in enumerate(layers):
        reach = layer["chunk_size"] if layer["attention"] == "chunked" else layer["window"]
        users.setdefault(layer["reads"], []).append(reach)
    total = 0
    tokens = []
    for owner in sorted(users):
        windows = users[owner]
        if any(w is None for w in windows):
            t = L
        else:
            t = min(L, max(windows) + C - 1)
        tokens.append(t)
        total += t * per_token_bytes(model, layers[owner])
    standard = sum(L * per_token_bytes(model, layer) for layer in layers)
    unexploited = sum(L * per_token_bytes(model, layers[owner]) for owner in users)
    return total, standard, unexploited, tokens


def check_file(mixc, path):
    problems = []
    for C in CHUNKS:
        ctx = ",".join(str(L) for L in CONTEXTS)
        out = subprocess.run([mixc, "report", path, "--format", "json", "--context", ctx, "--chunk", str(C)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            return ["mixc exited %d: %s" % (out.returncode, out.stderr.strip()[-300:])]
        report = json.loads(out.stdout)
        if len(report["contexts"]) != len(CONTEXTS):
            return ["expected %d contexts" % len(CONTEXTS)]
        for L, got in zip(CONTEXTS, report["contexts"]):
            total, standard, unexploited, tokens = expected(report["model"], report["layers"], L, C)
            pairs = [("kv_bytes_per_sequence", total), ("standard_kv_bytes_per_sequence", standard),
                     ("unexploited_kv_bytes_per_sequence", unexploited)]
            for key, want in pairs:
                if got[key] != want:
                    problems.append("L=%d C=%d %s: mixc %d, formula %d" % (L, C, key, got[key], want))
            owners = [i for i, layer in enumerate(report["layers"]) if layer["reads"] == i]
            for c, o in zip(got["caches"], owners):   # per-layer shapes: each cache says its owner's
                layer, model = report["layers"][o], report["model"]
                if "kv_heads" in c and (c["kv_heads"], c["head_dim"]) != (layer.get("kv_heads", model["kv_heads"]),
                                                                        layer.get("head_dim", model["head_dim"])):
                    problems.append("L=%d C=%d cache %d: shape is not its owner's" % (L, C, c["id"]))
            if [c["tokens"] for c in got["caches"]] != tokens:
                problems.append("L=%d C=%d cache tokens differ" % (L, C))
            if got["context"] != L or got["chunk"] != C:
                problems.append("L=%d C=%d: context/chunk echoed as %d/%d" % (L, C, got["context"], got["chunk"]))
    return problems


def main():
    mixc, files = sys.argv[1], sys.argv[2:]
    failed = 0
    for path in files:
        problems = check_file(mixc, path)
        print("%s kv formula %s" % ("FAIL" if problems else "PASS", path))
        for p in problems[:10]:
            print("  " + p)
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
