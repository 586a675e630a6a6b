"""Benchmarks of lockaudit against uv and pip-compile; run ``python benchmarks/run.py``."""
