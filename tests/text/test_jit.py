"""The numba set-up in ``curate.text.jit``: kernels run without importing scipy, numba unchanged.

The fixes are opt-in (``CURATE_FAST_START=1``, which the CLI entry sets), so these scripts run with it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from curate.cli.startup import FAST_START_ENV
from curate.text import jit

FAST = {**os.environ, FAST_START_ENV: "1"}


def _out(args: list[str], env: dict[str, str] = FAST) -> str:
    cmd = [sys.executable, "-c", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout

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
    out = _out([SCRIPT])
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
    _out([LEAN])  # compiles and caches, if needed
    ratio, refreshed, upper = _out([LEAN]).split()
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
    _out([OTHER, str(tmp_path)])  # compiles and caches
    assert _out([OTHER, str(tmp_path)]).split() == ["3", "True"]


SPY = """
import atexit, gc
hooks = []
register = atexit.register
atexit.register = lambda f, *a, **k: (hooks.append(f), register(f, *a, **k))[1]
"""
FREEZES = """
from numba.core.caching import Cache
print(hooks.count(gc.freeze), getattr(Cache.load_overload, "curate_lean", False))
"""
PLAIN = SPY + """
import curate
from curate.text import ngrams
import polars as pl
ngrams.repetition(pl.Series(["so so so so"]), 10, 2)
""" + FREEZES

CLI = SPY + """
import sys
sys.argv = ["curate", "stages"]
from curate.cli import main
main()
import curate.text.jit
""" + FREEZES


def test_import_curate_patches_nothing_and_the_cli_entry_opts_in() -> None:
    env = {k: v for k, v in os.environ.items() if k != FAST_START_ENV}
    assert _out([PLAIN], env).split() == ["0", "False"]  # no exit hook, numba untouched, kernels still run
    assert _out([CLI], env).split()[-2:] == ["1", "True"]  # gc.freeze at exit, lean cache loads


def test_the_cli_and_the_kernels_agree_on_the_variable() -> None:
    assert jit.FAST_START_ENV == FAST_START_ENV
