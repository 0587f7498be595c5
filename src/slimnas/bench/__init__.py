"""Benchmarks with ground truth: Channel-Bench-Macro."""

from slimnas.bench.cbm import (
    BENCH_SPACES,
    bench_space,
    default_bench_file,
    load_bench,
    query,
    verify,
)

__all__ = ["BENCH_SPACES", "bench_space", "default_bench_file", "load_bench", "query", "verify"]
