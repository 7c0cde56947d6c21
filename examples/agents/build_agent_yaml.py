"""Write ``agent.yaml``: a one-component pipeline with a Haystack Agent whose chat generator is
``ProviderChatGenerator()`` with no provider named, so ``HAYSWITCH_PROVIDER`` (or hayswitch.toml)
decides the backend. Run it again after changing the tools."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from haystack import Pipeline  # noqa: E402
from haystack.components.agents import Agent  # noqa: E402
from weather_tools import TOOLS  # noqa: E402

from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator  # noqa: E402


def build() -> Pipeline:
    agent = Agent(
        chat_generator=ProviderChatGenerator(generation_kwargs={"max_tokens": 128, "temperature": 0.0}),
        tools=TOOLS,
        system_prompt="You are a helpful assistant. Use the tools when they help.",
        max_agent_steps=4,
    )
    pipeline = Pipeline()
    pipeline.add_component("agent", agent)
    return pipeline


if __name__ == "__main__":
    (HERE / "agent.yaml").write_text(build().dumps())
    print(f"wrote {HERE / 'agent.yaml'}")
