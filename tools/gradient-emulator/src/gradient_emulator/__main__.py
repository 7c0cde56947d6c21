"""``python -m gradient_emulator``: run the Gradient API emulator on a loopback port.

Examples::

    python -m gradient_emulator --port 8080
    python -m gradient_emulator --port 8080 --latency 0.08 --latency-per-input 0.0003 --max-concurrency 16
    python -m gradient_emulator --fault '{"kind": "429", "rate": 0.2, "retry_after": 0.05}'

Then point the SDK (or hayswitch) at it::

    export GRADIENT_API_URL=http://127.0.0.1:8080/api
    export GRADIENT_ACCESS_TOKEN=emulator-access-token GRADIENT_WORKSPACE_ID=emulator_workspace

Faults and settings can also change while it runs: ``POST /_admin/faults``, ``POST /_admin/config``,
``GET /_admin/stats`` (see the package README).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from gradient_emulator.config import DEFAULT_ACCESS_TOKEN, DEFAULT_WORKSPACE_ID, EmulatorConfig
from gradient_emulator.server import EmulatorError, build_config, serve


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gradient_emulator",
        description="Local emulator of the Gradient AI HTTP API (gradientai 1.13.1 wire contract). Dev/test only.",
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (0: pick a free one; default 8080)")
    p.add_argument("--prefix", default=None, help="API path prefix (default /api)")
    p.add_argument(
        "--access-token",
        action="append",
        dest="access_tokens",
        help=f"accepted bearer token (repeatable; default {DEFAULT_ACCESS_TOKEN})",
    )
    p.add_argument(
        "--workspace-id",
        action="append",
        dest="workspace_ids",
        help=f"accepted workspace id (repeatable; default {DEFAULT_WORKSPACE_ID})",
    )
    p.add_argument("--latency", type=float, default=None, help="fixed seconds per request")
    p.add_argument("--latency-per-input", type=float, default=None, help="extra seconds per input")
    p.add_argument("--max-concurrency", type=int, default=None, help="requests served at once (default unlimited)")
    p.add_argument("--concurrency-mode", choices=["queue", "reject"], default=None, help="above the limit: wait or 429")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        help='fault rule as JSON, e.g. \'{"kind": "500", "times": 3}\' (repeatable)',
    )
    p.add_argument("--seed", type=int, default=None, help="seed for adapter ids and fault probabilities")
    p.add_argument("--default-max-tokens", type=int, default=None, help="generation length when the request has none")
    p.add_argument("--config-json", default=None, help="a complete EmulatorConfig as JSON (flags override it)")
    p.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if not ipaddress.ip_address(args.host).is_loopback:
            print("error: the emulator only binds loopback addresses (e.g. 127.0.0.1)", file=sys.stderr)
            return 2
    except ValueError:
        print(f"error: --host must be an IP address, got {args.host!r}", file=sys.stderr)
        return 2
    try:
        base = EmulatorConfig.model_validate_json(args.config_json) if args.config_json else EmulatorConfig()
        overrides: dict[str, object] = {}
        for key in (
            "prefix",
            "access_tokens",
            "workspace_ids",
            "max_concurrency",
            "concurrency_mode",
            "seed",
            "default_max_tokens",
        ):
            value = getattr(args, key)
            if value is not None:
                overrides[key] = value
        faults = [json.loads(f) for f in args.fault] if args.fault else None
        config = build_config(
            base,
            latency_fixed=args.latency,
            latency_per_input=args.latency_per_input,
            faults=faults if faults is None else [*base.faults, *faults],
            **overrides,
        )
    except (ValueError, ValidationError) as exc:
        print(f"error: invalid emulator configuration: {exc}", file=sys.stderr)
        return 2
    try:
        serve(config, host=args.host, port=args.port, log_level=args.log_level)
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
