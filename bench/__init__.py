"""Benchmarks: `python -m bench.run` prints a table; never part of the test suite."""
