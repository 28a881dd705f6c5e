"""The numba set-up in ``curate.filters.jit``: kernels run without importing scipy, numba unchanged."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import numpy as np
import polars as pl
from curate.filters import ngrams
import numba.np.arraymath as arraymath
ngrams.repetition(pl.Series(["so so so so so so so so so so so so"]), 10, 2)
print("scipy.linalg" in sys.modules, arraymath._HAVE_BLAS)
import numba
dot = numba.njit(lambda a, b: np.dot(a, b))
print(dot(np.ones(3), np.arange(3.0)), "scipy.linalg" in sys.modules)
"""


def test_kernels_run_without_scipy_and_numba_blas_still_works() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    first, second = out.split("\n")[:2]
    assert first == "False True"  # no scipy import for our kernels; numba still reports BLAS present
    assert second == "3.0 True"  # a kernel that needs BLAS compiles and imports scipy as it always did
