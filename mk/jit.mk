# The NVRTC JIT and its disk cache (runtime/jit/jit.c): unit tests and the JIT benchmark.
# The compile-time default CUDA root, overridden at run time by $CUDA_HOME.
$(BUILD)/runtime/jit/jit.o: CPPFLAGS += -DMIXC_CUDA_HOME='"$(CUDA_HOME)"'

$(BUILD)/tests/jit/test_jit: $(BUILD)/tests/jit/test_jit.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CUDA_LDFLAGS) $(CUDA_LDLIBS) $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/jit/test_jit

# `make bench-jit`: cold and warm JIT time, and NVRTC against `nvcc -cubin`. Never gates.
.PHONY: bench-jit
bench-jit: $(MIXC) $(BUILD)/tests/jit/test_jit $(BUILD)/bench/jit/jit_bench
	$(Q)BUILD=$(BUILD) MIXC=$(MIXC) CUDA_HOME=$(CUDA_HOME) bash bench/jit/run.sh
BENCH_TARGETS += bench-jit

$(BUILD)/bench/jit/jit_bench: $(BUILD)/bench/jit/jit_bench.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CUDA_LDFLAGS) $(CUDA_LDLIBS) $(LDLIBS)
