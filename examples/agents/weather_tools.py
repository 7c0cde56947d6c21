"""Two small tools for the agent examples: a (canned) weather lookup and an adder.

Their functions are importable as ``weather_tools.get_weather`` / ``weather_tools.add`` so that
``agent.yaml`` can name them; load that YAML with ``allowed_modules=["weather_tools"]``.
"""

from __future__ import annotations

from haystack.tools import Tool

_WEATHER = {"paris": "sunny, 24 C", "oslo": "light rain, 9 C", "lima": "overcast, 18 C"}


def get_weather(city: str) -> str:
    """The weather in ``city`` (a fixed table, so the examples are reproducible)."""
    return _WEATHER.get(city.strip().lower(), f"no weather data for {city}")


def add(a: int, b: int) -> int:
    """The sum of two integers."""
    return a + b


weather_tool = Tool(
    name="get_weather",
    description="Get the current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
        "required": ["city"],
    },
    function=get_weather,
)

add_tool = Tool(
    name="add",
    description="Add two integers.",
    parameters={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
    function=add,
)

TOOLS = [weather_tool, add_tool]
