"""Benchmarks with ground truth: Channel-Bench-Macro, and your own from `bench build`."""

from slimnas.bench.cbm import (
    BENCH_SPACES,
    BenchFile,
    bench_space,
    default_bench_file,
    load_bench,
    meta_path,
    open_bench,
    query,
    verify,
)

__all__ = ["BENCH_SPACES", "BenchFile", "bench_space", "default_bench_file", "load_bench",
           "meta_path", "open_bench", "query", "verify"]
