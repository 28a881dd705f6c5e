"""Where numbers go: ``metrics.jsonl`` always, TensorBoard when it imports, a bar on a terminal.

TensorBoard is optional: ``torch.utils.tensorboard`` needs the ``tensorboard`` package, and when it
is missing the writer is a null object (one log note), like nanochat's DummyWandb.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class _NullWriter:
    def add_scalar(self, *_: Any, **__: Any) -> None:
        pass

    def close(self) -> None:
        pass


class _NullBar:
    def advance(self, **_: Any) -> None:
        pass

    def close(self) -> None:
        pass


class _RichBar:
    """A rich progress bar with loss, lr and tokens/s; drawn on stderr."""

    def __init__(self, total: int, start: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self.task = self.progress.add_task("train", total=total, completed=start, info="")
        self.progress.start()

    def advance(self, *, loss: float, lr: float, tokens_per_s: float) -> None:
        info = f"loss {loss:.4f}  lr {lr:.2e}  {tokens_per_s:,.0f} tok/s"
        self.progress.update(self.task, advance=1, info=info)

    def close(self) -> None:
        self.progress.stop()


class Metrics:
    """Append-only metrics for one run directory."""

    def __init__(
        self,
        out_dir: Path,
        *,
        tensorboard: bool,
        total_steps: int,
        start_step: int,
        progress: bool | None = None,
        enabled: bool = True,
    ):
        self.path = out_dir / "metrics.jsonl"
        self.tb: Any = _NullWriter()
        self.bar: Any = _NullBar()
        self._file: Any = None
        if not enabled:  # another rank writes them
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a" if start_step else "w", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out_dir / "tensorboard"))
            except ImportError:
                log.info("tensorboard is not installed; metrics go to %s only", self.path)
        show = sys.stderr.isatty() if progress is None else progress
        self.bar = _RichBar(total_steps, start_step) if show else _NullBar()

    def log(self, record: dict[str, Any]) -> None:
        """Write one JSON line and its numbers to TensorBoard (``step`` is the x axis)."""
        if self._file is None:
            return
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        for k, v in record.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                self.tb.add_scalar(k, v, record.get("step", 0))

    def close(self) -> None:
        self.bar.close()
        self.tb.close()
        if self._file is not None:
            self._file.close()
