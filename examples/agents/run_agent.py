"""Run ``agent.yaml`` on whichever provider is configured::

    HAYSWITCH_PROVIDER=fake  python examples/agents/run_agent.py "What is the weather in Paris?"
    HAYSWITCH_PROVIDER=local python examples/agents/run_agent.py "What is the weather in Paris?"

The YAML is the same for every provider; only the environment changes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run(question: str) -> dict[str, Any]:
    """Load the pipeline (trusting only the ``weather_tools`` module besides Haystack's defaults)
    and ask it ``question``; returns the Agent's output (``messages``, ``last_message``)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from haystack import Pipeline
    from haystack.dataclasses import ChatMessage

    pipeline = Pipeline.loads((HERE / "agent.yaml").read_text(), allowed_modules=["weather_tools"])
    result = pipeline.run({"agent": {"messages": [ChatMessage.from_user(question)]}})
    return dict(result["agent"])


if __name__ == "__main__":
    output = run(" ".join(sys.argv[1:]) or "What is the weather in Paris?")
    for message in output["messages"]:
        print(f"{message.role.value:>9}: {message.text or message.tool_calls or message.tool_call_results}")
