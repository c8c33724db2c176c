# The CUDA-on-CPU emulator (runtime/emu): libmixcemu.a and its known-answer tests (tests/emu).
# Kernels compiled for the emulator: host C++17 with -DMIXC_EMU -include runtime/emu/mixc_emu.h.
# With the toolkit only: the emulator compiles its kernels against the CUDA headers.
ifeq ($(HAVE_CUDA),1)
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

# Kernels and host checks in one C++ program each: test_emu (known-answer tests) and test_attention
# (an FA2-style attention kernel against a CPU reference; also `make bench-emu`, timings only).
EMU_CXX_TESTS := $(BUILD)/tests/emu/test_emu $(BUILD)/tests/emu/test_attention
$(EMU_CXX_TESTS:=.o): $(BUILD)/tests/emu/%.o: tests/emu/%.cpp runtime/emu/mixc_emu.h | $(BUILD)/.deps-ok
	@echo "  CXX     $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) $(EMU_KFLAGS) -c -o $@ $<
$(EMU_CXX_TESTS): %: %.o $(EMU_LIB)
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

TEST_PROGS += $(EMU_LIB) $(EMU_CXX_TESTS) $(BUILD)/tests/emu/test_dl $(BUILD)/tests/emu/kernels_so.so

# The race check (docs/emulator.md): emu.cpp with -DMIXC_EMU_TSAN (not itself instrumented, see
# its header comment), kernels and harnesses with -fsanitize=thread. A small separate build:
# test_race's kernels, kdiff, and kt-a's generated kernels as they are and with two barriers
# removed (the templates are untouched; tests/emu/run.sh checks which runs are reported). Not in
# the AddressSanitizer build (TSan cannot be combined with ASan), nor where the compiler has no
# TSan: then a stamp file makes run.sh print SKIP instead of failing on missing programs.
RACE_DIR     := $(BUILD)/tests/emu/race
RACE_FLAGS   := -O1 -g -fsanitize=thread -fPIC
RACE_KFLAGS   = -std=c++17 $(WARN) $(RACE_FLAGS) -DMIXC_EMU -include runtime/emu/mixc_emu.h \
                -Iruntime/emu -Itemplates -I$(CUDA_HOME)/include -Wno-unknown-pragmas
# The barriers test-race drops from kt-a's kernels.cu: prefill's wait for a copied tile (a read
# after write through cp.async and ldmatrix) and decode's barrier after its wait for a tile (reads of
# cp.async copies other threads waited for; the next tile's probabilities written over the last's).
RACE_DROP    := -e '/tile n0 visible to all/d' -e '/tile t visible to all/d'

ifneq ($(SANITIZE),1)
RACE_TSAN_OK := $(shell printf 'int main(){return 0;}' | $(CXX) -fsanitize=thread -x c++ - \
                  -o /dev/null >/dev/null 2>&1 && echo 1)
ifeq ($(RACE_TSAN_OK),1)
$(RACE_DIR)/emu.o: runtime/emu/emu.cpp runtime/emu/emu_warp.inc runtime/emu/emu_sched.inc runtime/emu/emu_switch.inc runtime/emu/mixc_emu.h runtime/emu/emu_api.h | $(BUILD)/.deps-ok
	@echo "  CXX     $< (race check)"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) -std=c++17 $(WARN) -O2 -g -fPIC -DMIXC_EMU_TSAN -Iruntime/emu -I$(CUDA_HOME)/include \
		-c -o $@ $<
$(RACE_DIR)/test_race: tests/emu/test_race.cpp $(RACE_DIR)/emu.o runtime/emu/mixc_emu.h
	@echo "  CXX     $< (race check)"
	$(Q)$(CXX) $(RACE_KFLAGS) -o $@ $< $(RACE_DIR)/emu.o $(EMU_LDLIBS)
$(RACE_DIR)/kdiff: tests/kernels/kdiff.cpp tests/kernels/kdiff_moe.cpp tests/kernels/kdiff_small.cpp tests/kernels/kdiff.h tests/kernels/ref.c \
		tests/kernels/ref.h $(RACE_DIR)/emu.o $(wildcard templates/*.cuh templates/*.h) runtime/emu/mixc_emu.h
	@echo "  CXX     $< (race check)"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(RACE_FLAGS) -c -o $(RACE_DIR)/ref.o tests/kernels/ref.c
	$(Q)$(CXX) $(RACE_KFLAGS) -c -o $(RACE_DIR)/kdiff.o $<
	$(Q)$(CXX) $(RACE_KFLAGS) -c -o $(RACE_DIR)/kdiff_moe.o tests/kernels/kdiff_moe.cpp
	$(Q)$(CXX) $(RACE_KFLAGS) -c -o $(RACE_DIR)/kdiff_small.o tests/kernels/kdiff_small.cpp
	$(Q)$(CXX) -fsanitize=thread -rdynamic -o $@ $(RACE_DIR)/kdiff.o $(RACE_DIR)/kdiff_moe.o $(RACE_DIR)/kdiff_small.o $(RACE_DIR)/ref.o \
		$(RACE_DIR)/emu.o -ljansson $(EMU_LDLIBS)
# kt-a's kernels and kt-t's (decode on tensor cores), as they are and minus RACE_DROP's barriers;
# kt-t's also minus the tensor-core decode's barrier between its scores and each head's softmax.
RACE_SOS := $(RACE_DIR)/kt-a.so $(RACE_DIR)/kt-t.so
$(RACE_SOS): $(RACE_DIR)/%.so: $(KT_DIR)/%/kernels.so
	@echo "  CXX     $(KT_DIR)/$*/kernels.cu (race check)"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) $(RACE_KFLAGS) -x c++ -shared -o $@ $(KT_DIR)/$*/kernels.cu
RACE_NOBARRIER_SOS := $(RACE_DIR)/kt-a-nobarrier.so $(RACE_DIR)/kt-t-nobarrier.so
$(RACE_NOBARRIER_SOS): $(RACE_DIR)/%-nobarrier.so: $(KT_DIR)/%/kernels.so
	@echo "  CXX     $(KT_DIR)/$*/kernels.cu minus two barriers (race check)"
	$(Q)mkdir -p $(dir $@)
	$(Q)sed $(RACE_DROP) $(KT_DIR)/$*/kernels.cu >$(RACE_DIR)/$*-nobarrier.cu
	$(Q)test $$(diff $(KT_DIR)/$*/kernels.cu $(RACE_DIR)/$*-nobarrier.cu | grep -c '^<.*__syncthreads') = 2 \
		|| { echo "race check: the barriers to drop were not found in kernels.cu" >&2; exit 1; }
	$(Q)$(CXX) $(RACE_KFLAGS) -x c++ -shared -o $@ $(RACE_DIR)/$*-nobarrier.cu
$(RACE_DIR)/kt-t-noscores.so: $(KT_DIR)/kt-t/kernels.so
	@echo "  CXX     $(KT_DIR)/kt-t/kernels.cu minus the tensor-core scores' barrier (race check)"
	$(Q)mkdir -p $(dir $@)
	$(Q)sed '/scores visible to each head/d' $(KT_DIR)/kt-t/kernels.cu >$(RACE_DIR)/kt-t-noscores.cu
	$(Q)test $$(diff $(KT_DIR)/kt-t/kernels.cu $(RACE_DIR)/kt-t-noscores.cu | grep -c '^<.*__syncthreads') = 1 \
		|| { echo "race check: the tensor-core scores' barrier was not found in kernels.cu" >&2; exit 1; }
	$(Q)$(CXX) $(RACE_KFLAGS) -x c++ -shared -o $@ $(RACE_DIR)/kt-t-noscores.cu
TEST_PROGS += $(RACE_DIR)/test_race $(RACE_DIR)/kdiff $(RACE_SOS) $(RACE_NOBARRIER_SOS) $(RACE_DIR)/kt-t-noscores.so
else
$(RACE_DIR)/unavailable:
	$(Q)mkdir -p $(dir $@)
	$(Q)echo "$(CXX) cannot link with -fsanitize=thread" >$@
TEST_PROGS += $(RACE_DIR)/unavailable
endif
endif
endif
