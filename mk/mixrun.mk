# The model runtime (runtime/model.c, safetensors.c, cpu_backend.c, npy.c) and the mixrun program;
# tests/mixrun/test_model holds the C tests of the runtime, tests/mixrun/run.sh drives both.
MIXRUN := $(BUILD)/mixrun

$(MIXRUN): $(BUILD)/runtime/mixrun.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CUDA_LDFLAGS) $(CUDA_LDLIBS) $(LDLIBS)

$(BUILD)/tests/mixrun/test_model: $(BUILD)/tests/mixrun/test_model.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CUDA_LDFLAGS) $(CUDA_LDLIBS) $(LDLIBS)

TEST_PROGS += $(MIXRUN) $(BUILD)/tests/mixrun/test_model
