# The memory planner (KV plan, weights, activation arena) and the report: unit/property tests and
# the report benchmark.
$(BUILD)/tests/plan/test_plan: $(BUILD)/tests/plan/test_plan.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/plan/test_plan
$(BUILD)/tests/plan/test_fusion: $(BUILD)/tests/plan/test_fusion.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
TEST_PROGS += $(BUILD)/tests/plan/test_fusion

# `make bench-report`: the whole `mixc report` process on a generated 1000-layer layout.
.PHONY: bench-report
bench-report: $(MIXC)
	$(Q)BUILD=$(BUILD) MIXC=$(MIXC) bash bench/report/run.sh
BENCH_TARGETS += bench-report
