# The NVRTC JIT (runtime/jit/jit.c) and its disk cache (jit_cache.c): unit tests and the JIT
# benchmark, with the toolkit only.
# The compile-time default CUDA root, overridden at run time by $CUDA_HOME.
$(BUILD)/runtime/jit/jit_cache.o: CPPFLAGS += -DMIXC_CUDA_HOME='"$(CUDA_HOME)"'

ifeq ($(HAVE_CUDA),1)
$(BUILD)/tests/jit/test_jit: $(BUILD)/tests/jit/test_jit.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/jit/test_jit

# `make bench-jit`: cold and warm JIT time, and NVRTC against `nvcc -cubin`. Never gates.
.PHONY: bench-jit
bench-jit: $(MIXC) $(BUILD)/tests/jit/test_jit $(BUILD)/bench/jit/jit_bench
	$(Q)BUILD=$(BUILD) MIXC=$(MIXC) CUDA_HOME=$(CUDA_HOME) bash bench/jit/run.sh
BENCH_TARGETS += bench-jit

$(BUILD)/bench/jit/jit_bench: $(BUILD)/bench/jit/jit_bench.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
endif
