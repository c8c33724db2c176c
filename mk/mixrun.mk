# The model runtime (runtime/model/model.c, safetensors.c, cpu_backend.c, emu_backend.c, npy.c) and the mixrun
# program; tests/mixrun/test_model holds the C tests of the runtime, tests/mixrun/run.sh drives both.
MIXRUN := $(BUILD)/mixrun

# The emu backend plugs into the cpu backend through weak references to the emulator, which would not
# pull emu.o out of the archive: the whole archive, exported (-rdynamic) for the kernels .so it loads.
EMU_LINK = -Wl,--whole-archive $(EMU_LIB) -Wl,--no-whole-archive -rdynamic -lstdc++

$(MIXRUN): $(BUILD)/runtime/cli/mixrun.o $(CORE_OBJS) $(EMU_LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(BUILD)/runtime/cli/mixrun.o $(CORE_OBJS) $(EMU_LINK) $(CUDA_LDFLAGS) $(CUDA_LDLIBS) $(LDLIBS)

# Binaries written by `mixc build` need the emulator too (absolute: mixc runs the link anywhere).
BUILD_EXTRA_LIBS += -Wl,--whole-archive $(abspath $(EMU_LIB)) -Wl,--no-whole-archive -rdynamic -lstdc++
all: $(EMU_LIB) $(MIXRUN)
$(BUILD)/compiler/cli/build.o: mk/mixrun.mk

# emu_backend.o embeds the emulator's headers (.incbin), compiles kernels with this build's
# sanitizer flags (so the sanitizer pass checks the kernels too); the CUDA root comes from jit.c.
$(BUILD)/runtime/emu/emu_backend.o: runtime/emu/mixc_emu.h runtime/emu/emu_api.h
$(BUILD)/runtime/emu/emu_backend.o: CPPFLAGS += -DMIXC_EMU_BUILD_FLAGS='"$(SANFLAGS)"'

$(BUILD)/tests/mixrun/test_model: $(BUILD)/tests/mixrun/test_model.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CUDA_LDFLAGS) $(CUDA_LDLIBS) $(LDLIBS)

TEST_PROGS += $(MIXRUN) $(BUILD)/tests/mixrun/test_model

# Compares the logits of two backends (tests/mixrun/run.sh: cpu against emu).
$(BUILD)/tests/mixrun/logitcmp: $(BUILD)/tests/mixrun/logitcmp.o
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lm
TEST_PROGS += $(BUILD)/tests/mixrun/logitcmp
