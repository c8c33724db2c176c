# Unit tests of the compiler core.
$(BUILD)/tests/unit/test_core: $(BUILD)/tests/unit/test_core.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/unit/test_core
