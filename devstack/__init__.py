"""The whole system on one machine as real processes, shared by scripts/demo, bench/ and the tests."""
