"""Two processes through accelerate (gloo on CPU) train exactly what one process trains."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, out: str, port: int, cache: str) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    sys.path.insert(0, str(HERE))
    from conftest import _rows, tiny_model

    from curate.models import load_tokenizer
    from curate.schema import frame
    from curate.train import run_training
    from curate.train.config import TrainConfig

    tok = load_tokenizer("smollm2-135m")
    cfg = TrainConfig(
        max_steps=3,
        batch_size=5,
        max_len=128,
        lr=5e-3,
        threads=1,
        sample_count=0,
        save_steps=None,
        tensorboard=False,
        cache_dir=cache,
    )
    run_training(
        frame(_rows("chitchat")).head(48), None, cfg, Path(out), model=tiny_model(tok), tokenizer=tok
    )


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    cache = str(tmp_path / "tok")
    _worker(0, 1, str(tmp_path / "one"), 0, cache)
    # an earlier run's output: two ranks write aside and publish whole, so nothing of it survives
    (tmp_path / "two" / "adapter").mkdir(parents=True)
    (tmp_path / "two" / "adapter" / "stale.bin").write_bytes(b"old run")
    mp.spawn(_worker, args=(2, str(tmp_path / "two"), _free_port(), cache), nprocs=2)
    assert not (tmp_path / "two" / "adapter" / "stale.bin").exists()
    assert not list(tmp_path.glob(".two.*"))  # no partial or old folder left behind
    summary = (tmp_path / "two" / "summary.json").read_text()
    assert ".partial" not in summary and str(tmp_path / "two" / "adapter") in summary
    a = load_file(str(tmp_path / "one" / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "two" / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and max(float(a[k].abs().max()) for k in a) > 0
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert not (tmp_path / "two" / "metrics.jsonl").read_text().count('"step": 1,') > 1  # one writer


@pytest.mark.parametrize("kind", ["DistributedType.FSDP", "DistributedType.DEEPSPEED"])
def test_sharded_engines_are_refused(kind):
    from curate.errors import TrainError
    from curate.train.dist import check_engine

    with pytest.raises(TrainError, match="DDP"):
        check_engine(kind)
    for ok in ("DistributedType.MULTI_GPU", "DistributedType.MULTI_CPU", "DistributedType.NO"):
        check_engine(ok)
