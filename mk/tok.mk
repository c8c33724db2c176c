# The tokenizers of runtime/tok (docs/tokenizer.md): tests/tokenizer/test_tokenizer compares them with
# the committed fixtures of the tokenizers package (tests/tokenizer/run.sh).
$(BUILD)/tests/tokenizer/test_tokenizer: $(BUILD)/tests/tokenizer/test_tokenizer.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/tokenizer/test_tokenizer
