"""Experiments: configurations and presets (configs.py), results and checkpoints (results.py), families of runs (studies.py)."""
