# tests/transformers/refused.sh — sourced by run.sh and run-python.sh: the examples the exported models
# do not compute, and what the refusal names (run.sh checks the refusal; run-python.sh skips them).
declare -A EXPORT_REFUSED=([gpt-oss-20b]="'experts' 32 (a mixture of experts) is not computed by the exported models"
                          [llama4-scout]="'experts' 16 (a mixture of experts) is not computed by the exported models"
                          [llama4-maverick]="'experts' 128 (a mixture of experts) is not computed by the exported models"
                          [gemma4-style]="mixc: layer 5 has its own kv_heads 1 and head_dim 512")
