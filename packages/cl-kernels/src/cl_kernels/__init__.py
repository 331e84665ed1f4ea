"""cl-kernels: fused ops for continual learning (Triton on CUDA, C++ on CPU, PyTorch reference)."""

__version__ = "0.1.0"
