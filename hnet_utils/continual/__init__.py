"""Continual learning: the regulariser, the learners of every method, task inference, metrics and the training loop."""
