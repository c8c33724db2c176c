"""gpu-bench-row.py BENCH.json REPORT.json NAME PEAK_GBPS — one row of scripts/gpu-bench.sh's mixrun_bench.

BENCH.json: `mixrun --bench --json`; REPORT.json: `mixc report --format json` at the mean decode length
(its first context). Prints the row as JSON on stdout and a table line on stderr:
  decode_ms_per_token  a decode step's time (one token of each sequence), warm-up steps excluded;
  bound_ms_per_token   the time that step's bytes take at PEAK_GBPS: the weights as allocated plus
                       B x the KV bytes (and 8-bit scales) a sequence holds at that length.
"""
import json
import sys


def main():
    bench, report = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
    name, peak = sys.argv[3], float(sys.argv[4])
    seqs, dec, ctx = bench["sequences"], bench["decode"], report["contexts"][0]
    steps = dec["tokens"] / seqs
    ms = dec["seconds"] / steps * 1e3 if steps else 0.0
    kv = ctx["kv_bytes_per_sequence"] + ctx["scale_bytes_per_sequence"]
    step_bytes = bench["memory"]["weights_allocated"] + seqs * kv
    bound = step_bytes / (peak * 1e9) * 1e3 if peak > 0 else 0.0
    print(json.dumps({"layout": name, "batch": seqs, "prompt": bench["prompt_tokens"], "new": bench["new_tokens"],
                      "prefill_tok_s": bench["prefill"]["tokens_per_second"], "decode_tok_s": dec["tokens_per_second"],
                      "decode_ms_per_token": ms, "bound_ms_per_token": bound,
                      "decode_warmup_steps": dec["warmup_steps"], "step_bytes": step_bytes,
                      "memory": bench["memory"]}))
    share = f"{bound / ms:.0%}" if ms > 0 and bound > 0 else "-"
    print(f'{name:<16} B {seqs:<3} L {bench["prompt_tokens"]:<6} G {bench["new_tokens"]:<5} '
          f'prefill {bench["prefill"]["tokens_per_second"]:>10.1f} tok/s  decode {dec["tokens_per_second"]:>9.1f} tok/s  '
          f'{ms:8.3f} ms/step, bound {bound:8.3f} ms ({share} of it)', file=sys.stderr)


if __name__ == "__main__":
    main()
