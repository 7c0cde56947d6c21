"""How chat messages become the single ``query`` string of Gradient's complete endpoint.

Gradient has no chat endpoint: ``POST /models/{id}/complete`` takes one ``query``. With
``autoTemplate`` (the server default) the server wraps that query in the base model's own prompt
template as one user turn; with ``autoTemplate: false`` the query is sent to the model verbatim.
So the flattening depends on the template setting:

1. **A single user message** is sent verbatim in both modes (exactly what ``generate("...")``
   and gradient-haystack's ``GradientGenerator`` send).
2. **Several messages, auto-template on (or unset)**: a plain transcript the server can wrap::

       <system text>

       User: <text>

       Assistant: <text>

       User: <text>

   System messages come first (joined by blank lines); the transcript ends with the last user
   turn, without a dangling ``Assistant:`` (the server's template adds the assistant cue).
3. **Several messages, auto-template off**: we apply the instruction template Gradient used in
   its fine-tuning examples, so adapters trained on such samples see the same shape::

       <system text>

       ### Instruction: <user text>

       ### Response: <assistant text>

       ### Instruction: <user text>

       ### Response:

   ending with an open ``### Response:`` for the model to complete.
"""

from __future__ import annotations

from collections.abc import Sequence

from hayswitch.types import Message

__all__ = ["flatten_messages"]


def flatten_messages(messages: Sequence[Message], *, auto_template: bool | None) -> str:
    """Turn ``messages`` into one query string (see the module docs for the exact format).

    :param messages: non-empty list of messages (validated by the core).
    :param auto_template: the effective ``autoTemplate`` value (None means the server default, true).
    :returns: the query.
    """
    if len(messages) == 1 and messages[0].role == "user":
        return messages[0].content
    system = [m.content.strip() for m in messages if m.role == "system" and m.content.strip()]
    turns = [m for m in messages if m.role != "system" and m.content.strip()]
    parts: list[str] = []
    if system:
        parts.append("\n\n".join(system))
    if auto_template is False:
        for m in turns:
            label = "### Instruction:" if m.role == "user" else "### Response:"
            parts.append(f"{label} {m.content.strip()}")
        parts.append("### Response:")
    else:
        for m in turns:
            label = "User:" if m.role == "user" else "Assistant:"
            parts.append(f"{label} {m.content.strip()}")
    return "\n\n".join(parts)
