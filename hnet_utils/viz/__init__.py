"""Visualisation: embedding-space evaluation (embedding_space.py), figures (figures.py) and thin widgets (widgets.py)."""
