#!/usr/bin/env bash
# `mixc report` and `mixc compare`: golden text, JSON and DOT of every example and every case in
# tests/report/cases, then the command line (options, errors, -o, formats).
# UPDATE=1 rewrites the golden files instead of comparing (review every figure before committing).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MIXC=${MIXC:-$BUILD/mixc}
GOLDEN=tests/report/golden
ARGS=(--context 4K,32K,128K --gpu h100)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "  $l"; done; fails=$((fails + 1)); }

# ---- golden files
golden() {  # $1 = .mix, $2 = golden name, $3 = format, rest = more arguments
  local mix=$1 name=$2 fmt=$3 want="$GOLDEN/$2.$3" got="$tmp/$2.$3"
  shift 3
  if ! "$MIXC" report "$mix" "${ARGS[@]}" "$@" --format "$fmt" >"$got" 2>"$tmp/err"; then
    fail "golden $name.$fmt" "mixc report exited non-zero: $(tail -n 3 "$tmp/err")"
    return
  fi
  if [ "${UPDATE:-0}" = 1 ]; then
    cp "$got" "$want"
    pass "golden $name.$fmt (updated)"
  elif [ ! -f "$want" ]; then
    fail "golden $name.$fmt" "no golden file $want: run UPDATE=1 bash tests/report/run.sh and review it"
  elif diff -u "$want" "$got" >"$tmp/diff"; then
    pass "golden $name.$fmt"
  else
    fail "golden $name.$fmt" "$(head -n 20 "$tmp/diff")"
  fi
}
for mix in examples/*.mix tests/report/cases/*.mix; do
  [ -f "$mix" ] || continue
  base=$(basename "$mix" .mix)
  case $mix in examples/*) name="example-$base" ;; *) name="case-$base" ;; esac
  for fmt in text json dot; do golden "$mix" "$name" "$fmt"; done
done

# ---- Llama 4 Maverick (experts on every other layer, moe_step 2) against its published totals:
# 400B parameters, 17B active per token (Meta's model card; the text model, within 1% and 2%)
"$MIXC" report examples/llama4-maverick.mix --format json >"$tmp/mav.json" 2>"$tmp/err"
read -r total active dense < <(jq -r '.weights | "\(.parameters) \(.active_parameters) \(.mlp_dense_layers)"' "$tmp/mav.json")
if [ -n "${total:-}" ] && awk -v t="$total" -v a="$active" 'BEGIN { exit !(t > 396e9 && t < 404e9 && a > 16.66e9 && a < 17.34e9) }'; then
  pass "llama4-maverick: $total parameters (published 400B), $active active (17B)"
else
  fail "llama4-maverick: totals" "parameters ${total:-?}, active ${active:-?}: published 400B and 17B"
fi
# the 24 dense layers: gate, up and down of 16384 x 5120 each
[ "${dense:-}" = $((24 * 3 * 16384 * 5120)) ] && pass "llama4-maverick: dense layers' mlp" ||
  fail "llama4-maverick: dense layers' mlp" "got ${dense:-?}, expected $((24 * 3 * 16384 * 5120))"

# ---- the command line
ex=tests/report/cases/ma-pairs.mix
expect_rc() {  # $1 = name, $2 = expected status, rest = arguments
  local name=$1 want=$2
  shift 2
  "$MIXC" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then pass "$name"; else fail "$name" "exit $rc, expected $want" "$(head -c 400 "$tmp/err")"; fi
}
expect_rc "report --help exits 0" 0 report --help
grep -q '^usage: mixc report' "$tmp/out" || fail "report --help prints usage on stdout"
expect_rc "compare --help exits 0" 0 compare --help
expect_rc "report: no file is a usage error" 2 report
expect_rc "report: two files is a usage error" 2 report "$ex" "$ex"
expect_rc "report: unknown option" 2 report "$ex" --frobnicate
for bad in 0 abc 32K, ,4K 4K,,8K 4X -5 99999999999999999999; do
  expect_rc "report: --context '$bad' refused" 2 report "$ex" --context "$bad"
done
expect_rc "report: --chunk without a value" 2 report "$ex" --chunk
expect_rc "report: unknown GPU" 2 report "$ex" --gpu h900
"$MIXC" report "$ex" --gpu h100 --context 32K >"$tmp/gpu-lower" 2>&1
"$MIXC" report "$ex" --gpu H100 --context 32K >"$tmp/gpu-upper" 2>&1
if [ -s "$tmp/gpu-lower" ] && cmp -s "$tmp/gpu-lower" "$tmp/gpu-upper" && grep -q '^GPU h100:' "$tmp/gpu-upper"; then
  pass "report: --gpu H100 is h100 (names in any case)"; else fail "report: --gpu H100" "$(tail -n 3 "$tmp/gpu-upper")"; fi
expect_rc "report: unknown format" 2 report "$ex" --format pdf
expect_rc "report: missing file" 2 report "$tmp/nope.mix"
printf 'model "x" {\n layers = 2\n}\n' >"$tmp/bad.mix"
expect_rc "report: invalid layout exits 1" 1 report "$tmp/bad.mix"
printf 'model "huge" {\n layers = 2\n hidden = 4G\n heads = 1\n ffn = 1G\n vocab = 1G\n context = 1G\n}\ndefault : global\n' >"$tmp/huge.mix"
expect_rc "report: overflowing figures exit 1" 1 report "$tmp/huge.mix"
grep -q 'overflow' "$tmp/err" || fail "report: overflow message" "$(cat "$tmp/err")"

# -o writes what stdout shows; a failed write leaves nothing behind.
"$MIXC" report "$ex" --format json >"$tmp/stdout.json" 2>/dev/null
expect_rc "report -o FILE" 0 report "$ex" --format json -o "$tmp/o.json"
cmp -s "$tmp/stdout.json" "$tmp/o.json" && pass "report -o matches stdout" || fail "report -o matches stdout"
expect_rc "report -o into a missing directory exits 1" 1 report "$ex" -o "$tmp/no/such/dir/r.txt"
[ -z "$(ls "$tmp/no" 2>/dev/null)" ] && pass "report: nothing half-written" || fail "report: nothing half-written"

# --gpu in GiB; max sequences from the JSON's own figures.
"$MIXC" report "$ex" --gpu 80 --context 32K --format json >"$tmp/g.json" 2>/dev/null
if python3 - "$tmp/g.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
g, c = r["gpu"], r["contexts"][0]
assert g["memory_bytes"] == 80 * 2**30, g
want = (g["memory_bytes"] - r["weights_bytes"] - c["arena"]["bytes"]) // c["kv_bytes_per_sequence"]
assert g["max_sequences"] == [want], (g["max_sequences"], want)
assert g["max_tokens"] == [want * 32768]
assert r["arena"]["lower_bound_bytes"] <= r["arena"]["bytes"] <= r["arena"]["naive_bytes"]
assert r["arena"]["bytes"] == max(r["arena"]["decode_bytes"], r["arena"]["prefill_bytes"])
EOF
then pass "report: --gpu GiB and max sequences"; else fail "report: --gpu GiB and max sequences"; fi

# dot: a node per layer, a reuse edge per reader, a cluster per cache.
"$MIXC" report "$ex" --format dot >"$tmp/g.dot" 2>/dev/null
nodes=$(grep -c '^  L[0-9]* \[label' "$tmp/g.dot"); reuse=$(grep -c 'label="reads"' "$tmp/g.dot")
clusters=$(grep -c 'subgraph cluster_cache' "$tmp/g.dot")
if [ "$nodes" = 22 ] && [ "$reuse" = 13 ] && [ "$clusters" = 9 ] && tail -n 1 "$tmp/g.dot" | grep -q '^}$'; then
  pass "report --format dot: nodes, reuse edges, clusters"
else
  fail "report --format dot" "nodes $nodes (22), reuse edges $reuse (13), clusters $clusters (9)"
fi

# Graphviz, where installed, must accept every golden graph.
if command -v dot >/dev/null 2>&1; then
  bad=""
  for g in "$GOLDEN"/*.dot; do dot -Tsvg "$g" -o /dev/null 2>"$tmp/err" || bad="$bad $g"; done
  [ -z "$bad" ] && pass "report --format dot: Graphviz renders every graph" || fail "Graphviz rejects:$bad" "$(head -c 300 "$tmp/err")"
fi

# svg: well-formed, three curves, a label per requested context.
"$MIXC" report "$ex" --format svg --context 4K,32K,1M >"$tmp/c.svg" 2>/dev/null
if xmllint --noout "$tmp/c.svg" 2>"$tmp/err" && [ "$(grep -c '<polyline' "$tmp/c.svg")" = 3 ] &&
   [ "$(grep -c '<circle' "$tmp/c.svg")" = 3 ] && grep -q 'log scale' "$tmp/c.svg"; then
  pass "report --format svg: well-formed chart"
else
  fail "report --format svg" "$(head -c 300 "$tmp/err")"
fi
printf 'model "a<b & c>" {\n layers = 1\n hidden = 8\n heads = 1\n ffn = 8\n vocab = 8\n}\ndefault : window 4\n' >"$tmp/esc.mix"
if "$MIXC" report "$tmp/esc.mix" --format svg 2>/dev/null | xmllint --noout - 2>/dev/null; then
  pass "report --format svg: names escaped"
else
  fail "report --format svg: names escaped"
fi

# A name that is not valid UTF-8 is rejected by the checker: no format writes anything.
printf 'model "a\xff\xfeb" {\n layers = 1\n hidden = 8\n heads = 1\n ffn = 8\n vocab = 8\n}\ndefault : window 4\n' >"$tmp/utf.mix"
for fmt in text json dot svg; do
  expect_rc "report --format $fmt: a name that is not UTF-8 exits 1" 1 report "$tmp/utf.mix" --format $fmt
  if [ ! -s "$tmp/out" ] && grep -q 'string is not valid UTF-8' "$tmp/err"; then
    pass "report --format $fmt: nothing written, the string is reported"
  else
    fail "report --format $fmt: output or no message for a name that is not UTF-8" "$(head -c 300 "$tmp/err")"
  fi
done

# The plan dump behind `mixc check --dump=plan`.
expect_rc "check --dump=plan" 0 check --dump=plan "$ex"
if grep -q '^kv plan: context 32768, chunk 1024' "$tmp/out" && grep -q '^decode arena' "$tmp/out" &&
   grep -q '^prefill arena' "$tmp/out" && [ "$(grep -c ' ring ' "$tmp/out")" = 7 ]; then
  pass "check --dump=plan: KV plan and both arenas"
else
  fail "check --dump=plan: KV plan and both arenas" "$(head -n 12 "$tmp/out")"
fi

# The run plans follow in the dump: both targets, each schedule op by op (cpu: one-pass decode
# attention; cuda: split decode on the generated kernels, the fp8 cache's variants for ma).
cp "$tmp/out" "$tmp/dump-ma"
expect_rc "check --dump=plan (cuda kernels)" 0 check --dump=plan examples/gemma3-27b.mix
if grep -q '^run plan (cpu): context 32768, chunk 1024, batch 1; activations fp32' "$tmp/dump-ma" &&
   grep -q '^run plan (cuda): context 32768, chunk 1024, batch 1; activations bf16, logits fp32, kv fp8' "$tmp/dump-ma" &&
   grep -qE '^ +[0-9]+  attn_decode .* attn_decode_hd[0-9]+_.*_kvfp8 ' "$tmp/dump-ma" &&
   grep -q '^decode schedule: ' "$tmp/out" && grep -qE '^ +[0-9]+  attn_decode .* attn_decode_hd' "$tmp/out" &&
   grep -qE '^ +[0-9]+  logits +-1  lm_head +xf -> logits$' "$tmp/out"; then
  pass "check --dump=plan: the cpu and cuda run plans and their schedules"
else
  fail "check --dump=plan: the cpu and cuda run plans and their schedules" "$(grep -m3 '^run plan' "$tmp/out")"
fi

# --target: the run plan's figures per context; --set as mixrun's; usage errors.
expect_rc "report --target cuda --set" 0 report "$ex" --target cuda --set hidden=1024 --set kv_dtype=bf16 --context 4K,8K --batch 4 --format json
if [ "$(jq -c '[.run[] | [.target, .context, .batch, .dtypes.logits, (.kv_bytes > 0), (.arena_bytes > 0), .workspace_bytes]]' "$tmp/out")" = \
     '[["cuda",4096,4,"fp32",true,true,33554432],["cuda",8192,4,"fp32",true,true,33554432]]' ] && [ "$(jq .model.hidden "$tmp/out")" = 1024 ]
then pass "report --target: one run per context, --set applied, the cuBLAS workspace of sm_90 (32 MiB)"; else fail "report --target: one run per context" "$(jq -c .run "$tmp/out")"; fi
expect_rc "report --arch without --target" 2 report "$ex" --arch sm_80
grep -q -- "--act-dtype, --kv-dtype, --arch and --page-tokens go with --target" "$tmp/err" || fail "report --arch without --target: the message" "$(cat "$tmp/err")"
expect_rc "report --kv-dtype without --target" 2 report "$ex" --kv-dtype bf16
expect_rc "report --arch with --target cpu" 2 report "$ex" --target cpu --arch sm_80
expect_rc "report --target cuda --arch sm_80" 0 report "$ex" --target cuda --arch sm_80 --format json
[ "$(jq -c '[.run[].workspace_bytes]' "$tmp/out")" = '[4194304]' ] && pass "report --target cuda --arch sm_80: a 4 MiB cuBLAS workspace" ||
  fail "report --target cuda --arch sm_80: the cuBLAS workspace" "$(jq -c .run "$tmp/out")"
expect_rc "report --target cpu --kv-dtype bf16" 0 report "$ex" --target cpu --kv-dtype bf16 --act-dtype fp32
grep -qE '^run plan \(cpu\) at context 32768, chunk 1024, batch 1: kv [0-9]+ bytes, arena [0-9]+ bytes, weights [0-9]+ bytes, cuBLAS workspace 0 bytes$' "$tmp/out" &&
  pass "report --target: a text line" || fail "report --target: a text line" "$(tail -n 2 "$tmp/out")"
# paged global caches: a sequence's pages at each context, the pool, the pool a GPU holds
expect_rc "report --target cpu --page-tokens" 0 report tests/mixrun/tiny.mix --target cpu --context 32,128 --batch 4 \
  --page-tokens 16 --gpu 0.001
grep -qE '^  paged: pages of 16 tokens, 2 per whole-context sequence; pool 8 pages \(32768 bytes\); on the GPU a pool of 88 pages \(44 whole-context sequences\)$' "$tmp/out" &&
  grep -qE '^  paged: pages of 16 tokens, 8 per whole-context sequence; pool 32 pages \(131072 bytes\)' "$tmp/out" &&
  pass "report --page-tokens: pages per sequence at each context, the pool, the pool on the GPU" ||
  fail "report --page-tokens: the paged lines" "$(grep paged "$tmp/out")"
expect_rc "report --target cpu --page-tokens --pool-pages (json)" 0 report tests/mixrun/tiny.mix --target cpu --context 128 \
  --batch 4 --page-tokens 16 --pool-pages 10 --format json
[ "$(jq -c '.run[0] | [.kv_bytes, .page_tokens, .pages_per_sequence, .pool_pages, .pool_bytes]' "$tmp/out")" = '[56320,16,8,10,40960]' ] &&
  pass "report --pool-pages: the smaller pool, in kv_bytes (json)" || fail "report --pool-pages (json)" "$(jq -c .run "$tmp/out")"
# --shared-prefix: the whole-context sequences a pool holds when they start with the same S tokens:
# the first its 2 pages, each other 1 of its own beside the first's whole page of 20 tokens (the
# serving engine admits as many: tests/serve)
expect_rc "report --shared-prefix" 0 report tests/mixrun/tiny.mix --target cpu --context 32 --batch 4 --page-tokens 16 \
  --pool-pages 10 --gpu 0.001 --shared-prefix 20
grep -qxF '  paged: pages of 16 tokens, 2 per whole-context sequence; pool 10 pages (40960 bytes; 9 whole-context sequences starting with the same 20 tokens); on the GPU a pool of 88 pages (44 whole-context sequences; 87 starting with the same 20 tokens)' "$tmp/out" &&
  pass "report --shared-prefix: the sequences the pool and the GPU's hold, sharing the prefix's whole pages" ||
  fail "report --shared-prefix" "$(grep paged "$tmp/out")"
expect_rc "report --shared-prefix (json)" 0 report tests/mixrun/tiny.mix --target cpu --context 128 --page-tokens 16 \
  --gpu 0.001 --shared-prefix 20 --format json
[ "$(jq -c '.run[0] | [.shared_prefix_tokens, .shared_prefix_sequences, .gpu_pool_pages, .gpu_shared_prefix_sequences]' "$tmp/out")" = '[20,1,90,12]' ] &&
  pass "report --shared-prefix (json): 8 pages each, 7 of their own: 1 + (90 - 8) / 7 on the GPU" ||
  fail "report --shared-prefix (json)" "$(jq -c .run "$tmp/out")"
expect_rc "report --shared-prefix as long as the context" 1 report tests/mixrun/tiny.mix --target cpu --context 32 \
  --page-tokens 16 --shared-prefix 32
grep -q "a shared prefix of 32 tokens is not shorter than the context (32 tokens)" "$tmp/err" &&
  pass "report --shared-prefix: a prefix as long as the context is refused, named" || fail "report --shared-prefix too long" "$(cat "$tmp/err")"
expect_rc "report --shared-prefix without --page-tokens" 2 report "$ex" --target cpu --shared-prefix 20
expect_rc "report --page-tokens without --target" 2 report "$ex" --page-tokens 16
expect_rc "report --pool-pages without --page-tokens" 2 report "$ex" --target cpu --pool-pages 4
# on the kernels (cuda): the default pool holds the batch's whole context, as unpaged, plus the kernels'
# block tables, 4 slots x 256 pages x 4 bytes
expect_rc "report --target cuda (json)" 0 report "$ex" --target cuda --context 4096 --batch 4 --format json
unpaged=$(jq '.run[0].kv_bytes' "$tmp/out")
expect_rc "report --target cuda --page-tokens (json)" 0 report "$ex" --target cuda --context 4096 --batch 4 --page-tokens 16 --format json
jq -e --argjson u "$unpaged" '.run[0] | .kv_bytes == $u + 4096 and .pages_per_sequence == 256 and .pool_pages == 1024' \
    "$tmp/out" >/dev/null &&
  pass "report --target cuda --page-tokens: kv_bytes = unpaged + the kernels' block tables (4096 bytes)" ||
  fail "report --target cuda --page-tokens: kv_bytes" "unpaged $unpaged, paged $(jq -c .run "$tmp/out")"
expect_rc "report --target with an unknown backend is a usage error" 2 report "$ex" --target tpu
expect_rc "report --kv-dtype with an unknown dtype is a usage error" 2 report "$ex" --target cpu --kv-dtype fp64
expect_rc "report --set of an unknown field is an input error" 1 report "$ex" --set hiden=3
expect_rc "report --set without = is a usage error" 2 report "$ex" --set hidden
expect_rc "report --target cuda on a layout the kernels cannot run (an fp16 cache in a bf16 model)" 1 report examples/character-ai.mix --target cuda --set kv_dtype=fp16
expect_rc "report --target cuda: character-ai's int8 cache (codes and scales)" 0 report examples/character-ai.mix --target cuda --format json
jq -e '.run[0].dtypes.kv == "int8" and .run[0].kv_bytes > 0' "$tmp/out" >/dev/null 2>&1 &&
  pass "report --target cuda: the run's caches are int8" || fail "report --target cuda: the run's caches are int8" "$(head -c 400 "$tmp/out")"
expect_rc "report --target cuda with fp32 activations (the kernels' are the model dtype)" 1 report examples/gemma3-27b.mix --target cuda --act-dtype fp32
grep -q "the generated kernels take activations in the model dtype (bf16) and caches in bf16" "$tmp/err" &&
  pass "report --target cuda --act-dtype fp32: says why" || fail "report --target cuda --act-dtype fp32: says why" "$(cat "$tmp/err")"

# compare: one row per layout, the same figures as report.
expect_rc "compare two layouts" 0 compare examples/character-ai.mix "$ex" --context 32K --gpu h100
rows=$(grep -cE '^(character-ai|ma-pairs) ' "$tmp/out")
[ "$rows" = 2 ] && pass "compare: one row per layout" || fail "compare: one row per layout" "$(cat "$tmp/out")"
"$MIXC" compare "$ex" tests/report/cases/mistral-7b.mix --context 32K --format json >"$tmp/c.json" 2>/dev/null
"$MIXC" report "$ex" --context 32K --format json >"$tmp/r.json" 2>/dev/null
if python3 - "$tmp/c.json" "$tmp/r.json" <<'EOF'
import json, sys
c, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert [x["name"] for x in c["layouts"]] == ["ma-pairs", "mistral-7b"]
assert c["layouts"][0]["contexts"][0]["kv_bytes_per_sequence"] == r["contexts"][0]["kv_bytes_per_sequence"]
assert c["layouts"][0]["weights_bytes"] == r["weights_bytes"]
EOF
then pass "compare --format json agrees with report"; else fail "compare --format json agrees with report"; fi
expect_rc "compare: no files" 2 compare
expect_rc "compare: svg is not a compare format" 2 compare "$ex" --format svg

# JSON strings are escaped (compare's "file" is the path as given: quotes, backslashes, controls).
odd="$tmp/$(printf 'q"b\\c\tn\x01 \xc3\xa9.mix')"
cp "$ex" "$odd"
"$MIXC" compare "$odd" --format json >"$tmp/odd.json" 2>"$tmp/err"
if python3 - "$tmp/odd.json" "$odd" <<'EOF'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
assert json.loads(text)["layouts"][0]["file"] == sys.argv[2]
assert '\\u0001' in text and '\\t' in text and '\\"' in text and '\u00e9' in text
EOF
then pass "compare --format json: a file name with quotes and control characters is escaped"
else fail "compare --format json: a file name with quotes and control characters is escaped" "$(head -c 300 "$tmp/odd.json")"; fi
# A file name that is not UTF-8 cannot be JSON: an error, and nothing written (-o leaves no file).
bad="$tmp/$(printf 'bad\xff.mix')"
cp "$ex" "$bad"
expect_rc "compare --format json: a file name that is not UTF-8 exits 1" 1 compare "$bad" --format json -o "$tmp/bad.json"
if [ ! -s "$tmp/out" ] && [ ! -e "$tmp/bad.json" ] &&
   grep -q '^mixc compare: cannot write JSON: a model name or file name is not valid UTF-8$' "$tmp/err"; then
  pass "compare --format json: nothing written for a name that is not UTF-8, and says why"
else
  fail "compare --format json: nothing written for a name that is not UTF-8, and says why" "$(cat "$tmp/err")"
fi
# --target's "run" is the report's last member, one object per context.
"$MIXC" report "$ex" --context 4K,32K --target cpu --format json >"$tmp/run.json" 2>/dev/null
if python3 - "$tmp/run.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert list(j)[-2:] == ["gpu", "run"]
assert [r["context"] for r in j["run"]] == [4096, 32768] and j["run"][0]["target"] == "cpu"
assert list(j["run"][0]["dtypes"]) == ["activations", "logits", "kv", "weights"]
EOF
then pass "report --target --format json: the run plans as \"run\""; else fail "report --target --format json: the run plans as \"run\""; fi
# check --format json is the report's first three members, to the byte.
"$MIXC" check --format json "$ex" >"$tmp/check.json" 2>/dev/null
"$MIXC" report "$ex" --format json >"$tmp/report.json" 2>/dev/null
if python3 - "$tmp/check.json" "$tmp/report.json" <<'EOF'
import sys
check, report = open(sys.argv[1]).read(), open(sys.argv[2]).read()
assert check.endswith('\n}\n') and report.startswith(check[:-3] + ',\n  "schema": ')
EOF
then pass "check --format json: the report's model, layers and caches"; else fail "check --format json: the report's model, layers and caches"; fi

# ---- several GPUs: --tp, --pp (docs/report.md, "Several GPUs")
golden tests/report/cases/ma-pairs.mix parallel-ma-pairs text --tp 2 --pp 3
golden tests/report/cases/ma-pairs.mix parallel-ma-pairs json --tp 2 --pp 3
# Per-kind KV shapes under --tp 4: the sliding caches' 4 KV heads split one per rank, the global
# caches' single KV head replicated on every rank (max(1, kv_heads / tp)); KV per rank
# = 25 x 1023 x 1 x 256 x 4 + 5 x 131072 x 1 x 512 x 4 = 1368366080 bytes.
golden examples/gemma4-style.mix parallel-gemma4-style text --tp 4
golden examples/gemma4-style.mix parallel-gemma4-style json --tp 4
mistral=tests/report/cases/mistral-7b.mix
# Mistral 7B (32 layers, hidden 4096, heads 32, kv_heads 8, head_dim 128, ffn 14336, vocab 32000,
# bf16, untied; every layer owns a cache with window 4096, so at context 4096 each holds 4096 tokens):
#   KV per sequence per rank = 32 caches x 4096 tokens x (8/tp) heads x 128 x 2 (K, V) x 2 bytes
#     tp 1: 536870912   tp 2: 268435456   tp 8: 67108864
#   weights per rank, parameters per layer = 2 x (32/tp) x 128 x 4096 (Wq, Wo) + 2 x (8/tp) x 128 x 4096
#     (Wk, Wv) + 3 x (14336/tp) x 4096 (MLP) + 2 x 4096 (norms, replicated);
#     plus 2 x (32000/tp) x 4096 (embedding, LM head) + 4096 (final norm); x 2 bytes:
#     tp 1: (32 x 218112000 + 262144000 + 4096) x 2 = 14483464192
#     tp 2: (32 x 109060096 + 131072000 + 4096) x 2 = 7241998336
#     tp 8: (32 x 27271168 + 32768000 + 4096) x 2 = 1810898944
for want in "1 536870912 14483464192 8" "2 268435456 7241998336 4" "8 67108864 1810898944 1"; do
  set -- $want
  "$MIXC" report "$mistral" --context 4K --tp "$1" --format json >"$tmp/tp$1.json" 2>"$tmp/err"
  got=$(jq -r '[.parallel.stages[0].kv_bytes_per_sequence[0], .parallel.stages[0].weights_bytes,
               .parallel.kv_heads_per_rank] | map(tostring) | join(" ")' "$tmp/tp$1.json" 2>/dev/null)
  [ "$got" = "$2 $3 $4" ] && pass "report --tp $1: KV and weights per rank" ||
    fail "report --tp $1: KV and weights per rank" "got '$got', want '$2 $3 $4'" "$(head -c 300 "$tmp/err")"
done
# --tp 1 is the single-GPU report (32000 is already a multiple of 64).
jq -e '.parallel.stages[0].weights_bytes == .weights_bytes and
       .parallel.stages[0].kv_bytes_per_sequence[0] == .contexts[0].kv_bytes_per_sequence' "$tmp/tp1.json" >/dev/null &&
  pass "report --tp 1: the single-GPU figures" || fail "report --tp 1: the single-GPU figures"
# Fewer KV heads than ranks: character-ai has 1; at tp 4 each rank holds it (4 replicas), so the KV
# per rank is the whole KV, and Wk/Wv stay whole while Wq, Wo and the MLP are split.
"$MIXC" report examples/character-ai.mix --context 32K --tp 4 --format json >"$tmp/rep.json" 2>/dev/null
if python3 - "$tmp/rep.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); p = r["parallel"]; m = r["model"]
assert (p["kv_heads_per_rank"], p["kv_head_replicas"], p["heads_per_rank"]) == (1, 4, 8), p
assert p["stages"][0]["kv_bytes_per_sequence"] == [r["contexts"][0]["kv_bytes_per_sequence"]] == [10271712]
w = p["stages"][0]["weights"]
h, d = m["hidden"], m["head_dim"]
want = 12 * 2 * (32 // 4) * d * h + 5 * 2 * 1 * d * h    # Wq, Wo split; Wk, Wv of 5 owners whole
assert w["attention"] == want, (w["attention"], want)
assert w["mlp"] == 12 * 3 * (m["ffn"] // 4) * h and w["norms"] == (2 * 12 + 1) * h
assert w["embedding"] == w["lm_head"] == 8000 * h
EOF
then pass "report --tp above kv_heads: KV heads replicated"; else fail "report --tp above kv_heads: KV heads replicated"; fi
# Splits vLLM refuses are usage errors naming both numbers.
expect_rc "report --tp not dividing kv_heads" 2 report "$mistral" --set heads=48 --set kv_heads=12 --set head_dim=128 --tp 8
grep -q "^mixc report: '.*': --tp 8 does not divide the 12 kv_heads$" "$tmp/err" &&
  pass "report --tp not dividing kv_heads: says so" || fail "report --tp not dividing kv_heads: says so" "$(cat "$tmp/err")"
expect_rc "report --tp above kv_heads, not a multiple" 2 report "$mistral" --set heads=48 --set kv_heads=12 --set head_dim=128 --tp 16
grep -q -- "the 12 kv_heads do not divide --tp 16" "$tmp/err" &&
  pass "report --tp above kv_heads, not a multiple: says so" || fail "report --tp above kv_heads: says so" "$(cat "$tmp/err")"
# A kind's own kv_heads is split by the same two rules, refused naming its first layer.
sed 's/kv_heads 1 head_dim 512/kv_heads 6 head_dim 512/' examples/gemma4-style.mix >"$tmp/kv6.mix"
expect_rc "report --tp not dividing a kind's kv_heads" 2 report "$tmp/kv6.mix" --set heads=24 --tp 4
grep -q "^mixc report: '.*': --tp 4 does not divide the 6 kv_heads of layer 5$" "$tmp/err" &&
  pass "report --tp not dividing a kind's kv_heads: names the layer" || fail "report --tp and a kind's kv_heads" "$(cat "$tmp/err")"
expect_rc "report --tp above a kind's kv_heads, not a multiple" 2 report "$tmp/kv6.mix" --set heads=24 --tp 8
grep -q "the 6 kv_heads of layer 5 do not divide --tp 8" "$tmp/err" &&
  pass "report --tp above a kind's kv_heads, not a multiple: names the layer" || fail "report --tp 8 and a kind's kv_heads" "$(cat "$tmp/err")"
expect_rc "report --tp not dividing heads" 2 report "$mistral" --tp 3
grep -q -- "--tp 3 does not divide the 32 heads" "$tmp/err" && pass "report --tp not dividing heads: says so" ||
  fail "report --tp not dividing heads: says so" "$(cat "$tmp/err")"
expect_rc "report --pp above the layers" 2 report "$mistral" --pp 33
grep -q -- "--pp 33 exceeds the 32 layers" "$tmp/err" && pass "report --pp above the layers: says so" ||
  fail "report --pp above the layers: says so" "$(cat "$tmp/err")"
for bad in 0 -1 x 5000; do expect_rc "report --tp '$bad' refused" 2 report "$mistral" --tp "$bad"; done
expect_rc "report --pp without a value" 2 report "$mistral" --pp
# vLLM's partition (get_pp_indices): n / pp layers each, the remainder one each on the stages before
# the last, from the second-to-last backwards. Its documented case: 61 layers, pp 4 -> 15,15,16,15.
printf 'model "l61" {\n layers = 61\n hidden = 64\n heads = 2\n ffn = 64\n vocab = 100\n}\ndefault : global\n' >"$tmp/l61.mix"
for want in "4 15,15,16,15" "2 31,30" "3 20,21,20" "61 $(printf '1%.0s,' $(seq 60))1"; do
  set -- $want
  got=$("$MIXC" report "$tmp/l61.mix" --pp "$1" --format json 2>/dev/null | jq -r '[.parallel.stages[].layers] | map(tostring) | join(",")')
  [ "$got" = "$2" ] && pass "report --pp $1 of 61 layers: $2" || fail "report --pp $1 of 61 layers" "got $got"
done
# ma-pairs at pp 2 and 3: stages, caches on their owner's stage, readers across a stage noted.
"$MIXC" report "$ex" --pp 3 --tp 2 --context 4K,32K --gpu h100 --format json >"$tmp/pp.json" 2>/dev/null
"$MIXC" report "$ex" --pp 2 --context 32K --format json >"$tmp/pp2.json" 2>/dev/null
if python3 - "$tmp/pp.json" "$tmp/pp2.json" <<'EOF'
import json, sys
r, r2 = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
p = r["parallel"]
assert list(r)[-2:] == ["gpu", "parallel"] and (p["tp"], p["pp"], p["gpus"]) == (2, 3, 6)
assert [(s["first_layer"], s["layers"]) for s in p["stages"]] == [(0, 7), (7, 8), (15, 7)]
assert [(s["first_layer"], s["layers"]) for s in r2["parallel"]["stages"]] == [(0, 11), (11, 11)]
stage = lambda l: 0 if l < 7 else 1 if l < 15 else 2
owners = [c["owner"] for c in r["caches"]]
assert [s["caches"] for s in p["stages"]] == [sum(stage(o) == s for o in owners) for s in range(3)]
cross = [(c["id"], x) for c in r["caches"] for x in c["readers"] if stage(x) != stage(c["owner"])]
assert [(x["cache"], x["reader"]) for x in p["cross_stage_reads"]] == cross and cross, cross
# KV per rank: half the heads, every cache on its owner's stage.
for i, ctx in enumerate(r["contexts"]):
    assert sum(s["kv_bytes_per_sequence"][i] for s in p["stages"]) * 2 == ctx["kv_bytes_per_sequence"]
# Weights: the embedding on the first stage, LM head and final norm on the last.
e = [s["weights"]["embedding"] for s in p["stages"]]; h = [s["weights"]["lm_head"] for s in p["stages"]]
assert e[0] > 0 and e[1:] == [0, 0] and h[:2] == [0, 0] and h[2] > 0, (e, h)
# --gpu: each stage's fit on its own GPU, the least of them binding.
g = p["gpu"]
for i in range(2):
    fits = [(r["gpu"]["memory_bytes"] - s["weights_bytes"] - r["contexts"][i]["arena"]["bytes"])
            // s["kv_bytes_per_sequence"][i] for s in p["stages"]]
    assert [s["max_sequences"][i] for s in p["stages"]] == fits, fits
    assert g["max_sequences"][i] == min(fits) and g["binding_stage"][i] == fits.index(min(fits))
EOF
then pass "report --pp/--tp --gpu: stages, caches, cross-stage readers, fit per GPU"
else fail "report --pp/--tp --gpu: stages, caches, cross-stage readers, fit per GPU"; fi
expect_rc "report --pp text" 0 report "$ex" --pp 3
grep -q '^  note: cache 5 (owner layer 12, stage 1) is read on stage 2 by layer 18: its K/V would have to be sent from stage 1 to stage 2$' "$tmp/out" &&
  pass "report --pp: a cross-stage reader noted" || fail "report --pp: a cross-stage reader noted" "$(grep note "$tmp/out")"
# Tied embeddings with pp > 1: the last stage holds the embedding too (it is the LM head there).
"$MIXC" report examples/gemma3-27b.mix --pp 2 --format json 2>/dev/null |
  jq -e '.model.tie_embeddings and ([.parallel.stages[].weights | [.embedding > 0, .lm_head]] == [[true, 0], [true, 0]])' >/dev/null &&
  pass "report --pp with tied embeddings: the embedding on both ends" || fail "report --pp with tied embeddings"

# A mixture of experts: gpt-oss-20b's weights by hand. Per layer: attention 2 x 4096 x 2880 (q, o) +
# 2 x 512 x 2880 (k, v) + biases 4096 + 1024 + 2880 + 64 sinks = 26,550,144; router 32 x (2880 + 1) = 92,192;
# one expert 3 x 2880 x 2880 + biases 2 x 2880 + 2880 = 24,891,840; norms 2 x 2880. Whole model:
# 24 x (26,550,144 + 92,192 + 32 x 24,891,840 + 5,760) + 2 x 201088 x 2880 + 2880 = 20,914,757,184;
# active: the same with 4 experts of 32 per layer = 4,187,440,704 (the embedding and LM head in both).
"$MIXC" report examples/gpt-oss-20b.mix --format json 2>/dev/null >"$tmp/moe.json"
if jq -e '.weights.parameters == 20914757184 and .weights.active_parameters == 4187440704 and
          .weights.mlp == 24 * (92192 + 32 * 24891840) and .weights.mlp_active == 24 * (92192 + 4 * 24891840)' \
     "$tmp/moe.json" >/dev/null; then pass "report: gpt-oss-20b's experts, total and active parameters by hand"
else fail "report: gpt-oss-20b's experts" "$(jq -c .weights "$tmp/moe.json")"; fi
"$MIXC" report examples/gpt-oss-20b.mix >"$tmp/moe.txt" 2>&1
grep -q '^  active per token: 4187440704 parameters (4 of 32 experts, mlp 2391829248)$' "$tmp/moe.txt" &&
  pass "report: the active parameters line" || fail "report: the active parameters line" "$(grep -A3 '^weights' "$tmp/moe.txt")"
# A dense model has no active figures; --tp splits each expert's ffn (and the shared expert's) and
# replicates the router; a shared expert --tp does not divide is refused.
"$MIXC" report examples/mistral-7b.mix --format json 2>/dev/null | jq -e '.weights | has("active_parameters") | not' >/dev/null &&
  pass "report: no active parameters for a dense model" || fail "report: no active parameters for a dense model"
printf 'model "m" {\n layers = 2\n hidden = 64\n heads = 4\n ffn = 32\n vocab = 128\n experts = 8\n experts_per_token = 2\n shared_expert_ffn = 48\n}\nlayers 0..1 : global\n' >"$tmp/moe.mix"
got=$("$MIXC" report "$tmp/moe.mix" --tp 2 --format json 2>/dev/null | jq -c '.parallel.stages[0].weights.mlp')
# per layer and rank: router 8 x 64 + 8 experts x 3 x 16 x 64 + shared 3 x 24 x 64 = 512 + 24576 + 4608
[ "$got" = $((2 * (512 + 24576 + 4608))) ] && pass "report --tp 2: experts split, router replicated" ||
  fail "report --tp 2: experts split, router replicated" "mlp per rank: $got"
sed 's/shared_expert_ffn = 48/shared_expert_ffn = 47/' "$tmp/moe.mix" >"$tmp/moe47.mix"
expect_rc "report --tp 2 refuses a shared_expert_ffn it does not divide" 2 report "$tmp/moe47.mix" --tp 2
grep -q 'does not divide shared_expert_ffn 47' "$tmp/err" || fail "the --tp refusal names shared_expert_ffn" "$(cat "$tmp/err")"
# experts on layer 1 only (moe_step 2): layer 0 a dense MLP of dense_ffn 40, split as ffn is
sed 's/shared_expert_ffn = 48/shared_expert_ffn = 48; moe_step = 2; dense_ffn = 40/' "$tmp/moe.mix" >"$tmp/step.mix"
got=$("$MIXC" report "$tmp/step.mix" --tp 2 --format json 2>/dev/null | jq -c '.parallel.stages[0].weights.mlp')
[ "$got" = $((512 + 24576 + 4608 + 3 * 20 * 64)) ] && pass "report --tp 2: moe_step's dense layer split by dense_ffn" ||
  fail "report --tp 2: moe_step's dense layer split by dense_ffn" "mlp per rank: $got"
sed 's/dense_ffn = 40/dense_ffn = 41/' "$tmp/step.mix" >"$tmp/step41.mix"
expect_rc "report --tp 2 refuses a dense_ffn it does not divide" 2 report "$tmp/step41.mix" --tp 2
grep -q 'does not divide dense_ffn 41' "$tmp/err" || fail "the --tp refusal names dense_ffn" "$(cat "$tmp/err")"

# ---- every key of the JSON outputs is in docs/report-schema.md (tests/doc_keys.py)
mkdir -p "$tmp/keys"
keys_of() {  # $1 = file name, rest = mixc arguments printing JSON
  local name=$1
  shift
  "$MIXC" "$@" >"$tmp/keys/$name.json" 2>"$tmp/err" || fail "JSON for the key check: mixc $*" "$(head -c 300 "$tmp/err")"
}
for mix in examples/*.mix; do keys_of "$(basename "$mix" .mix)" report "$mix" --context 4K,32K --gpu h100 --target cuda --format json; done
keys_of paged report tests/mixrun/tiny.mix --target cpu --context 128 --batch 4 --page-tokens 16 --gpu 0.001 --format json
keys_of parallel report tests/report/cases/ma-pairs.mix --tp 2 --pp 3 --gpu h100 --format json
keys_of moe report "$tmp/step.mix" --tp 2 --format json
keys_of compare compare examples/ma.mix examples/character-ai.mix --gpu h100 --format json
keys_of check check --format json "$ex"
if python3 tests/doc_keys.py docs/report-schema.md -- "$tmp"/keys/*.json >"$tmp/keys.out" 2>&1; then
  pass "report, compare and check --format json: every key is in docs/report-schema.md"
else fail "report, compare and check --format json: every key is in docs/report-schema.md" "$(head -n 10 "$tmp/keys.out")"; fi

exit $((fails > 0))
