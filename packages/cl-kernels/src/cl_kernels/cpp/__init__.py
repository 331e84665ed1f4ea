"""C++ CPU implementations: ``<stem>.cpp`` (pybind11 + OpenMP over raw float32 buffers, built by
setup.py into ``cl_kernels._cpp_<stem>``) and ``<stem>.py`` (the autograd wrapper around it).
Importing this package does not import the extensions."""
