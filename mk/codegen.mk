# Code generation (compiler/kernels/codegen.c) and the kernel templates (templates/): codegen.o embeds the
# templates with .incbin, so it is rebuilt when one of them changes.
$(BUILD)/compiler/kernels/codegen.o: $(wildcard templates/*.cuh templates/*.h)

# Differential tests of the kernels on the CPU emulator (tests/kernels): each small layout is
# emitted with mixc and its kernels.cu compiled for the emulator into a shared object; kdiff loads
# it and compares every kernel with the fp32 references of ref.c. (EMU_KFLAGS comes from mk/emu.mk,
# read after this file: it is used in recipes only, which make expands late.)
# With the toolkit only: the kernels are compiled for the emulator.
ifeq ($(HAVE_CUDA),1)
KT_DIR := $(BUILD)/tests/kernels
# -Og, as the emu backend compiles kernels (runtime/emu/emu_backend.c): a third less compile time than
# -O1, and the emulated runs as fast (the emulator's own code, -O2, is most of their time).
KT_CXX = $(CXX) $(EMU_KFLAGS) -Wno-unknown-pragmas -Og -x c++ -shared $(LDFLAGS)
KT_SOS := $(patsubst tests/kernels/%.mix,$(KT_DIR)/%/kernels.so,$(wildcard tests/kernels/kt-*.mix))
# Not under the sanitizers (tests/kernels/run.sh says so): head_dims 320, 384 and 448 run kt-i's code
# (512: two head-dimension slices) with other constants; the normal pass runs them.
KT_NOT_SANITIZED := kt-k kt-l kt-n
ifeq ($(SANITIZE),1)
KT_SOS := $(filter-out $(patsubst %,$(KT_DIR)/%/kernels.so,$(KT_NOT_SANITIZED)),$(KT_SOS))
endif

$(KT_DIR)/kt-%/kernels.so: tests/kernels/kt-%.mix $(MIXC) $(wildcard templates/*.cuh templates/*.h) runtime/emu/mixc_emu.h
	@echo "  EMIT    $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MIXC) emit $< -o $(dir $@)
	@echo "  CXX     $(dir $@)kernels.cu"
	$(Q)$(KT_CXX) -o $@ $(dir $@)kernels.cu

# Paged caches' kernels (mixc emit --page-tokens P, docs/plan.md "Paged caches"): kt-a's for pages of 16
# and 48 rows (a 64-key tile spans pages, a page not a tile), kt-q8's (int8 pools) for pages of 48 and
# kt-t's (decode on tensor cores) for pages of 16: kt-NAME-pP from tests/kernels/kt-NAME.mix.
KT_PAGED_SOS := $(KT_DIR)/kt-a-p16/kernels.so $(KT_DIR)/kt-a-p48/kernels.so $(KT_DIR)/kt-q8-p48/kernels.so \
	$(KT_DIR)/kt-t-p16/kernels.so
$(KT_PAGED_SOS): $(KT_DIR)/%/kernels.so: tests/kernels/kt-a.mix tests/kernels/kt-q8.mix tests/kernels/kt-t.mix $(MIXC) $(wildcard templates/*.cuh templates/*.h) runtime/emu/mixc_emu.h
	@echo "  EMIT    $* (paged)"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MIXC) emit tests/kernels/$(word 1,$(subst -p, ,$*)).mix --page-tokens $(word 2,$(subst -p, ,$*)) -o $(dir $@)
	@echo "  CXX     $(dir $@)kernels.cu"
	$(Q)$(KT_CXX) -o $@ $(dir $@)kernels.cu

# kt-a-p16's kernels with the block table ignored (key j read at pool row j): tests/kernels/run.sh
# checks that kdiff fails them.
$(KT_DIR)/kt-a-p16-notable/kernels.so: $(KT_DIR)/kt-a-p16/kernels.so
	@echo "  CXX     $(KT_DIR)/kt-a-p16/kernels.cu with the block table ignored"
	$(Q)mkdir -p $(dir $@)
	$(Q)sed 's/MIXC_PAGED_ROW(table, PAGE, \([a-z]*\))/\1/' $(KT_DIR)/kt-a-p16/kernels.cu >$(dir $@)kernels.cu
	$(Q)test $$(diff $(KT_DIR)/kt-a-p16/kernels.cu $(dir $@)kernels.cu | grep -c '^>') = 2 \
		|| { echo "kt-a-p16-notable: the two paged row lookups were not found in kernels.cu" >&2; exit 1; }
	$(Q)$(KT_CXX) -o $@ $(dir $@)kernels.cu

$(KT_DIR)/kdiff.o $(KT_DIR)/kdiff_moe.o $(KT_DIR)/kdiff_small.o: $(KT_DIR)/%.o: tests/kernels/%.cpp tests/kernels/kdiff.h tests/kernels/ref.h $(wildcard templates/*.cuh templates/*.h) | $(BUILD)/.deps-ok
	@echo "  CXX     $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) $(EMU_KFLAGS) -Wno-unknown-pragmas -c -o $@ $<

$(KT_DIR)/kdiff: $(KT_DIR)/kdiff.o $(KT_DIR)/kdiff_moe.o $(KT_DIR)/kdiff_small.o $(KT_DIR)/ref.o $(BUILD)/libmixcemu.a
	@echo "  LD      $@"
	$(Q)$(CXX) $(LDFLAGS) -rdynamic -o $@ $^ -ljansson -ldl -lpthread

# kt-a's kernels (and kt-t's: decode on tensor cores) with prefill's and decode's waits for their tile
# made one group too lenient (prefill: wait_group 1, the tile just issued may still be in flight;
# decode: STAGES - 1, the tile about to be read may): the emulator's deferred, poisoned cp.async
# copies must make kdiff fail on them (tests/kernels/run.sh). The templates are untouched.
KT_WAIT1_SOS := $(KT_DIR)/kt-a-wait1/kernels.so $(KT_DIR)/kt-t-wait1/kernels.so
$(KT_WAIT1_SOS): $(KT_DIR)/%-wait1/kernels.so: $(KT_DIR)/%/kernels.so
	@echo "  CXX     $(KT_DIR)/$*/kernels.cu with wrong cp.async wait counts"
	$(Q)mkdir -p $(dir $@)
	$(Q)sed -e 's/^\( *\)cp_async_wait_all();/\1cp_async_wait_group<1>();/' \
		-e 's/cp_async_wait_group<STAGES - 2>();/cp_async_wait_group<STAGES - 1>();/' \
		$(KT_DIR)/$*/kernels.cu >$(dir $@)kernels.cu
	$(Q)test $$(diff $(KT_DIR)/$*/kernels.cu $(dir $@)kernels.cu | grep -c '^>.*cp_async_wait_group<1>') = 1 \
		|| { echo "$*-wait1: prefill's cp_async_wait_all() was not found once in kernels.cu" >&2; exit 1; }
	$(Q)test $$(diff $(KT_DIR)/$*/kernels.cu $(dir $@)kernels.cu | grep -c '^>.*cp_async_wait_group<STAGES - 1>') = 1 \
		|| { echo "$*-wait1: decode's cp_async_wait_group<STAGES - 2>() was not found once in kernels.cu" >&2; exit 1; }
	$(Q)$(KT_CXX) -o $@ $(dir $@)kernels.cu

TEST_PROGS += $(KT_DIR)/kdiff $(KT_SOS) $(KT_PAGED_SOS)
# The mutants that must fail run in the normal pass only (tests/kernels/run.sh).
ifneq ($(SANITIZE),1)
TEST_PROGS += $(KT_WAIT1_SOS) $(KT_DIR)/kt-a-p16-notable/kernels.so
endif
endif
