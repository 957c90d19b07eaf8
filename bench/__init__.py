"""Benchmarks: each is a module of this package with a ``main(argv)`` function, run from the
project root as ``python -m bench NAME [--scale S]``. The last line a benchmark prints is one JSON
object: {"benchmark": NAME, "figures": {...}, "ratios": {...}, "targets": {...}}."""
