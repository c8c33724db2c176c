# `mixrun serve` (runtime/http, docs/serving.md "The HTTP server"): tests/http/run.sh (curl) is in
# `make test`; `make test-python` also runs the official openai client against it.
test-python: test-python-http
.PHONY: test-python-http
test-python-http: $(MIXRUN) $(BUILD)/tests/tokenizer/test_tokenizer
	$(Q)venv=$$(bash scripts/python-venv.sh) && BUILD=$(BUILD) "$$venv/bin/python" tests/http/test_openai.py

# The pythonic tool parsers against vLLM's reading (Python's ast) of random answers; the committed
# cases (tests/http/fixtures/pythonic.json) run in make test.
test-python: test-python-pythonic
.PHONY: test-python-pythonic refresh-pythonic-fixtures
test-python-pythonic: $(BUILD)/tests/http/test_tools
	$(Q)venv=$$(bash scripts/python-venv.sh) && for seed in 1 2; do \
	  "$$venv/bin/python" tests/http/make_pythonic_fixtures.py --random $$seed 3000 $(BUILD)/pythonic-random.json && \
	  $(BUILD)/tests/http/test_tools --pythonic $(BUILD)/pythonic-random.json || exit 1; done
refresh-pythonic-fixtures:
	$(Q)venv=$$(bash scripts/python-venv.sh) && "$$venv/bin/python" tests/http/make_pythonic_fixtures.py

# The qwen3_coder parser against vLLM's reading of random answers (its rules restated in Python); the
# committed cases (tests/http/fixtures/qwen3_coder.json) run in make test.
test-python: test-python-qwen3-coder
.PHONY: test-python-qwen3-coder refresh-qwen3-coder-fixtures
test-python-qwen3-coder: $(BUILD)/tests/http/test_tools
	$(Q)venv=$$(bash scripts/python-venv.sh) && for seed in 1 2; do \
	  "$$venv/bin/python" tests/http/make_qwen3_coder_fixtures.py --random $$seed 3000 $(BUILD)/qwen3-coder-random.json && \
	  $(BUILD)/tests/http/test_tools --qwen3-coder $(BUILD)/qwen3-coder-random.json || exit 1; done
refresh-qwen3-coder-fixtures:
	$(Q)venv=$$(bash scripts/python-venv.sh) && "$$venv/bin/python" tests/http/make_qwen3_coder_fixtures.py

# Sampling and the chat template, below HTTP (tests/http/run.sh runs it).
$(BUILD)/tests/http/test_http: $(BUILD)/tests/http/test_http.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/http/test_http

# The answer side below HTTP, without the server itself (http_server.c, libmicrohttpd's), which
# tests/http/run.sh runs: tool calling's parsers and answers (test_tools), --reasoning-parser's parts
# and answers (test_reasoning), guided decoding's schemas and masks (test_guide); and `make
# bench-guide`'s program.
HTTP_BELOW := tests/http/test_tools tests/http/test_reasoning tests/http/test_guide bench/serve/guide_bench
$(HTTP_BELOW:%=$(BUILD)/%): $(BUILD)/%: $(BUILD)/%.o $(filter-out %/http_server.o,$(HTTP_OBJS)) $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/http/test_tools $(BUILD)/tests/http/test_reasoning $(BUILD)/tests/http/test_guide

# `make bench-sample`: the host's costs a token of the draws and the log-probabilities at Llama 3's
# vocabulary (bench/serve/sample_bench.c). Never gates.
.PHONY: bench-sample
bench-sample: $(BUILD)/bench/serve/sample_bench
	$(Q)$(BUILD)/bench/serve/sample_bench
BENCH_TARGETS += bench-sample
$(BUILD)/bench/serve/sample_bench: $(BUILD)/bench/serve/sample_bench.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# `make bench-guide`: guided decoding's mask per token at Llama 3's vocabulary size against a draw
# (bench/serve/guide_bench.c). Never gates.
.PHONY: bench-guide
bench-guide: $(BUILD)/bench/serve/guide_bench
	$(Q)$(BUILD)/bench/serve/guide_bench
BENCH_TARGETS += bench-guide

# `make bench-forks`: a prompt's n choices prefilled once against the requests they stand for
# (bench/serve/fork_bench.sh). Never gates.
.PHONY: bench-forks
bench-forks: $(MIXRUN)
	$(Q)BUILD=$(BUILD) bash bench/serve/fork_bench.sh
BENCH_TARGETS += bench-forks

# `make bench-prefix`: a chat's turns with prefix caching against every prompt prefilled whole
# (bench/serve/prefix_bench.sh). Never gates.
.PHONY: bench-prefix
bench-prefix: $(MIXRUN)
	$(Q)BUILD=$(BUILD) bash bench/serve/prefix_bench.sh
BENCH_TARGETS += bench-prefix
