"""Benchmarks of the session-features pipeline against baselines: `python -m bench --help`."""
