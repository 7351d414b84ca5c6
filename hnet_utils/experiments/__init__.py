"""Experiments: configurations and presets (configs.py), results and checkpoints (results.py), families of runs (studies.py), the paper's published numbers (published.py)."""
