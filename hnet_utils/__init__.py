"""hnet_utils: the library behind the hnet-cl-course notebooks.

Continual learning with task-conditioned hypernetworks (von Oswald, Henning,
Sacramento, Grewe, ICLR 2020). See docs/architecture.md for a map of modules.
"""

__version__ = "0.1.0"
