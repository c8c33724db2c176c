# The CUDA-on-CPU emulator (runtime/emu): libmixcemu.a and its known-answer tests (tests/emu).
# Kernels compiled for the emulator: host C++17 with -DMIXC_EMU -include runtime/emu/mixc_emu.h.
EMU_LIB      := $(BUILD)/libmixcemu.a
EMU_OBJ      := $(BUILD)/runtime/emu/emu.o
EMU_KFLAGS    = -std=c++17 $(WARN) $(CXXFLAGS) -fPIC -DMIXC_EMU -include runtime/emu/mixc_emu.h \
                -Iruntime/emu -Itemplates -I$(CUDA_HOME)/include -MMD -MP
EMU_LDLIBS   := -ldl -lpthread

# -fPIC: the archive may also be linked into shared objects.
$(EMU_OBJ): CXXFLAGS += -fPIC
$(EMU_LIB): $(EMU_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

# Known-answer tests: kernels and host checks in one C++ program.
$(BUILD)/tests/emu/test_emu.o: tests/emu/test_emu.cpp runtime/emu/mixc_emu.h | $(BUILD)/.deps-ok
	@echo "  CXX     $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) $(EMU_KFLAGS) -c -o $@ $<
$(BUILD)/tests/emu/test_emu: $(BUILD)/tests/emu/test_emu.o $(EMU_LIB)
	@echo "  LD      $@"
	$(Q)$(CXX) $(LDFLAGS) -o $@ $^ $(EMU_LDLIBS)

# An FA2-style attention kernel against a CPU reference; also `make bench-emu` (timings only).
$(BUILD)/tests/emu/test_attention.o: tests/emu/test_attention.cpp runtime/emu/mixc_emu.h | $(BUILD)/.deps-ok
	@echo "  CXX     $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) $(EMU_KFLAGS) -c -o $@ $<
$(BUILD)/tests/emu/test_attention: $(BUILD)/tests/emu/test_attention.o $(EMU_LIB)
	@echo "  LD      $@"
	$(Q)$(CXX) $(LDFLAGS) -o $@ $^ $(EMU_LDLIBS)

.PHONY: bench-emu
bench-emu: $(BUILD)/tests/emu/test_attention
	$(Q)$(BUILD)/tests/emu/test_attention --bench
BENCH_TARGETS += bench-emu

# The loading path: kernels in a shared object, loaded and launched from C through emu_api.h.
$(BUILD)/tests/emu/kernels_so.so: tests/emu/kernels_so.cu runtime/emu/mixc_emu.h | $(BUILD)/.deps-ok
	@echo "  CXX     $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) $(EMU_KFLAGS) -x c++ -shared $(LDFLAGS) -o $@ $<
$(BUILD)/tests/emu/test_dl.o: tests/emu/test_dl.c runtime/emu/emu_api.h | $(BUILD)/.deps-ok
	@echo "  CC      $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -Iruntime/emu $(ALL_CFLAGS) -c -o $@ $<
$(BUILD)/tests/emu/test_dl: $(BUILD)/tests/emu/test_dl.o $(EMU_LIB)
	@echo "  LD      $@"
	$(Q)$(CXX) $(LDFLAGS) -rdynamic -o $@ $^ $(EMU_LDLIBS)

TEST_PROGS += $(EMU_LIB) $(BUILD)/tests/emu/test_emu $(BUILD)/tests/emu/test_attention $(BUILD)/tests/emu/test_dl $(BUILD)/tests/emu/kernels_so.so
