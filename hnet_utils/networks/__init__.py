"""Networks: target networks run with outside weights (targets.py) and the hypernetworks that generate them (hypernet.py)."""
