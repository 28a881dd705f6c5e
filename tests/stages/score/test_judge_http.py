"""``score.judge`` through an OpenAI-compatible endpoint: real servers, real sockets, no mocks.

Fast tests run ``curate.serve`` (the stdlib server ``curate serve`` runs) in a thread over the tiny
random model, or a plain stdlib server that answers 503 first; the slow test starts ``curate serve
smollm2-135m`` as a subprocess and checks the HTTP judge's scores equal the in-process local judge's.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from curate.errors import StageError
from curate.lm.http import ChatClient, Endpoint
from curate.models import ModelHub
from curate.pipeline.stage import StageContext
from curate.serve import ChatModel, serve
from curate.stages.score.judge import Judge, read_rating
from tests.stages.mix.mixing_samples import law_frame

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def law() -> pl.DataFrame:
    law = law_frame().with_columns(
        n=pl.col("messages").list.eval(pl.element().struct.field("content").str.len_chars()).list.sum()
    )
    return law.sort("n").unique("task", keep="first", maintain_order=True).head(4).drop("n")


@pytest.fixture
def tiny_server(tiny_lm):
    model, tok = tiny_lm
    httpd = serve(ChatModel("tiny", model, tok), port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _judge(base_url: str, cache: Path, **ep) -> Judge:
    cfg = {"endpoint": {"base_url": base_url, "model": ep.pop("model", "tiny"), **ep}}
    return Judge(cfg, ctx=StageContext(models=ModelHub(), cache_dir=cache))


def test_http_judge_is_cached_and_counts_usage(law, tiny_server, tmp_path):
    first = _judge(tiny_server, tmp_path, concurrency=3).apply(law)
    assert first.kept.height + first.n_removed == law.height
    usage = first.stats["usage"]
    assert usage["requests"] == law.height and usage["cached"] == 0
    assert usage["prompt_tokens"] > 100 * law.height and usage["completion_tokens"] == law.height
    # a random model puts no digit in its top 20: every row removed as unparsable, with its mass
    assert set(first.removed["reason"]) == {"judge_unparsable"}
    again = _judge(tiny_server, tmp_path).apply(law)
    assert again.stats["usage"]["requests"] == 0 and again.stats["usage"]["cached"] == law.height
    # another rubric is another request
    other = Judge({"rubric": "complexity", "endpoint": {"base_url": tiny_server, "model": "tiny"}},
                  ctx=StageContext(models=ModelHub(), cache_dir=tmp_path)).apply(law.head(1))  # fmt: skip
    assert other.stats["usage"]["requests"] == 1


def test_endpoint_down_names_it(law, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(StageError, match=rf"127\.0\.0\.1:{port}/v1/chat/completions failed after 2 tries"):
        _judge(url, tmp_path, retries=1, backoff_s=0.01).apply(law.head(1))


def test_wrong_model_and_budget_and_key(law, tiny_server, tmp_path, monkeypatch):
    with pytest.raises(StageError, match="HTTP 404: model 'nope' is not served here"):
        _judge(tiny_server, tmp_path, model="nope").apply(law.head(1))
    with pytest.raises(StageError, match=r"4 requests .* over the budget max_requests=2"):
        _judge(tiny_server, tmp_path, max_requests=2).apply(law)
    monkeypatch.delenv("CURATE_TEST_KEY", raising=False)
    with pytest.raises(StageError, match="CURATE_TEST_KEY is not set"):
        _judge(tiny_server, tmp_path, api_key_env="CURATE_TEST_KEY").apply(law.head(1))
    with pytest.raises(ValidationError, match="never put an API key in a recipe"):
        Judge.Config(endpoint={"base_url": tiny_server, "model": "tiny", "api_key": "sk-123"})


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 (Retry-After: 0) to every other request, then a rating "4" without logprobs."""

    calls = 0

    def log_message(self, *a):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls += 1
        if type(self).calls % 2:
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "Rating: 4/5"}}],
                           "usage": {"prompt_tokens": 10, "completion_tokens": 3}}).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_retries_then_reads_rating_from_text(tmp_path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        ep = Endpoint(base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1", model="m",
                      concurrency=1, backoff_s=0.01)  # fmt: skip
        client = ChatClient(ep, cache_dir=tmp_path)
        out = client.complete_many([{"messages": [{"role": "user", "content": str(i)}]} for i in range(3)])
        assert client.usage.requests == 3 and client.usage.retries == 3
        assert [read_rating(a) for a in out] == [[0, 0, 0, 1.0, 0]] * 3
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert read_rating({"choices": [{"message": {"content": "I cannot rate this."}}]}) == [0.0] * 5


@pytest.mark.slow
def test_curate_serve_judge_equals_local_judge(law, tmp_path):
    """`curate serve smollm2-135m` in a subprocess; the HTTP judge's scores equal the local judge's."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "curate.cli", "serve", "smollm2-135m", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()  # printed once the model is loaded and the port bound
        m = re.search(r"at (http://\S+/v1)", line)
        assert m, f"curate serve printed {line!r} (exit {proc.poll()})"
        t0 = time.time()
        got = _judge(m.group(1), tmp_path / "http", model="smollm2-135m").apply(law)
        assert time.time() - t0 < 600
        hub = ModelHub()
        local = Judge({}, ctx=StageContext(models=hub, cache_dir=tmp_path / "local")).apply(law)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert got.kept["id"].to_list() == local.kept["id"].to_list() and local.kept.height == law.height
    for g, w in zip(got.kept.iter_rows(named=True), local.kept.iter_rows(named=True), strict=True):
        assert g["score_judge"] == pytest.approx(w["score_judge"], abs=1e-4)
        assert g["score_judge_mass"] == pytest.approx(w["score_judge_mass"], abs=1e-4)
    assert got.stats["usage"]["requests"] == law.height
