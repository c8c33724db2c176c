# tests/example-size.sh — sourced by the suites that run every example at test size (tests/transformers,
# tests/foundry): the --set arguments that shrink any example to a few layers' worth of compute, with
# every window 8 and every 8-bit KV cache in bf16 (the exported models have no 8-bit cache).
EXAMPLE_TEST_SIZE=(--set hidden=64 --set heads=4 --set kv_heads=2 --set head_dim=16 --set ffn=64 --set vocab=256
                   --set context=64 --set chunk=8 --set window=8 --set kv_dtype=bf16)
