"""Token counts of whole tables, equal to what ``ChatEncoder`` trains, without its prefix renders.

Why not encode the rendered row and each answer apart (as mixing did): that tokenizes the answers
twice, and tokenizing is the whole cost (BPE runs at ~0.3-1.5 M chars/s a core). Here each rendered
row is encoded once, with char offsets, and an answer's tokens are read off the offsets of its span
in the rendered text. A span is located by searching the message's content after the previous
one; contents the template rewrites (trimmed, escaped, a native ``tool_calls`` call), or shorter
than ``MIN_SPAN`` characters (they might match template text such as ``assistant``), are encoded on
their own instead, which gives the same count when the template delimits turns with special tokens.
Checked against ``ChatEncoder``'s mask on 1,004 real rows (500 LawBench, 500 ShareGPT, 4 OpenAI
tool-calling rows) with SmolLM2: 0 differences. Measured: about 2x faster than encoding the rendered
row and the answers apart (1,000 of those rows, same process, alternating: 10.9-12.7 s vs 19.7-25.4 s
on 2 cores shared by 8 agents).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from curate.chat.render import ChatRenderer, encode_lengths

MIN_SPAN = 32


def count_tokens(
    renderer: ChatRenderer,
    systems: Sequence[str | None],
    convs: Sequence[Sequence[dict[str, Any]] | None],
    tools: Sequence[str | None] | None = None,
    *,
    rendered_sizes: Sequence[int | None] | None = None,
    batch_size: int = 512,
) -> tuple[list[int | None], list[int]]:
    """(rendered tokens or None where the template refuses the row, trained tokens) per conversation.

    Trained tokens are ``ChatEncoder``'s mask: the content of every ``assistant`` and ``tool_call``
    turn plus the template's per-turn loss tokens (``overhead["trained"]``: ``<|im_end|>\\n`` for
    ChatML). ``rendered_sizes`` (e.g. ``truncate.history``'s exact ``score_tokens_rendered``) is
    reused where not null: those rows are not rendered, only their answers are encoded.
    """
    n = len(systems)
    tools = tools if tools is not None else [None] * n
    sizes: list[int | None] = list(rendered_sizes) if rendered_sizes is not None else [None] * n
    per_turn = renderer.overhead["trained"] if renderer.has_template else 0
    trained = [0] * n
    loose: list[tuple[int, str]] = []  # (row, content) counted by a separate encode
    rows: list[tuple[int, str, list[tuple[int, int]]]] = []  # (row, rendered, trained char spans)
    for i in range(n):
        msgs = convs[i] or []
        # blank answers are not trained (ChatRenderer.turns), so not counted
        answers = [
            m["content"]
            for m in msgs
            if m["role"] in ("assistant", "tool_call") and (m["content"] or "").strip()
        ]
        trained[i] = per_turn * len(answers)
        if sizes[i] is not None or not renderer.has_template:
            loose += [(i, a) for a in answers]
            continue
        t = renderer.turns(systems[i], msgs, tools[i])
        try:
            text = renderer.render(t.messages, t.tools)
        except Exception:  # a template that refuses the row: no size, answers counted alone
            loose += [(i, a) for a in answers]
            continue
        spans, pos = [], 0
        for j, m in enumerate(t.messages):
            content = m.get("content") or ""
            k = text.find(content, pos) if len(content) >= MIN_SPAN else -1
            if k >= 0:
                pos = k + len(content)
            if j in t.trained:
                if k >= 0:
                    spans.append((k, k + len(content)))
                else:
                    loose.append((i, msgs[j - (len(t.messages) - len(msgs))]["content"] or ""))
        rows.append((i, text, spans))
    if not renderer.has_template:
        todo = [i for i in range(n) if sizes[i] is None]
        texts = renderer.render_rows(
            [systems[i] for i in todo], [convs[i] or [] for i in todo], [tools[i] for i in todo]
        )
        for i, k in zip(todo, encode_lengths([t or "" for t in texts], renderer.tok), strict=True):
            sizes[i] = k
    backend = getattr(renderer.tok, "backend_tokenizer", None)
    for b in range(0, len(rows), batch_size):
        chunk = rows[b : b + batch_size]
        encs = _encode_with_offsets(renderer, [text for _, text, _ in chunk], backend)
        for (i, text, spans), enc in zip(chunk, encs, strict=True):
            sizes[i] = len(enc)
            for a, z in spans:
                # up to the token of the first char after the span: a last CJK char may span two
                # byte-level tokens, and char_to_token names only the first of them
                first = enc.char_to_token(a)
                after = enc.char_to_token(z) if z < len(text) else len(enc)
                if first is None or after is None:  # an edge char no token owns: count it alone
                    loose.append((i, text[a:z]))
                else:
                    trained[i] += after - first
    for (i, _), k in zip(loose, encode_lengths([c for _, c in loose], renderer.tok), strict=True):
        trained[i] += k
    return sizes, trained


def _encode_with_offsets(renderer: ChatRenderer, texts: list[str], backend: Any) -> list[Any]:
    """Rust ``Encoding`` objects (``char_to_token`` works on them) for ``texts``, one batch."""
    if backend is not None:
        return backend.encode_batch(texts, add_special_tokens=False)
    return renderer.tok(texts, add_special_tokens=False).encodings
