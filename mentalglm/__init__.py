"""MentalGLM: fine-tune, sweep, evaluate and serve explainable mental-health LMs for Chinese posts.

Importing the package has no side effects; the stages live in subpackages (`data`, `model`, `config`).
"""

__version__ = "0.1.0"
