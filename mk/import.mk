# Import/export of HF configs and LCKV strings (compiler/interop/import.c, export.c, mixwriter.c, mixwriter_header.c): the writer's
# round-trip property test; tests/import/run.sh drives the mixc commands.
$(BUILD)/tests/import/test_mixwriter: $(BUILD)/tests/import/test_mixwriter.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/import/test_mixwriter

# `make test-python` also imports configs that omit fields, for every family mixc computes, and
# compares each header and layer with the venv's transformers config class (docs/interop.md: an
# omitted field takes its class's default).
test-python: test-python-import
.PHONY: test-python-import
test-python-import: $(MIXC)
	$(Q)venv=$$(bash scripts/python-venv.sh) && "$$venv/bin/python" tests/import/class_defaults.py --mixc $(MIXC)
