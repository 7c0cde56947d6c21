"""Tool specifications shared by the provider tool tests (``gradient``, ``local``, ``openai``
against the llama.cpp server): the same two tools everywhere, so the providers are asked the same
thing. Importable from any test module (``tests/`` is on ``sys.path`` through its conftest)."""

from __future__ import annotations

from typing import Any

WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
ADD: dict[str, Any] = {
    "name": "add",
    "description": "Add two integers.",
    "parameters": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
}
