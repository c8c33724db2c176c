# `make fuzz`: the fuzz targets for a longer run by hand: parse + check for FUZZ_SECONDS (default
# 600), the others (HF import, safetensors, chat templates, tokenizers, llm-foundry YAML, serve's
# request bodies, --requests files, guided decoding's patterns) a seventh as long each
# (tests/fuzz/run.sh). The bounded run of
# `make test` goes through it too (MIXC_FUZZ_SECONDS=30).
FUZZ_SECONDS ?= 600
fuzz:
	$(Q)BUILD=$(BUILD) MIXC_FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh
