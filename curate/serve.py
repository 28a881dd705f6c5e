"""``curate serve``: an OpenAI-compatible chat server over a local model (+ a run's LoRA adapter).

Why it exists: other tools (and curate's own HTTP judge, ``score.judge: {endpoint: ...}``) speak the
OpenAI chat-completions protocol; this lets them talk to the packaged SmolLM2 or to the adapter a run
just trained, with prompts rendered by ``curate.chat.ChatRenderer``, the renderer training uses, so a
served adapter sees exactly the format it was trained on.

Routes: ``GET /v1/models``; ``POST /v1/chat/completions`` with ``messages``, ``max_tokens`` (or
``max_completion_tokens``), ``temperature`` (0 by default: greedy), ``top_p``, ``seed``, ``stop``,
``logprobs`` + ``top_logprobs`` (at most 20, as OpenAI), and vLLM's ``add_generation_prompt`` /
``continue_final_message`` (the last assistant message is a prefix the answer continues, e.g. a
judge's "Rating: "). ``n`` > 1 and ``stream`` are refused with a 400. Errors come back in OpenAI's
``{"error": {"message", "type", "code"}}`` shape.

Built on the standard library's ``http.server.ThreadingHTTPServer``: a 135 M model on a CPU serves
one request at a time anyway (a lock serialises generation; torch already uses every core for one),
so an ASGI stack (fastapi + uvicorn, not installed) would add dependencies and no throughput.
Decoding is a plain loop over the model with its KV cache: one forward pass per new token, logits at
the last position only, ``torch.inference_mode``. Cost: the prompt's forward pass (~3 ms a token on
2 cores for SmolLM2-135M fp32) plus ~30 ms per generated token.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_TOP_LOGPROBS = 20


class RequestError(Exception):
    """A bad request: rendered as a 4xx OpenAI error body."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.code = status, code


@dataclass
class ChatModel:
    """A loaded causal LM + tokenizer behind one served model id, generating one request at a time."""

    model_id: str
    model: Any
    tokenizer: Any
    info: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def prompt_ids(
        self, messages: Sequence[dict[str, Any]], *, continue_final: bool, gen_prompt: bool
    ) -> list[int]:
        """Token ids of ``messages`` rendered by the chat renderer (the text training tokenizes)."""
        from curate.chat import ChatRenderer

        r = ChatRenderer(self.tokenizer)
        msgs = [{"role": m["role"], "content": _content(m.get("content"))} for m in messages]
        if continue_final:
            if not msgs or msgs[-1]["role"] != "assistant":
                raise RequestError("continue_final_message needs a final assistant message")
            text = r.render(msgs[:-1], prompt=True) + msgs[-1]["content"]
        else:
            text = r.render(msgs, prompt=gen_prompt)
        return r.ids([text])[0]

    def generate(
        self,
        ids: list[int],
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        seed: int | None,
        stop: Sequence[str],
        top_logprobs: int | None,
    ) -> tuple[list[int], str, list[dict[str, Any]]]:
        """(new token ids, finish reason, per-token logprob records when asked)."""
        import torch

        from curate.lm.likelihood import _cache_kwarg, cpu_threads, torch_threads

        stops = {t for t in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id) if t is not None}
        end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(end, int) and end != self.tokenizer.unk_token_id:
            stops.add(end)
        gen = torch.Generator().manual_seed(seed if seed is not None else 0)
        device = next(self.model.parameters()).device
        threads = None if device.type == "cuda" else cpu_threads()
        out: list[int] = []
        records: list[dict[str, Any]] = []
        reason = "length"
        with self.lock, torch.inference_mode(), torch_threads(threads):
            x = torch.tensor([ids], device=device)
            kw = _cache_kwarg(self.model)  # `cache` in transformers >= 5.2x, `past_key_values` before
            past = None
            for _ in range(max_tokens):
                res = self.model(input_ids=x, **{kw: past}, use_cache=True, logits_to_keep=1)
                past = res.cache if hasattr(res, "cache") else res.past_key_values
                logp = torch.log_softmax(res.logits[0, -1].float(), dim=-1)
                if temperature <= 0:
                    nxt = int(torch.argmax(logp))
                else:
                    nxt = _sample(logp / temperature, top_p, gen)
                if top_logprobs is not None:
                    records.append(self._record(nxt, logp, top_logprobs))
                if nxt in stops:
                    reason = "stop"
                    break
                out.append(nxt)
                if stop and any(s in self.tokenizer.decode(out) for s in stop):
                    reason = "stop"
                    break
                x = torch.tensor([[nxt]], device=device)
        return out, reason, records

    def _record(self, tok_id: int, logp: Any, k: int) -> dict[str, Any]:
        import torch

        def entry(i: int, lp: float) -> dict[str, Any]:
            s = self.tokenizer.decode([i])
            return {"token": s, "logprob": lp, "bytes": list(s.encode("utf-8"))}

        top = torch.topk(logp, k) if k else None
        rec = entry(tok_id, float(logp[tok_id]))
        rec["top_logprobs"] = (
            [entry(int(i), float(v)) for v, i in zip(top.values, top.indices, strict=True)] if top else []
        )
        return rec


def _content(c: Any) -> str:
    """OpenAI content: a string, or a list of ``{"type": "text", "text": ...}`` parts."""
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return "".join(p.get("text", "") for p in c if isinstance(p, dict) and p.get("type") == "text")
    raise RequestError("message content must be a string or a list of text parts")


def _sample(logits: Any, top_p: float, gen: Any) -> int:
    import torch

    probs = torch.softmax(logits, dim=-1)
    if top_p < 1.0:
        p, idx = torch.sort(probs, descending=True)
        keep = torch.cumsum(p, 0) - p < top_p
        probs = torch.zeros_like(probs).scatter(0, idx[keep], p[keep])
    return int(torch.multinomial(probs / probs.sum(), 1, generator=gen))


def complete(cm: ChatModel, body: dict[str, Any]) -> dict[str, Any]:
    """One chat-completions request -> the response object (OpenAI's shape)."""
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise RequestError("'messages' must be a non-empty list")
    if body.get("model") not in (None, cm.model_id):
        raise RequestError(f"model {body.get('model')!r} is not served here (serving {cm.model_id!r})",
                           status=404, code="model_not_found")  # fmt: skip
    if body.get("stream"):
        raise RequestError("stream is not supported by curate serve")
    if int(body.get("n") or 1) != 1:
        raise RequestError("n > 1 is not supported by curate serve")
    max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 256)
    k = body.get("top_logprobs")
    if k is not None and not 0 <= int(k) <= MAX_TOP_LOGPROBS:
        raise RequestError(f"top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}")
    want_lp = bool(body.get("logprobs"))
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else list(stop)
    cont = bool(body.get("continue_final_message"))
    gen_prompt = bool(body.get("add_generation_prompt", not cont))
    ids = cm.prompt_ids(body["messages"], continue_final=cont, gen_prompt=gen_prompt)
    new, reason, recs = cm.generate(
        ids,
        max_tokens=max(1, max_tokens),
        temperature=float(body.get("temperature") or 0.0),
        top_p=float(body.get("top_p") or 1.0),
        seed=body.get("seed"),
        stop=stop,
        top_logprobs=int(k or 0) if want_lp else None,
    )
    text = cm.tokenizer.decode(new, skip_special_tokens=True)
    for s in stop:
        text = text.split(s)[0] if s in text else text
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": cm.model_id,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": {"content": recs} if want_lp else None,
            "finish_reason": reason,
        }],
        "usage": {"prompt_tokens": len(ids), "completion_tokens": len(new),
                  "total_tokens": len(ids) + len(new)},
    }  # fmt: skip


def make_handler(cm: ChatModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), fmt % args)

        def _send(self, status: int, obj: dict[str, Any]) -> None:
            data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, code: str) -> None:
            self._send(status, {"error": {"message": message, "type": code, "code": code}})

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                entry = {"id": cm.model_id, "object": "model", "created": 0, "owned_by": "curate", **cm.info}
                self._send(200, {"object": "list", "data": [entry]})
            elif self.path.rstrip("/") in ("/health", "/v1/health"):
                self._send(200, {"status": "ok"})
            else:
                self._error(404, f"no route {self.path}", "not_found")

        def do_POST(self) -> None:
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._error(404, f"no route {self.path}", "not_found")
                return
            try:
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                if not isinstance(body, dict):
                    raise RequestError("the request body must be a JSON object")
                self._send(200, complete(cm, body))
            except RequestError as e:
                self._error(e.status, str(e), e.code)
            except (json.JSONDecodeError, ValueError, TypeError) as e:
                self._error(400, f"bad request: {e}", "invalid_request_error")
            except Exception as e:  # the model failed: a 500 the client retries, with the reason
                log.exception("generation failed")
                self._error(500, f"{type(e).__name__}: {e}", "server_error")

    return Handler


def load_chat_model(model: str, *, adapter: Path | None = None, name: str | None = None) -> ChatModel:
    """The model (with ``adapter`` merged into it) in eval mode, fp32 on CPU / bf16 on CUDA."""
    import torch

    from curate.lm.cache import model_fingerprint
    from curate.models import load_causal_lm, load_tokenizer

    lm = load_causal_lm(model)
    tok = load_tokenizer(model)
    if adapter is not None:
        from peft import PeftModel

        lm = PeftModel.from_pretrained(lm, str(adapter)).merge_and_unload()
        if (Path(adapter) / "tokenizer_config.json").exists():
            tok = load_tokenizer(str(adapter))
    lm.eval()
    if torch.cuda.is_available():
        lm = lm.to("cuda", dtype=torch.bfloat16)
    model_id = name or (f"{model}+{Path(adapter).resolve().parent.parent.name}" if adapter else model)
    return ChatModel(model_id, lm, tok, info={"fingerprint": model_fingerprint(lm)})


def serve(cm: ChatModel, *, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A bound server (call ``serve_forever``); ``port=0`` picks a free port (``server_address``)."""
    httpd = ThreadingHTTPServer((host, port), make_handler(cm))
    httpd.daemon_threads = True
    return httpd
