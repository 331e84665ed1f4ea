"""Pieces of ``apps/run_cl.py``: config merging, data, backbones, collators, evaluators."""
