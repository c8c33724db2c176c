# The tokenizers of runtime/tok (docs/tokenizer.md): tests/tokenizer/test_tokenizer compares them with
# the committed fixtures of the tokenizers package (tests/tokenizer/run.sh).
# tests/tokenizer/test_jinja checks runtime/tok/jinja.c against jinja2's renderings
# (tests/tokenizer/fixtures/chat_templates.json, made by tests/tokenizer/make_chat_fixtures.py).
TOK_TESTS := $(BUILD)/tests/tokenizer/test_tokenizer $(BUILD)/tests/tokenizer/test_jinja
$(TOK_TESTS): $(BUILD)/tests/tokenizer/%: $(BUILD)/tests/tokenizer/%.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
TEST_PROGS += $(TOK_TESTS)

# Rewrites tests/tokenizer/fixtures with the venv's tokenizers package (commit the result).
.PHONY: refresh-tokenizer-fixtures
refresh-tokenizer-fixtures:
	$(Q)venv=$$(bash scripts/python-venv.sh) && "$$venv/bin/python" tests/tokenizer/make_fixtures.py

# `make test-python` (mk/hf.mk) also trains the tokenizers afresh into $(BUILD)/tokenizer-fixtures and
# runs tests/tokenizer/run.sh on them: the committed files are not trusted there.
test-python: test-python-tokenizer
.PHONY: test-python-tokenizer
test-python-tokenizer: $(MIXRUN) $(BUILD)/tests/tokenizer/test_tokenizer
	$(Q)venv=$$(bash scripts/python-venv.sh) && rm -rf $(BUILD)/tokenizer-fixtures && \
	  "$$venv/bin/python" tests/tokenizer/make_fixtures.py --out $(BUILD)/tokenizer-fixtures && \
	  BUILD=$(BUILD) MIXC_TOKENIZER_FIXTURES=$(BUILD)/tokenizer-fixtures bash tests/tokenizer/run.sh

# Remakes tests/tokenizer/fixtures/chat_templates.json with jinja2 (commit the result).
.PHONY: refresh-chat-fixtures
refresh-chat-fixtures:
	$(Q)venv=$$(bash scripts/python-venv.sh) && "$$venv/bin/python" tests/tokenizer/make_chat_fixtures.py

# `make test-python` also renders 3000 random templates with jinja2 and compares (fuzz_chat_templates.py).
test-python: test-python-jinja
.PHONY: test-python-jinja
test-python-jinja: $(BUILD)/tests/tokenizer/test_jinja
	$(Q)venv=$$(bash scripts/python-venv.sh) && for seed in 1 2; do \
	  "$$venv/bin/python" tests/tokenizer/fuzz_chat_templates.py $$seed 1500 $(BUILD)/jinja-fuzz.json >/dev/null && \
	  { $(BUILD)/tests/tokenizer/test_jinja $(BUILD)/jinja-fuzz.json >$(BUILD)/jinja-fuzz.out; rc=$$?; } ; \
	  tail -n 1 $(BUILD)/jinja-fuzz.out; [ $$rc = 0 ] || { grep -A3 '^FAIL' $(BUILD)/jinja-fuzz.out | head -n 40; exit 1; }; done
