"""Triton implementations (CUDA; CPU only under ``TRITON_INTERPRET=1``, which must be set before
these modules are imported). Importing this package does not import triton: each op module here
imports it and is itself imported only when the dispatcher first picks it."""
