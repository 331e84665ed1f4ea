"""Recipe pieces of ``apps/reproduce_taalm.py``: presets (the paper's hyperparameters), the
benchmarks as trainer tasks, probe evaluation, theta and the tokenizer, and the reports. Methods
live in cl-methods, data in cl-data, metrics in cl-eval; these modules only wire them together."""
