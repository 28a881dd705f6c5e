"""CURATE_CACHE: every cache kind lives in one named folder that `curate cache` shows and clears."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from curate import cache
from curate.cli import cli
from curate.text import utf8


def test_kernel_table_lands_in_its_kind_and_clear_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path))
    utf8.char_classes.cache_clear()
    try:
        utf8.char_classes()  # the real table, built from polars' regex classes
    finally:
        utf8.char_classes.cache_clear()
    use = {u.kind: u for u in cache.usage()}
    assert set(use) == {"models", "tokenized", "scores", "charclass"}
    assert use["charclass"].files == 1 and use["charclass"].bytes > 100_000
    assert use["charclass"].path == tmp_path / "charclass"

    info = CliRunner().invoke(cli, ["cache", "info"])
    assert info.exit_code == 0, info.output
    assert str(tmp_path) in info.output and "charclass" in info.output

    out = CliRunner().invoke(cli, ["cache", "clear", "charclass"])
    assert out.exit_code == 0 and "freed" in out.output
    assert not (tmp_path / "charclass").exists()


def test_unknown_kind_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="valid: models, tokenized, scores, charclass"):
        cache.cache_dir("embeddings")
    assert CliRunner().invoke(cli, ["cache", "clear", "embeddings"]).exit_code != 0
