# Hugging Face transformers as the reference (tests/hf): `make test` compares mixrun with the committed
# fixtures and needs no Python; these targets need torch and transformers, in a venv that
# scripts/python-venv.sh finds or makes (never part of `make test`).
.PHONY: refresh-hf-fixtures test-python

# Rewrites tests/hf/fixtures/* with the venv's transformers (commit the result with its made_with.json).
refresh-hf-fixtures:
	$(Q)venv=$$(bash scripts/python-venv.sh) && "$$venv/bin/python" tests/hf/make_fixtures.py

# Fresh fixtures from the venv's transformers into $(BUILD)/hf-fixtures, then the tests/hf comparison
# against them: the committed files are not trusted here. Then `mixc export --transformers` / `--hf DIR`
# of every example loaded by transformers and compared with mixrun (tests/transformers/run-python.sh).
test-python: $(MIXC) $(MIXRUN) $(BUILD)/tests/mixrun/logitcmp
	$(Q)venv=$$(bash scripts/python-venv.sh) && rm -rf $(BUILD)/hf-fixtures && \
	  "$$venv/bin/python" tests/hf/make_fixtures.py --out $(BUILD)/hf-fixtures && \
	  BUILD=$(BUILD) MIXC_HF_FIXTURES=$(BUILD)/hf-fixtures bash tests/hf/run.sh && \
	  BUILD=$(BUILD) PYTHON="$$venv/bin/python" bash tests/transformers/run-python.sh

# `mixc export --transformers` and `--vllm` (compiler/interop/hf_export.c) embed templates/python (embed.h).
$(BUILD)/compiler/interop/hf_export.o: $(wildcard templates/python/*)
