"""One chat renderer and one history truncation, shared by every stage, training and scoring.

Imports only the ground floor (``curate.errors``) and third-party libraries.

API (a *row* is a canonical row dict: ``system``, ``messages`` = [{role, content}], ``tools``; roles
``user``, ``assistant``, ``tool_call``, ``tool``)::

    from curate.chat import ChatRenderer, ChatEncoder, Encoded, Dropped, count_tokens, truncate

    r = ChatRenderer(tokenizer)                 # any HF tokenizer; plain text if it has no template
    t = r.row_turns(row)                        # ChatTurns: template messages (system first, tool_call
                                                #   -> assistant, tools schema placed), trained indices,
                                                #   exchange starts, native tools
    text = r.render(t.messages, t.tools)        # the template's text (prompt=True adds the header)
    texts = r.render_rows(systems, convs, tools)  # whole rows at once; None where the template refuses

    enc = ChatEncoder(tokenizer, max_len=1024)  # exactly what training uses
    e = enc.encode(row)                         # Encoded(ids, mask, row_ids, ...) or Dropped(reason)
    e.ids, e.mask                               # input ids; 1 on the loss tokens of every assistant /
                                                #   tool_call turn (content + end-of-turn), 0 elsewhere
                                                #   (last_turn_only=True: only the final one)

    sizes, trained = count_tokens(r, systems, convs, tools)   # per row: rendered tokens (None if the
                                                #   template refuses) and trained tokens == sum(mask),
                                                #   without the per-turn prefix renders (fast)

    fit = truncate(r, systems, convs, budget=1024, policy="truncate_user", tools=tools)
    fit.messages[i], fit.tag[i], fit.dropped[i], fit.size[i]   # see curate.chat.truncate

``policy``: ``truncate_user`` (default; cuts the last question's start at a sentence/clause
boundary, never mid-word), ``truncate_answer`` (cuts the answer's end at a boundary) or ``remove``.
A row over ``max_len`` passed to ``ChatEncoder.encode`` goes through the same ``truncate`` first.
"""

from curate.chat.count import count_tokens
from curate.chat.encode import ChatEncoder, Dropped, Encoded
from curate.chat.render import (
    TOOLS_HEADER,
    TRAINED_ROLES,
    ChatRenderer,
    ChatTurns,
    encode_lengths,
    plain_render,
)
from curate.chat.truncate import BOUNDARY, POLICIES, Truncation, cut_at_boundary, truncate

__all__ = [
    "BOUNDARY",
    "POLICIES",
    "TOOLS_HEADER",
    "TRAINED_ROLES",
    "ChatEncoder",
    "ChatRenderer",
    "ChatTurns",
    "Dropped",
    "Encoded",
    "Truncation",
    "count_tokens",
    "cut_at_boundary",
    "encode_lengths",
    "plain_render",
    "truncate",
]
