"""The numba set-up in ``curate.text.jit``: kernels run without importing scipy, numba unchanged."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import numpy as np
import polars as pl
from curate.text import ngrams
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


LEAN = """
import sys
import polars as pl
from curate.text import ngrams
print(ngrams.repetition(pl.Series(["so so so so so so so so so so so so"]), 10, 2)["word_rep_ratio"][0])
print("numba.np.npyimpl" in sys.modules)
import numba
upper = numba.njit(lambda s: len(s.upper()) + s.count("b"))  # needs the string rules: a full compile
print(upper("abcb"))
"""


def test_cache_loads_skip_the_compiler_refresh_and_compiles_still_get_it() -> None:
    run = [sys.executable, "-c", LEAN]
    subprocess.run(run, capture_output=True, text=True, check=True)  # compiles and caches, if needed
    ratio, refreshed, upper = subprocess.run(run, capture_output=True, text=True, check=True).stdout.split()
    assert float(ratio) == 1.0  # the kernel loaded from the cache gives the right answer
    assert refreshed == "False"  # loading it did not import numba's typing and lowering rules
    assert upper == "6"  # and a new kernel still compiles with all of them


OTHER = """
import sys
sys.path.insert(0, sys.argv[1])
import curate.text.jit
import theirs
print(theirs.total(3), "numba.np.npyimpl" in sys.modules)
"""


def test_other_libraries_cached_functions_load_as_numba_loads_them(tmp_path) -> None:
    (tmp_path / "theirs.py").write_text(
        "import numba\n\n@numba.njit(cache=True)\ndef total(n):\n    return sum(range(n))\n"
    )
    run = [sys.executable, "-c", OTHER, str(tmp_path)]
    subprocess.run(run, capture_output=True, text=True, check=True)  # compiles and caches
    assert subprocess.run(run, capture_output=True, text=True, check=True).stdout.split() == ["3", "True"]
