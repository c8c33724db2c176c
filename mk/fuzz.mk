# `make fuzz`: the parse + check fuzz target for a longer run by hand (FUZZ_SECONDS, default 600).
# The bounded run of `make test` goes through tests/fuzz/run.sh as well (MIXC_FUZZ_SECONDS=30).
FUZZ_SECONDS ?= 600
fuzz:
	$(Q)BUILD=$(BUILD) MIXC_FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh
