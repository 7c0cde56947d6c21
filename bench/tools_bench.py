"""Structured output and tool calling on real models (a benchmark script, not a test).

Measures, per provider:

* **structured output**: the share of 50 varied prompts (10 schemas x 5 prompts: flat objects,
  enums, arrays, nested objects, numbers with bounds, optional fields) whose reply is JSON valid
  against the ``response_format`` schema;
* **tool calling**: on 20 fixed tasks over 4 tools (``tool_choice="auto"``), the share of replies
  that call the right tool with schema-valid arguments, plus how many were at least a
  well-formed call of *some* declared tool.

Providers: ``local`` (SmolLM2-135M through llama-cpp-python; JSON schema -> grammar, tools emulated
through the same grammar) and ``openai`` against llama-cpp-python's OpenAI-compatible server with
the same model (``chat_format="chatml-function-calling"`` for native tool calls; response_format sent
as ``{"type": "json_object", "schema": ...}``, the form that server enforces, with
``grammar_schema=True`` so the schemas it turns into grammars are bounded), started here on a free
loopback port.

    python bench/tools_bench.py                       # both providers
    python bench/tools_bench.py --providers local --json bench/results/tools.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from hayswitch import Provider, ResponseError, get_provider
from hayswitch.tooling import schema_errors

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 130}},
    "required": ["name", "age"],
}
SCHEMAS: list[tuple[dict[str, Any], list[str]]] = [
    (
        PERSON,
        [
            "Invent a person.",
            "Describe Ada Lovelace.",
            "A child named Tom.",
            "An old sailor.",
            "Your favourite author.",
        ],
    ),
    (
        {
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
            "required": ["city", "country"],
        },
        [
            "The capital of France.",
            "A city in Japan.",
            "Where is Lima?",
            "A big city in Brazil.",
            "The capital of Kenya.",
        ],
    ),
    (
        {
            "type": "object",
            "properties": {"sentiment": {"enum": ["positive", "negative", "neutral"]}, "score": {"type": "number"}},
            "required": ["sentiment", "score"],
        },
        ["I love this phone!", "The food was awful.", "It is a table.", "Best day ever.", "The train was late again."],
    ),
    (
        {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["tags"],
        },
        [
            "Tags for a blog post on Python.",
            "Keywords for a recipe.",
            "Labels for a photo of a dog.",
            "Topics of physics.",
            "Tags for jazz.",
        ],
    ),
    (
        {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "author": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
                "year": {"type": "integer"},
            },
            "required": ["title", "author", "year"],
        },
        ["A famous novel.", "A book about space.", "A cookbook.", "A children's book.", "A poetry collection."],
    ),
    (
        {"type": "object", "properties": {"answer": {"type": "boolean"}}, "required": ["answer"]},
        ["Is water wet?", "Is the sun cold?", "Can birds fly?", "Is 7 even?", "Is Paris in France?"],
    ),
    (
        {
            "type": "object",
            "properties": {"steps": {"type": "array", "items": {"type": "string"}, "minItems": 2}},
            "required": ["steps"],
        },
        [
            "How to make tea.",
            "How to plant a tree.",
            "How to tie a shoe.",
            "How to boil an egg.",
            "How to send an email.",
        ],
    ),
    (
        {
            "type": "object",
            "properties": {
                "temperature_c": {"type": "number"},
                "condition": {"enum": ["sunny", "rain", "snow", "cloudy"]},
            },
            "required": ["temperature_c", "condition"],
        },
        [
            "Weather in Oslo in winter.",
            "A hot summer day.",
            "A rainy afternoon.",
            "Weather in the desert.",
            "A grey morning.",
        ],
    ),
    (
        {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                        "required": ["name", "qty"],
                    },
                }
            },
            "required": ["items"],
        },
        [
            "A shopping list for pancakes.",
            "Groceries for a week.",
            "Party supplies.",
            "A picnic basket.",
            "School supplies.",
        ],
    ),
    (
        {
            "type": "object",
            "properties": {"summary": {"type": "string"}, "language": {"type": "string"}, "words": {"type": "integer"}},
            "required": ["summary", "language"],
        },
        [
            "Summarise: the cat sat on the mat.",
            "Summarise a news day.",
            "Summarise Hamlet.",
            "Summarise a football match.",
            "Summarise a meeting.",
        ],
    ),
]

TOOLS: list[dict[str, Any]] = [
    {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
    {
        "name": "convert_currency",
        "description": "Convert an amount of money from one currency to another.",
        "parameters": {
            "type": "object",
            "properties": {
                "amount": {"type": "number"},
                "from_currency": {"type": "string"},
                "to_currency": {"type": "string"},
            },
            "required": ["amount", "from_currency", "to_currency"],
        },
    },
    {
        "name": "search_encyclopedia",
        "description": "Look up a topic in the encyclopedia.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
]
TOOL_TASKS: list[tuple[str, str]] = [
    ("What is the weather in Paris?", "get_weather"),
    ("Is it raining in London right now?", "get_weather"),
    ("How warm is it in Tokyo today?", "get_weather"),
    ("Tell me the current weather in Oslo.", "get_weather"),
    ("Will I need an umbrella in Lima today?", "get_weather"),
    ("What is 17 plus 25?", "add"),
    ("Add 3 and 4.", "add"),
    ("Compute the sum of 120 and 80.", "add"),
    ("How much is 9 + 10?", "add"),
    ("Please add 1000 and 2345.", "add"),
    ("Convert 100 US dollars to euros.", "convert_currency"),
    ("How many yen is 50 euros?", "convert_currency"),
    ("Change 20 pounds into dollars.", "convert_currency"),
    ("What is 75 CHF in USD?", "convert_currency"),
    ("Exchange 300 euros to Swedish krona.", "convert_currency"),
    ("Who was Marie Curie?", "search_encyclopedia"),
    ("Look up the history of the Eiffel Tower.", "search_encyclopedia"),
    ("What is photosynthesis?", "search_encyclopedia"),
    ("Find information about the Roman Empire.", "search_encyclopedia"),
    ("Search the encyclopedia for black holes.", "search_encyclopedia"),
]
OPTIONS = {"max_tokens": 128, "temperature": 0.0}


def structured(provider: Provider, only: list[str] | None = None) -> dict[str, Any]:
    valid = 0
    failures: list[str] = []
    cases = [(schema, prompt) for schema, prompts in SCHEMAS for prompt in prompts if not only or prompt in only]
    start = time.perf_counter()
    for schema, prompt in tqdm(cases, desc=f"{provider.name}: structured", unit="prompt"):
        try:
            text = provider.generate(prompt, {**OPTIONS, "response_format": schema}).text
            value = json.loads(text)
            problems = schema_errors(value, schema)
        except (ResponseError, ValueError) as exc:
            problems = [str(exc)[:120]]
        if problems:
            failures.append(f"{prompt}: {problems[0]}")
        else:
            valid += 1
    return {"prompts": len(cases), "valid": valid, "seconds": time.perf_counter() - start, "failures": failures}


def tool_calls(provider: Provider) -> dict[str, Any]:
    right = well_formed = 0
    wrong: list[str] = []
    schemas = {t["name"]: t["parameters"] for t in TOOLS}
    start = time.perf_counter()
    for prompt, expected in tqdm(TOOL_TASKS, desc=f"{provider.name}: tools", unit="task"):
        try:
            calls = provider.generate(prompt, {**OPTIONS, "tools": TOOLS, "tool_choice": "auto"}).tool_calls
        except ResponseError as exc:
            wrong.append(f"{prompt}: {str(exc)[:120]}")
            continue
        ok_calls = [c for c in calls if c.name in schemas and not schema_errors(c.arguments, schemas[c.name])]
        well_formed += bool(calls) and len(ok_calls) == len(calls)
        if ok_calls and ok_calls[0].name == expected:
            right += 1
        else:
            wrong.append(f"{prompt}: {[(c.name, c.arguments) for c in calls] or 'no call'}")
    return {
        "tasks": len(TOOL_TASKS),
        "right_tool_valid_args": right,
        "well_formed_calls": well_formed,
        "seconds": time.perf_counter() - start,
        "failures": wrong,
    }


@contextmanager
def open_provider(name: str) -> Iterator[Provider]:
    if name == "local":
        provider = get_provider("local")
        try:
            yield provider
        finally:
            provider.close()
        return
    from llamacpp_server import LlamaCppServer

    with LlamaCppServer(chat_format="chatml-function-calling", startup_timeout=300) as server:
        provider = get_provider(
            "openai",
            base_url=server.base_url,
            chat_model=server.alias,
            api_key=None,
            response_format_style="json_object_schema",
            grammar_schema=True,  # llama.cpp's server turns schemas into grammars: bound them (see docs)
            timeout=300.0,
        )
        try:
            yield provider
        finally:
            provider.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--providers", nargs="+", default=["local", "openai"], choices=["local", "openai"])
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--only", choices=["structured", "tools"], default=None, help="run one of the two measures")
    parser.add_argument(
        "--prompts", nargs="+", default=None, help="structured output: run only these prompts (exact text)"
    )
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for name in args.providers:
        with open_provider(name) as provider:
            results[name] = {}
            if args.only in (None, "structured"):
                results[name]["structured"] = structured(provider, args.prompts)
            if args.only in (None, "tools"):
                results[name]["tools"] = tool_calls(provider)
    print("| provider | schema-valid JSON | right tool, valid args | well-formed calls |")
    print("|---|---|---|---|")
    for name, r in results.items():
        s, t = r.get("structured"), r.get("tools")
        valid = f"{s['valid']}/{s['prompts']} ({100 * s['valid'] / s['prompts']:.0f} %)" if s else "-"
        right = f"{t['right_tool_valid_args']}/{t['tasks']}" if t else "-"
        formed = f"{t['well_formed_calls']}/{t['tasks']}" if t else "-"
        print(f"| {name} | {valid} | {right} | {formed} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
