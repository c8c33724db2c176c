# mixc — build, test and demo.  `make V=1` shows the commands.
# Out-of-tree: everything goes to $(BUILD) (build/ by default; build/asan for the sanitizer build).

CUDA_HOME ?= /usr/local/cuda
BUILD     ?= build
CC        ?= cc
CXX       ?= c++
SANITIZE  ?= 0

ifeq ($(V),1)
Q :=
else
Q := @
endif

WARN     := -Wall -Wextra -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CXXFLAGS ?= -O2 -g
# Every part folder is on the include path: a header is included by its bare name.
SRC_DIRS := compiler $(patsubst %/,%,$(sort $(wildcard compiler/*/ runtime/*/))) runtime
CPPFLAGS += $(addprefix -I,$(SRC_DIRS)) -Itemplates -I$(BUILD)/gen -MMD -MP
LDLIBS   += -ljansson -lpcre2-8 -lutf8proc -lm -ldl -lpthread
ifeq ($(SANITIZE),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS   := -O1 -g $(SANFLAGS)
CXXFLAGS := -O1 -g $(SANFLAGS)
LDFLAGS  += $(SANFLAGS)
endif
ALL_CFLAGS   = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS)
ALL_CXXFLAGS = -std=c++17 $(WARN) $(CXXFLAGS)

# The CUDA toolkit, found by its own headers under CUDA_HOME (never by the copies a system include
# directory may hold). Without it only what needs no CUDA header is built, and
# runtime/jit/no_toolkit.c stands in for the rest (docs/jit.md, "Without the toolkit"). No CUDA
# library is linked either way: the JIT, the cuda backend and the tests dlopen NVRTC, the driver and
# cuBLAS. `make HAVE_CUDA=0` builds without the toolkit where it is installed.
HAVE_CUDA ?= $(if $(and $(wildcard $(CUDA_HOME)/include/cuda.h),$(wildcard $(CUDA_HOME)/include/nvrtc.h)),1,0)
ifeq ($(HAVE_CUDA),1)
CPPFLAGS += -I$(CUDA_HOME)/include
endif
# Which it is, for the test scripts (tests/toolkit.sh): a suite that needs the toolkit skips without it.
$(shell mkdir -p $(BUILD); t=$(if $(filter 1,$(HAVE_CUDA)),yes,no); \
  [ "$$(cat $(BUILD)/toolkit 2>/dev/null)" = $$t ] || echo $$t >$(BUILD)/toolkit)

# Generated scanner and parser.
GEN_SRCS := $(BUILD)/gen/lexer.c $(BUILD)/gen/parser.c
COMPILER_SRCS := $(wildcard compiler/*/*.c)

# The sources that need the toolkit (a CUDA header, NVRTC, the emulator), and what replaces them.
TOOLKIT_SRCS    := compiler/cli/build.c runtime/jit/jit.c runtime/emu/emu_backend.c runtime/emu/emu_device.c $(wildcard runtime/cuda/*.c)
NO_TOOLKIT_SRCS := runtime/jit/no_toolkit.c

# mixc's own program: its main and `mixc build`'s command line (whose build_binary is the runtime's:
# build.c, or no_toolkit.c's).
MIXC_MAIN_SRCS := compiler/cli/main.c compiler/cli/build_cmd.c

# libmixc.a: the compiler as a library — read, check, plan, report, import/export, generate kernel
# source. Pure C11 + jansson in every build. (cmd_emit's --resources calls jit_print_resources,
# which each program takes from the JIT or from no_toolkit.c.)
LIBMIXC := $(BUILD)/libmixc.a
LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(MIXC_MAIN_SRCS) $(TOOLKIT_SRCS),$(COMPILER_SRCS))) \
            $(GEN_SRCS:.c=.o)
# `mixrun serve` (runtime/http) is mixrun's alone: only mixrun and the binaries of `mixc build` link
# it and libmicrohttpd (mk/mixrun.mk, mk/build.mk); mixc, libmixc.a and the test programs do not.
HTTP_SRCS := $(wildcard runtime/http/*.c)
HTTP_OBJS := $(HTTP_SRCS:%.c=$(BUILD)/%.o)
HTTP_LIBS := -lmicrohttpd
# mixrun's own program (its main and its command line): in mixrun and the runtime archive of `mixc build`.
MIXRUN_MAIN_OBJS := $(BUILD)/runtime/cli/mixrun.o $(BUILD)/runtime/cli/mixrun_options.o
RUNTIME_SRCS := $(filter-out runtime/cli/mixrun.c runtime/cli/mixrun_options.c $(HTTP_SRCS) $(TOOLKIT_SRCS) $(NO_TOOLKIT_SRCS),$(wildcard runtime/*/*.c))
ifeq ($(HAVE_CUDA),1)
RUNTIME_SRCS += $(TOOLKIT_SRCS)
else
RUNTIME_SRCS += $(NO_TOOLKIT_SRCS)
endif
RUNTIME_OBJS := $(RUNTIME_SRCS:%.c=$(BUILD)/%.o)
# What every program links (everything but the mains): the runtime's objects, then the library.
CORE_OBJS := $(RUNTIME_OBJS) $(LIBMIXC)

MIXC := $(BUILD)/mixc
# Named here, before the fragments that use it in prerequisites (mk/gpu.mk, mk/hf.mk), which make
# expands as it reads them; mk/mixrun.mk builds it.
MIXRUN := $(BUILD)/mixrun

.PHONY: all deps demo test test-long bench fuzz clean test-progs
all: $(MIXC) $(LIBMIXC)

deps: $(BUILD)/.deps-ok
$(BUILD)/.deps-ok: scripts/install-deps.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)bash scripts/install-deps.sh
	$(Q)touch $@

$(MIXC): $(MIXC_MAIN_SRCS:%.c=$(BUILD)/%.o) $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(LIBMIXC): $(LIB_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

# Grouped targets (&:): one run writes both files. As two plain targets, a parallel build ran each
# tool twice, rewriting a header after objects that include it were compiled, so the next make
# compiled them all again.
$(BUILD)/gen/lexer.c $(BUILD)/gen/lexer.h &: grammar/lexer.l | $(BUILD)/.deps-ok
	@echo "  FLEX    $<"
	$(Q)mkdir -p $(BUILD)/gen
	$(Q)flex --header-file=$(BUILD)/gen/lexer.h -o $(BUILD)/gen/lexer.c $<

$(BUILD)/gen/parser.c $(BUILD)/gen/parser.h &: grammar/parser.y | $(BUILD)/.deps-ok
	@echo "  BISON   $<"
	$(Q)mkdir -p $(BUILD)/gen
	$(Q)bison -Wall -Werror --defines=$(BUILD)/gen/parser.h -o $(BUILD)/gen/parser.c $<

# The generated scanner and parser need each other's headers.
$(BUILD)/gen/lexer.o: $(BUILD)/gen/parser.h
$(BUILD)/gen/parser.o: $(BUILD)/gen/lexer.h
$(COMPILER_SRCS:%.c=$(BUILD)/%.o): $(BUILD)/gen/parser.h $(BUILD)/gen/lexer.h

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) -std=c11 -D_GNU_SOURCE $(CFLAGS) -Wno-unused-function -c -o $@ $<

$(BUILD)/%.o: %.c | $(BUILD)/.deps-ok
	@echo "  CC      $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.cpp | $(BUILD)/.deps-ok
	@echo "  CXX     $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) $(CPPFLAGS) $(ALL_CXXFLAGS) -c -o $@ $<

# Area fragments (runtime, emulator, tests...) add programs and test prerequisites.
TEST_PROGS :=
BENCH_TARGETS :=
include $(sort $(wildcard mk/*.mk))

demo: $(MIXC)
	./$(MIXC) check examples/character-ai.mix
	./$(MIXC) report examples/character-ai.mix --context 32K,128K --gpu h100

test-progs: $(TEST_PROGS)

# Every test: the normal build, then the sanitizer build, then a bounded fuzz run. The build takes
# every core unless make was given its own -j (the README's command is a plain `make test`).
NPROC := $(shell nproc 2>/dev/null || echo 2)
test-build = $(MAKE) --no-print-directory $(if $(findstring -j,$(MAKEFLAGS)),,-j$(NPROC)) $(MIXC) $(TEST_PROGS)

test:
	$(Q)$(test-build)
	$(Q)BUILD=$(BUILD) bash tests/run-all.sh

test-long:
	$(Q)$(test-build)
	$(Q)BUILD=$(BUILD) MIXC_TEST_LONG=1 bash tests/run-all.sh

# Benchmarks live apart from tests: each fragment adds its phony targets to BENCH_TARGETS.
bench: $(MIXC)
	$(Q)$(MAKE) --no-print-directory $(BENCH_TARGETS)

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
