"""A read imports only what it uses (issue 13, "the product path is as fast as its kernels").

``pyarrow.compute`` (~0.1 s CPU per process) was imported by the read's messages column
(``pl.from_arrow``) and by the ids' turn columns (``ListArray.flatten``), and ``pyarrow.parquet``
(which pulls ``pyarrow.fs`` and ``ssl``, ~0.2 s) by merely importing the shard module. Checked in a
fresh interpreter on a chat file large enough for the columnar id path (>= 2,000 rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from curate.formats import load_with_rejects
import curate.pipeline.shards, curate.pipeline.order
res = load_with_rejects(sys.argv[1])
mods = sys.modules
print(res.table.height, res.rejects.height, "pyarrow.compute" in mods, "pyarrow.parquet" in mods)
"""


def test_reading_a_chat_file_imports_neither_pyarrow_compute_nor_parquet(tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i in range(2500):
            turns = [{"from": "human", "value": f"第{i}个问题：合同违约怎么办？ question {i}"},
                     {"from": "gpt", "value": f"根据《民法典》第{i % 500}条，可以要求赔偿。 answer {i}"}]
            f.write(json.dumps({"conversations": turns}, ensure_ascii=False) + "\n")
        f.write("{broken\n")  # a reject too: the rejects frame is built on this path as well
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True,
                         check=True, env=env, cwd=tmp_path).stdout.split()
    assert out == ["2500", "1", "False", "False"]
