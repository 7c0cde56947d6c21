"""``python -m llamacpp_server``: serve SmolLM2 over the OpenAI API on 127.0.0.1."""

from __future__ import annotations

from llamacpp_server import main

raise SystemExit(main())
