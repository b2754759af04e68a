"""Benchmarks (run by hand, as root): ``python -m bench.lab_bench``."""
