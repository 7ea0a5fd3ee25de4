"""The Python side of numbaplay's C reference (`c_reference/`): the tensor file format, building the
binary and running it. The C program implements the same algorithm as the Numba kernels
(docs/ALGORITHM.md) with cblas_sgemm, so the two can be compared number by number (SPEC section 8).
"""
from numbaplay.cref.build import build_binary, find_blas, run_binary
from numbaplay.cref.fileformat import read_tensors, write_tensors

__all__ = ["build_binary", "find_blas", "read_tensors", "run_binary", "write_tensors"]
