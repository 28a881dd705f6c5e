"""An OpenAI-compatible chat-completions client for model-backed stages, with a response cache.

What a judge needs from a remote model, and nothing more: POST ``/chat/completions`` many times,
``concurrency`` requests in flight (a thread pool over ``urllib.request``: the standard library is
enough for one JSON POST, and blocking threads are the right shape for an I/O-bound fan-out), each
with a ``timeout_s``, retried with exponential backoff on connection errors, 408/409/429 and 5xx
(``Retry-After`` honoured), failing with an error that names the endpoint and what it answered.

The API key never sits in a recipe: ``api_key_env`` names the environment variable that holds it
(a recipe with ``api_key:`` is refused). ``max_requests`` is a budget: a run that would send more
uncached requests stops before sending any.

Responses are cached under ``<cache_dir>/http/<endpoint>/`` keyed by xxh3-128 of the endpoint URL
and the whole request body (model, messages, sampling options), so a re-run sends nothing. Only
successful answers are stored (an answer that turns out unusable is still an answer: stored).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import xxhash
from pydantic import Field, model_validator

from curate.errors import CurateError
from curate.pipeline.stage import StageConfig

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class EndpointError(CurateError):
    """The endpoint is down, refuses the request, or the budget would be exceeded."""


class Endpoint(StageConfig):
    """Where an OpenAI-compatible chat model answers, and how hard to push it."""

    base_url: str = Field(description="e.g. http://127.0.0.1:8000/v1 (curate serve) or https://api.openai.com/v1")
    model: str = Field(description="the model id the endpoint serves")
    api_key_env: str | None = Field(
        None, description="environment variable holding the API key (never the key itself)"
    )
    concurrency: int = Field(4, ge=1, le=256, description="requests in flight at once")
    timeout_s: float = Field(60.0, gt=0, description="seconds to wait for one response")
    retries: int = Field(4, ge=0, le=20, description="retries per request (connection errors, 429, 5xx)")
    backoff_s: float = Field(0.5, ge=0, description="first retry delay; doubles each retry (max 30 s)")
    max_requests: int | None = Field(
        None, ge=0, description="budget: refuse to send more uncached requests than this"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("api_key" in data or "key" in data):
            raise ValueError(
                "never put an API key in a recipe: export it as an environment variable and name "
                "that variable in api_key_env (e.g. api_key_env: OPENAI_API_KEY)"
            )
        return data

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


@dataclass
class Usage:
    """What the endpoint cost this call: requests sent, retries, tokens (into the manifest)."""

    requests: int = 0
    cached: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, Any]:
        items = ((k, v) for k, v in self.__dict__.items() if k != "lock")
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in items}


def request_key(ep: Endpoint, body: dict[str, Any]) -> bytes:
    """16-byte key of one request: endpoint URL + the canonical JSON of its body."""
    h = xxhash.xxh3_128()
    h.update(ep.base_url.rstrip("/").encode())
    h.update(json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode())
    return h.digest()


class ResponseCache:
    """Response JSON per request key, as append-only parquet shards (like ``ScoreCache``)."""

    def __init__(self, root: Path | None, ep: Endpoint):
        tag = xxhash.xxh3_64_hexdigest(f"{ep.base_url.rstrip('/')}|{ep.model}".encode())
        self.dir = Path(root) / "http" / tag if root else None
        self.mem: dict[bytes, str] = {}
        if self.dir is not None and self.dir.exists():
            for f in sorted(self.dir.glob("*.parquet")):
                t = pl.read_parquet(f)
                self.mem.update(zip(t["key"].to_list(), t["response"].to_list(), strict=True))

    def put(self, items: dict[bytes, str]) -> None:
        self.mem.update(items)
        if self.dir is None or not items:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{os.getpid()}-{time.time_ns()}.tmp"
        pl.DataFrame({"key": list(items), "response": list(items.values())},
                     schema={"key": pl.Binary, "response": pl.String}).write_parquet(tmp)  # fmt: skip
        tmp.rename(tmp.with_name(tmp.name[1:].replace(".tmp", ".parquet")))


class ChatClient:
    """Sends chat-completions bodies to one endpoint; ``complete_many`` is cached and concurrent."""

    def __init__(self, ep: Endpoint, *, cache_dir: Path | None = None):
        self.ep = ep
        self.cache = ResponseCache(cache_dir, ep)
        self.usage = Usage()
        self.headers = {"Content-Type": "application/json"}
        if ep.api_key_env:
            key = os.environ.get(ep.api_key_env)
            if not key:
                raise EndpointError(
                    f"the API key variable {ep.api_key_env} is not set (needed by {ep.base_url})",
                    hint=f"export {ep.api_key_env}=... before the run",
                )
            self.headers["Authorization"] = f"Bearer {key}"

    def complete_many(self, bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The response object for every body (``model`` is filled in), in order."""
        t0 = time.perf_counter()
        bodies = [{"model": self.ep.model, **b} for b in bodies]
        keys = [request_key(self.ep, b) for b in bodies]
        todo = {k: b for k, b in zip(keys, bodies, strict=True) if k not in self.cache.mem}
        self.usage.cached += len(bodies) - sum(1 for k in keys if k in todo)
        if self.ep.max_requests is not None and len(todo) > self.ep.max_requests:
            raise EndpointError(
                f"{len(todo)} requests to {self.ep.base_url} needed, over the budget max_requests="
                f"{self.ep.max_requests} ({len(bodies) - len(todo)} more were cached)",
                hint="raise max_requests, or cut the rows first with cheaper stages",
            )
        done: dict[bytes, str] = {}
        try:
            if todo:
                with ThreadPoolExecutor(max_workers=min(self.ep.concurrency, len(todo))) as pool:
                    futs = {pool.submit(self._post, b): k for k, b in todo.items()}
                    try:
                        for f in as_completed(futs):
                            done[futs[f]] = f.result()
                    except BaseException:
                        pool.shutdown(wait=True, cancel_futures=True)
                        raise
        finally:
            self.cache.put(done)  # what came back is kept even when a later request failed
            self.usage.seconds += time.perf_counter() - t0
        return [json.loads(self.cache.mem[k]) for k in keys]

    def _post(self, body: dict[str, Any]) -> str:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        last = ""
        for attempt in range(self.ep.retries + 1):
            if attempt:
                with self.usage.lock:
                    self.usage.retries += 1
            req = urllib.request.Request(self.ep.url, data=data, headers=self.headers, method="POST")
            wait = min(30.0, self.ep.backoff_s * 2**attempt)
            try:
                with urllib.request.urlopen(req, timeout=self.ep.timeout_s) as r:
                    text = r.read().decode("utf-8")
                obj = json.loads(text)
                u = obj.get("usage") or {}
                with self.usage.lock:
                    self.usage.requests += 1
                    self.usage.prompt_tokens += int(u.get("prompt_tokens") or 0)
                    self.usage.completion_tokens += int(u.get("completion_tokens") or 0)
                return text
            except urllib.error.HTTPError as e:
                msg = _error_message(e)
                if e.code not in RETRY_STATUS:
                    raise EndpointError(
                        f"{self.ep.url} refused the request: HTTP {e.code}: {msg}", hint=_hint(e.code, msg)
                    ) from None
                last = f"HTTP {e.code}: {msg}"
                after = e.headers.get("Retry-After") if e.headers else None
                if after and after.replace(".", "", 1).isdigit():
                    wait = min(60.0, float(after))
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
                reason = getattr(e, "reason", e)
                last = f"{type(reason).__name__}: {reason}"
            except json.JSONDecodeError as e:
                last = f"the answer is not JSON ({e})"
            if attempt < self.ep.retries:
                time.sleep(wait)
        raise EndpointError(
            f"judge endpoint {self.ep.url} failed after {self.ep.retries + 1} tries: {last}",
            hint="is the server up? (a local one: curate serve smollm2-135m --port 8000); check base_url",
        )


def _error_message(e: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(e.read().decode("utf-8", "replace"))
        return str((body.get("error") or {}).get("message") or body)[:300]
    except Exception:
        return str(e.reason)[:300]


def _hint(code: int, msg: str) -> str | None:
    if code in (401, 403):
        return "check the API key in the variable api_key_env names"
    if "continue_final_message" in msg or "Unrecognized request argument" in msg:
        return "this endpoint does not continue an assistant prefix: set prefill: false"
    if code == 404:
        return "check base_url (it usually ends in /v1) and model (GET <base_url>/models lists them)"
    return None
