# Import/export of HF configs and LCKV strings (compiler/interop/import.c, export.c, mixwriter.c): the writer's
# round-trip property test; tests/import/run.sh drives the mixc commands.
$(BUILD)/tests/import/test_mixwriter: $(BUILD)/tests/import/test_mixwriter.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/import/test_mixwriter
