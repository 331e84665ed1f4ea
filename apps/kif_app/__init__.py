"""Helpers of apps/reproduce_kif.py: the paper's settings, the data and the run."""
