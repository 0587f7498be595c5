"""Benchmarks with ground truth: Channel-Bench-Macro, and your own from `bench build`."""

from slimnas.bench.cbm import (
    BENCH_SPACES,
    BenchFile,
    BenchSpace,
    bench_space,
    default_bench_file,
    load_bench,
    meta_path,
    open_bench,
    query,
    verify,
)
from slimnas.bench.evaluator import BenchmarkEvaluator
from slimnas.bench.rank import true_rank

__all__ = ["BENCH_SPACES", "BenchFile", "BenchSpace", "BenchmarkEvaluator", "bench_space",
           "default_bench_file", "load_bench", "meta_path", "open_bench", "query", "true_rank",
           "verify"]
