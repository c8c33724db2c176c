# The cuda backend of mixrun (runtime/cuda/cuda_backend.c, docs/gpu.md) and the GPU-only scripts.
# cuda_backend.c is one of the toolkit's sources (TOOLKIT_SRCS), in CORE_OBJS and in mixrun; the driver,
# cuBLAS and NVRTC are dlopen'ed (runtime/jit/jit.c), so nothing more is linked and mixrun starts
# without a GPU. Everything here needs the toolkit.

ifeq ($(HAVE_CUDA),1)
# tests/cuda: the launch plan against the manifest, and the backend's source through NVRTC.
$(BUILD)/tests/cuda/plan_check: $(BUILD)/tests/cuda/plan_check.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/cuda/plan_check

# Need a GPU; never part of `make test`. Without one they exit 2 saying so.
.PHONY: gpu-check gpu-bench
gpu-check: $(MIXC) $(MIXRUN) $(BUILD)/tests/mixrun/logitcmp $(BUILD)/tests/cuda/gpu_attn
	$(Q)BUILD=$(BUILD) MIXC=$(MIXC) MIXRUN=$(MIXRUN) bash scripts/gpu-check.sh
gpu-bench: $(MIXC) $(MIXRUN) $(BUILD)/tests/cuda/gpu_attn
	$(Q)BUILD=$(BUILD) MIXC=$(MIXC) MIXRUN=$(MIXRUN) bash scripts/gpu-bench.sh

# A stand-in driver and cuBLAS (tests/cuda/fake_cuda.c) found through LD_LIBRARY_PATH: the backend's
# dlopen path, its open/close and the bounds of its copies and GEMMs run without a GPU. Built without
# the sanitizer flags (they are loaded into sanitized programs, whose allocator they use anyway).
FAKE_CUDA_DIR := $(BUILD)/tests/cuda/fake
$(FAKE_CUDA_DIR)/libcuda.so.1: tests/cuda/fake_cuda.c | $(BUILD)/.deps-ok
	@echo "  CC      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O1 -g -fPIC -shared -DFAKE_DRIVER -I$(CUDA_HOME)/include -o $@ $<
$(FAKE_CUDA_DIR)/libcublas.so.13: tests/cuda/fake_cuda.c | $(BUILD)/.deps-ok
	@echo "  CC      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O1 -g -fPIC -shared -DFAKE_CUBLAS -I$(CUDA_HOME)/include -o $@ $< -ldl
TEST_PROGS += $(FAKE_CUDA_DIR)/libcuda.so.1 $(FAKE_CUDA_DIR)/libcublas.so.13

# The attention kernels alone on a GPU (scripts/gpu-check.sh against PyTorch SDPA, gpu-bench.sh's
# decode timing). tests/cuda runs its checks under the stand-in driver with its kernels emulated
# (the emulator linked whole and exported, as in mixrun, for the kernels .so the driver loads).
$(BUILD)/tests/cuda/gpu_attn: $(BUILD)/tests/cuda/gpu_attn.o $(CORE_OBJS) $(EMU_LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(BUILD)/tests/cuda/gpu_attn.o $(CORE_OBJS) $(EMU_LINK) $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/cuda/gpu_attn

# gpu-check's SDPA comparison without a GPU: the prefill kernel emulated under the stand-in driver
# against PyTorch (tests/cuda/sdpa-emu.sh; the venv of scripts/python-venv.sh).
test-python: test-python-sdpa
.PHONY: test-python-sdpa
test-python-sdpa: $(BUILD)/tests/cuda/gpu_attn $(FAKE_CUDA_DIR)/libcuda.so.1 $(FAKE_CUDA_DIR)/libcublas.so.13
	$(Q)venv=$$(bash scripts/python-venv.sh) && BUILD=$(BUILD) PYTHON="$$venv/bin/python" bash tests/cuda/sdpa-emu.sh
endif
