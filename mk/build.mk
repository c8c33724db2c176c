# `mixc build` (compiler/cli/build.c): the runtime as one archive, libmixcrt.a, next to mixc. A built
# binary is embed.o + libmixcrt.a (+ the libraries below, recorded in mixc when it is compiled).
# With the toolkit only: `mixc build` needs the toolkit: no runtime archive without it.
ifeq ($(HAVE_CUDA),1)
RT_LIB := $(BUILD)/libmixcrt.a

$(RT_LIB): $(RUNTIME_OBJS) $(LIB_OBJS) $(MIXRUN_MAIN_OBJS) $(HTTP_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

# mixc build links against the archive at run time: build it with mixc.
all: $(RT_LIB)
TEST_PROGS += $(RT_LIB)

# The flags a specialized binary is linked with, absolute where they name this build.
BUILD_LINK_FLAGS = $(LDFLAGS) $(BUILD_EXTRA_LIBS) $(HTTP_LIBS) $(LDLIBS)
$(BUILD)/compiler/cli/build.o: CPPFLAGS += -DMIXC_LINK_FLAGS='"$(BUILD_LINK_FLAGS)"'
endif
