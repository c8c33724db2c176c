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
CPPFLAGS += $(addprefix -I,$(SRC_DIRS)) -Itemplates -I$(BUILD)/gen -I$(CUDA_HOME)/include -MMD -MP
LDLIBS   += -ljansson -lm -ldl -lpthread
ifeq ($(SANITIZE),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS   := -O1 -g $(SANFLAGS)
CXXFLAGS := -O1 -g $(SANFLAGS)
LDFLAGS  += $(SANFLAGS)
endif
ALL_CFLAGS   = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS)
ALL_CXXFLAGS = -std=c++17 $(WARN) $(CXXFLAGS)

# Generated scanner and parser.
GEN_SRCS := $(BUILD)/gen/lexer.c $(BUILD)/gen/parser.c
COMPILER_SRCS := $(wildcard compiler/*/*.c)
RUNTIME_LIB_SRCS := $(filter-out runtime/cli/mixrun.c,$(wildcard runtime/*/*.c))

COMPILER_OBJS := $(COMPILER_SRCS:%.c=$(BUILD)/%.o) $(GEN_SRCS:.c=.o)
RUNTIME_LIB_OBJS := $(RUNTIME_LIB_SRCS:%.c=$(BUILD)/%.o)
# Objects shared by every program (everything but the compiler's main).
CORE_OBJS := $(filter-out $(BUILD)/compiler/cli/main.o,$(COMPILER_OBJS)) $(RUNTIME_LIB_OBJS)

CUDA_LDFLAGS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64
CUDA_LDLIBS  := -lnvrtc

MIXC := $(BUILD)/mixc

.PHONY: all deps demo test test-long bench fuzz clean test-progs
all: $(MIXC)

deps: $(BUILD)/.deps-ok
$(BUILD)/.deps-ok: scripts/install-deps.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)bash scripts/install-deps.sh
	$(Q)touch $@

$(MIXC): $(COMPILER_OBJS) $(RUNTIME_LIB_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CUDA_LDFLAGS) $(CUDA_LDLIBS) $(LDLIBS)

$(BUILD)/gen/lexer.c $(BUILD)/gen/lexer.h: grammar/lexer.l | $(BUILD)/.deps-ok
	@echo "  FLEX    $<"
	$(Q)mkdir -p $(BUILD)/gen
	$(Q)flex --header-file=$(BUILD)/gen/lexer.h -o $(BUILD)/gen/lexer.c $<

$(BUILD)/gen/parser.c $(BUILD)/gen/parser.h: grammar/parser.y | $(BUILD)/.deps-ok
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

# Every test: the normal build, then the sanitizer build, then a bounded fuzz run.
test: $(MIXC) $(TEST_PROGS)
	$(Q)BUILD=$(BUILD) bash tests/run-all.sh

test-long: $(MIXC) $(TEST_PROGS)
	$(Q)BUILD=$(BUILD) MIXC_TEST_LONG=1 bash tests/run-all.sh

# Benchmarks live apart from tests: each fragment adds its phony targets to BENCH_TARGETS.
bench: $(MIXC)
	$(Q)$(MAKE) --no-print-directory $(BENCH_TARGETS)

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
