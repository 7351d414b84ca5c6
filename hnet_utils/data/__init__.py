"""Data: the raw image datasets (datasets.py) and the continual-learning task sequences built from them (benchmarks.py)."""
