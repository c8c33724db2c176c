# The model runtime (runtime/model/model.c, safetensors.c, cpu_backend.c, emu_backend.c, npy.c) and the mixrun
# program; tests/mixrun/test_model holds the C tests of the runtime, tests/mixrun/run.sh drives both.

ifeq ($(HAVE_CUDA),1)
# The emu backend reaches the emulator through weak references, which would not pull emu.o out of
# the archive: the whole archive, exported (-rdynamic) for the kernels .so it loads.
EMU_LINK = -Wl,--whole-archive $(EMU_LIB) -Wl,--no-whole-archive -rdynamic -lstdc++
MIXRUN_DEPS := $(EMU_LIB)
# Binaries written by `mixc build` need the emulator too (absolute: mixc runs the link anywhere).
BUILD_EXTRA_LIBS += -Wl,--whole-archive $(abspath $(EMU_LIB)) -Wl,--no-whole-archive -rdynamic -lstdc++
$(BUILD)/compiler/cli/build.o: mk/mixrun.mk

# Two layouts open on the emu backend in one process (each backend holds its own kernels).
$(BUILD)/tests/mixrun/test_emu_layouts: $(BUILD)/tests/mixrun/test_emu_layouts.o $(CORE_OBJS) $(EMU_LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(BUILD)/tests/mixrun/test_emu_layouts.o $(CORE_OBJS) $(EMU_LINK) $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/mixrun/test_emu_layouts
endif

$(MIXRUN): $(MIXRUN_MAIN_OBJS) $(HTTP_OBJS) $(CORE_OBJS) $(MIXRUN_DEPS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(MIXRUN_MAIN_OBJS) $(HTTP_OBJS) $(CORE_OBJS) $(EMU_LINK) $(HTTP_LIBS) $(LDLIBS)
all: $(MIXRUN)

# emu_backend.o embeds the emulator's headers (.incbin), compiles kernels with this build's
# sanitizer flags (so the sanitizer pass checks the kernels too); the CUDA root comes from jit.c.
$(BUILD)/runtime/emu/emu_backend.o: runtime/emu/mixc_emu.h runtime/emu/emu_api.h
$(BUILD)/runtime/emu/emu_backend.o: CPPFLAGS += -DMIXC_EMU_BUILD_FLAGS='"$(SANFLAGS)"'

$(BUILD)/tests/mixrun/test_model: $(BUILD)/tests/mixrun/test_model.o $(BUILD)/tests/mixrun/naive.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

TEST_PROGS += $(MIXRUN) $(BUILD)/tests/mixrun/test_model

# A safetensors file shortened under its mapping (runtime/model/safetensors.c's SIGBUS guard).
$(BUILD)/tests/mixrun/test_st_guard: $(BUILD)/tests/mixrun/test_st_guard.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/mixrun/test_st_guard

# Compares the logits of two backends (tests/mixrun/run.sh: cpu against emu).
$(BUILD)/tests/mixrun/logitcmp: $(BUILD)/tests/mixrun/logitcmp.o
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lm
TEST_PROGS += $(BUILD)/tests/mixrun/logitcmp

# The batched prefill against each sequence alone, on cpu, emu and cuda under the stand-in driver
# (tests/serve/run.sh): with the toolkit, the emulator linked and exported as for mixrun.
$(BUILD)/tests/serve/test_batch_prefill: $(BUILD)/tests/serve/test_batch_prefill.o $(CORE_OBJS) $(MIXRUN_DEPS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(BUILD)/tests/serve/test_batch_prefill.o $(CORE_OBJS) $(EMU_LINK) $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/serve/test_batch_prefill

# Prefix caching against prompts prefilled whole (tests/serve/run.sh), on the same backends.
$(BUILD)/tests/serve/test_prefix_cache: $(BUILD)/tests/serve/test_prefix_cache.o $(CORE_OBJS) $(MIXRUN_DEPS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(BUILD)/tests/serve/test_prefix_cache.o $(CORE_OBJS) $(EMU_LINK) $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/serve/test_prefix_cache
