"""Stages take threads and models from the run (StageContext), never from globals (issue 12).

``ctx.threads`` is the one thread count a stage may use, and a tokenizer comes only from the
injected hub (``ctx.models``): a stage that loads one itself would ignore the recipe's model and
the run's cache, and one reading ``os.cpu_count`` would oversubscribe a process-pool executor.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from curate.errors import ModelError
from curate.pipeline.stage import StageContext
from curate.schema import chat_row, frame
from curate.stages.filter.length import LengthFilter

ROOT = Path(__file__).parents[2] / "curate" / "stages"
FOLDERS = ("filter", "clean", "dedup")
BANNED_ATTRS = {"workers": "ctx.threads", "cpu_count": "ctx.threads", "sched_getaffinity": "ctx.threads"}
BANNED_NAMES = {"available_cpus", "load_tokenizer", "load_causal_lm", "load_embedder"}


def _modules() -> list[Path]:
    return sorted(p for f in FOLDERS for p in (ROOT / f).glob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_global_threads_or_models(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in BANNED_ATTRS:
            owner = ast.unparse(node.value)
            if owner.endswith("ctx") or owner in {"os"}:
                pytest.fail(f"{path}:{node.lineno}: {owner}.{node.attr}; use {BANNED_ATTRS[node.attr]}")
        name = node.id if isinstance(node, ast.Name) else node.name if isinstance(node, ast.alias) else ""
        if name in BANNED_NAMES:
            pytest.fail(f"{path}:{node.lineno}: a global model/thread helper; use StageContext")


def test_token_limits_need_the_injected_hub() -> None:
    """No hub, no tokens: the stage says so instead of loading a tokenizer behind the run's back."""
    df = frame([chat_row([("user", "你好"), ("assistant", "你好！有什么可以帮你？")])])
    stage = LengthFilter({"max_tokens": 512}, ctx=StageContext(models=None))
    with pytest.raises(ModelError, match="no model hub"):
        stage.apply(df)
    assert LengthFilter({"max_chars": 512}, ctx=StageContext(models=None)).apply(df).kept.height == 1
