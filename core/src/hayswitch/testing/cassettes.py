"""Cassettes (recorded HTTP interactions) for provider tests, on vcrpy and pytest-recording.

Rules, shared by every provider test suite:

* **Replay only by default.** The record mode is ``"none"``: a request that is not in the
  cassette fails the test, nothing touches the network.
* **Recording is explicit.** ``HAYSWITCH_RECORD=1`` (``HAYSWITCH_RECORD=1 pytest tests/``, with
  the real credentials in the environment) deletes and re-records each cassette a test uses;
  ``HAYSWITCH_RECORD=new_episodes`` keeps the existing interactions and appends new ones.
  Recording while the ``CI`` environment variable is set raises :class:`CassetteRecordingError`.
* **Secrets are scrubbed.** Request and response headers named in the provider's contract
  declaration (:class:`hayswitch.ContractDeclaration`) or class ``scrub_headers``, and query
  parameters named in ``scrub_query_params``, are stored as
  ``"REDACTED"`` (matching happens after scrubbing, so replays match whatever the real value is).
* **Request bodies are part of matching.** JSON bodies are compared parsed (key order and
  whitespace do not matter), other bodies byte for byte.
* **Readable cassettes.** The ``hayswitch.yaml`` serializer stores JSON request and response
  bodies as YAML structures (``json:`` instead of an escaped string), gzip is decoded first.
* **Every recorded interaction must be played.** :func:`assert_all_played` fails a test whose
  cassette holds interactions it did not use (stale cassettes hide behaviour changes).

Use it directly::

    from hayswitch.testing.cassettes import use_cassette

    with use_cassette(MyProvider, "cassettes/myprovider", "embed_two_texts") as cassette:
        provider.embed_documents(["a", "b"])
    # leaving the block asserts that every interaction was played

or with pytest-recording (the ``hayswitch`` pytest plugin registers the serializer and matcher)::

    @pytest.fixture
    def vcr_config():
        return cassette_config(MyProvider)

    @pytest.fixture
    def vcr_cassette_dir():
        return "cassettes/myprovider"

    @pytest.mark.cassette
    @pytest.mark.vcr
    def test_embed(provider): ...
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hayswitch.errors import ConfigurationError

if TYPE_CHECKING:
    from vcr import VCR
    from vcr.cassette import Cassette

    from hayswitch.provider import Provider

__all__ = [
    "CASSETTE_SERIALIZER",
    "REDACTED",
    "CassetteRecordingError",
    "UnplayedInteractionsError",
    "assert_all_played",
    "bodies_match",
    "cassette_config",
    "is_ci",
    "is_recording",
    "make_vcr",
    "record_mode",
    "register_vcr_extensions",
    "scrub_lists",
    "use_cassette",
]

REDACTED = "REDACTED"
CASSETTE_SERIALIZER = "hayswitch.yaml"
"""Name of the readable serializer; cassette files end in ``.hayswitch.yaml``."""
BODY_MATCHER = "hayswitch_body"
DEFAULT_MATCH_ON: tuple[str, ...] = ("method", "scheme", "host", "port", "path", "query", BODY_MATCHER)
_FALSE = {"", "0", "false", "no", "off"}


class CassetteRecordingError(ConfigurationError):
    """Recording was requested where it is not allowed (under CI) or with an unknown mode."""


class UnplayedInteractionsError(AssertionError):
    """A cassette holds interactions the test did not play (the cassette is stale)."""


# --------------------------------------------------------------------------- record mode


def is_ci(environ: Mapping[str, str] | None = None) -> bool:
    """Whether we run under continuous integration (the ``CI`` variable is set and not false)."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() not in _FALSE


def record_mode(environ: Mapping[str, str] | None = None) -> str:
    """The cassette record mode selected by ``HAYSWITCH_RECORD``.

    :returns: ``"none"`` (replay only, the default), ``"rewrite"`` (``HAYSWITCH_RECORD=1``: delete
        and re-record each cassette) or ``"new_episodes"`` (keep and append).
    :raises CassetteRecordingError: if recording is requested under CI, or the value is unknown.
    """
    env = os.environ if environ is None else environ
    raw = env.get("HAYSWITCH_RECORD", "").strip().lower()
    if raw in _FALSE:
        return "none"
    if raw in {"1", "true", "yes", "on", "all", "rewrite"}:
        mode = "rewrite"
    elif raw == "new_episodes":
        mode = "new_episodes"
    else:
        raise CassetteRecordingError(
            f"HAYSWITCH_RECORD={raw!r} is not understood. Use HAYSWITCH_RECORD=1 to re-record cassettes, "
            "HAYSWITCH_RECORD=new_episodes to append, or unset it to replay."
        )
    if is_ci(env):
        raise CassetteRecordingError(
            "Refusing to record cassettes under CI (the CI environment variable is set). Cassettes are "
            "recorded on a developer machine (HAYSWITCH_RECORD=1 pytest ...) and committed; CI only replays."
        )
    return mode


def is_recording(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``HAYSWITCH_RECORD`` asks for recording (raises under CI, see :func:`record_mode`)."""
    return record_mode(environ) != "none"


# --------------------------------------------------------------------------- bodies


def _as_bytes(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "getvalue"):  # BytesIO bodies
        value = body.getvalue()
        return value if isinstance(value, bytes) else str(value).encode("utf-8")
    return str(body).encode("utf-8")


def _parse_json(body: Any) -> tuple[bool, Any]:
    raw = _as_bytes(body)
    if not raw:
        return False, None
    try:
        return True, json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False, None


def bodies_match(r1: Any, r2: Any) -> None:
    """vcrpy matcher: JSON bodies compare parsed, other bodies compare as raw bytes.

    :raises AssertionError: describing the difference (vcrpy reports it when nothing matches).
    """
    ok1, parsed1 = _parse_json(r1.body)
    ok2, parsed2 = _parse_json(r2.body)
    if ok1 and ok2:
        if parsed1 != parsed2:
            raise AssertionError(f"JSON bodies differ: {parsed1!r} != {parsed2!r}")
        return
    b1, b2 = _as_bytes(r1.body) or b"", _as_bytes(r2.body) or b""
    if b1 != b2:
        raise AssertionError(f"bodies differ: {b1[:200]!r} != {b2[:200]!r}")


# --------------------------------------------------------------------------- serializer


class ReadableYamlSerializer:
    """vcrpy serializer writing YAML with JSON bodies as structures (``body: {json: ...}``)."""

    @staticmethod
    def _encode_body(body: Any) -> Any:
        ok, parsed = _parse_json(body)
        if ok and isinstance(parsed, dict | list):
            return {"json": parsed}
        return body

    @staticmethod
    def _decode_body(body: Any) -> Any:
        if isinstance(body, dict) and set(body) == {"json"}:
            return json.dumps(body["json"], ensure_ascii=False, separators=(",", ":"))
        if isinstance(body, dict) and set(body) == {"base64"}:
            return base64.b64decode(body["base64"])
        return body

    @classmethod
    def serialize(cls, cassette_dict: dict[str, Any]) -> str:
        import yaml  # type: ignore[import-untyped, unused-ignore]

        data = json.loads(json.dumps(cassette_dict, default=_json_default))
        for interaction in data.get("interactions", []):
            request = interaction.get("request", {})
            request["body"] = cls._encode_body(request.get("body"))
            response_body = interaction.get("response", {}).get("body", {})
            if isinstance(response_body, dict) and "string" in response_body:
                encoded = cls._encode_body(response_body["string"])
                if isinstance(encoded, dict):
                    interaction["response"]["body"] = encoded
        return yaml.dump(data, Dumper=_block_dumper(), sort_keys=False, allow_unicode=True, width=120)

    @classmethod
    def deserialize(cls, cassette_string: str) -> dict[str, Any]:
        import yaml  # type: ignore[import-untyped, unused-ignore]

        # libyaml's CSafeLoader when available: ~8x faster on big embedding cassettes.
        data = yaml.load(cassette_string, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise ValueError("Not a hayswitch cassette: expected a mapping with an 'interactions' list.")
        for interaction in data["interactions"]:
            request = interaction["request"]
            request["body"] = cls._decode_body(request.get("body"))
            response = interaction["response"]
            body = response.get("body")
            if isinstance(body, dict) and isinstance(body.get("string"), dict):
                body["string"] = cls._decode_body(body["string"])
            if isinstance(body, dict) and set(body) == {"json"}:
                text = cls._decode_body(body)
                response["body"] = {"string": text}
                headers = response.get("headers") or {}
                for key in list(headers):
                    if key.lower() == "content-length":
                        headers[key] = [str(len(text.encode("utf-8")))]
        return data


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"Cannot store a {type(value).__name__} in a cassette.")


@functools.cache
def _block_dumper() -> type:
    """A safe YAML dumper that writes multi-line strings as ``|`` blocks (readable diffs)."""
    import yaml  # type: ignore[import-untyped, unused-ignore]

    class BlockDumper(yaml.SafeDumper):
        pass

    def str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    def list_presenter(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
        # Vectors (lists of numbers) go on one line: a 1024-d embedding would otherwise take
        # 1024 lines, and cassettes of full batches would grow to several MB each.
        flow = bool(value) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)

    BlockDumper.add_representer(str, str_presenter)
    BlockDumper.add_representer(list, list_presenter)
    return BlockDumper


# --------------------------------------------------------------------------- scrubbing


def _header_scrubber(names: Sequence[str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    lowered = {n.lower() for n in names}

    def scrub(response: dict[str, Any]) -> dict[str, Any]:
        headers = response.get("headers") or {}
        for key in list(headers):
            if key.lower() in lowered:
                value = headers[key]
                headers[key] = [REDACTED] * len(value) if isinstance(value, list) else REDACTED
        return response

    return scrub


def scrub_lists(provider: type[Provider]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Headers and query parameters to scrub from ``provider``'s cassettes: its contract
    declaration's lists (when its plugin registered one) together with the class attributes."""
    from hayswitch.api import declared_contract

    declaration = None
    name = getattr(provider, "name", None)
    if isinstance(name, str) and name:
        try:
            declaration = declared_contract(name)
        except ConfigurationError:
            declaration = None
    headers = tuple(provider.scrub_headers) + (declaration.scrub_headers if declaration else ())
    params = tuple(provider.scrub_query_params) + (declaration.scrub_query_params if declaration else ())
    return tuple(dict.fromkeys(h.lower() for h in headers)), tuple(dict.fromkeys(params))


def cassette_config(
    provider: type[Provider],
    *,
    match_on: Sequence[str] = DEFAULT_MATCH_ON,
    extra_scrub_headers: Sequence[str] = (),
    extra_scrub_query_params: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``vcr.VCR(...)`` / pytest-recording's ``vcr_config`` fixture.

    :param provider: the provider class; its ``scrub_headers`` and ``scrub_query_params`` are
        scrubbed (replaced with ``"REDACTED"``) in requests and responses.
    :param match_on: vcrpy matchers; the default includes the request body.
    :returns: a dict with the record mode (from ``HAYSWITCH_RECORD``), scrubbing filters, the
        body matcher and the readable serializer.
    :raises CassetteRecordingError: if recording is requested under CI.
    """
    from hayswitch.provider import Provider

    if not (isinstance(provider, type) and issubclass(provider, Provider)):
        raise ConfigurationError(f"cassette_config() takes a Provider subclass, got {provider!r}.")
    declared_headers, declared_params = scrub_lists(provider)
    headers = tuple(dict.fromkeys(h.lower() for h in (*declared_headers, *extra_scrub_headers)))
    params = tuple(dict.fromkeys((*declared_params, *extra_scrub_query_params)))
    return {
        "record_mode": record_mode(environ),
        "filter_headers": [(h, REDACTED) for h in headers],
        "filter_query_parameters": [(p, REDACTED) for p in params],
        "before_record_response": _header_scrubber(headers),
        "decode_compressed_response": True,
        "match_on": list(match_on),
        "serializer": CASSETTE_SERIALIZER,
        "allow_playback_repeats": False,
    }


def register_vcr_extensions(vcr: VCR) -> VCR:
    """Register the ``hayswitch.yaml`` serializer and the ``hayswitch_body`` matcher on ``vcr``."""
    vcr.register_serializer(CASSETTE_SERIALIZER, ReadableYamlSerializer)
    vcr.register_matcher(BODY_MATCHER, bodies_match)
    return vcr


def make_vcr(
    provider: type[Provider],
    cassette_dir: str | os.PathLike[str],
    *,
    match_on: Sequence[str] = DEFAULT_MATCH_ON,
    environ: Mapping[str, str] | None = None,
) -> VCR:
    """A configured ``vcr.VCR`` writing to ``cassette_dir`` (see :func:`cassette_config`).

    The ``rewrite`` mode is applied by :func:`use_cassette` (it deletes the file first).
    """
    import vcr as vcrpy

    config = cassette_config(provider, match_on=match_on, environ=environ)
    mode = config.pop("record_mode")
    config.pop("allow_playback_repeats")
    config["record_mode"] = "new_episodes" if mode == "rewrite" else mode
    config["path_transformer"] = vcrpy.VCR.ensure_suffix("." + CASSETTE_SERIALIZER)
    config["cassette_library_dir"] = str(cassette_dir)
    return register_vcr_extensions(vcrpy.VCR(**config))


def cassette_path(cassette_dir: str | os.PathLike[str], name: str) -> Path:
    """Where the cassette called ``name`` lives."""
    safe = "".join("-" if ch in "<>?%*:|\"'/\\" else ch for ch in name)
    return Path(cassette_dir) / f"{safe}.{CASSETTE_SERIALIZER}"


def assert_all_played(cassette: Cassette) -> None:
    """Fail if ``cassette`` holds interactions that were not played.

    :raises UnplayedInteractionsError: listing the unplayed requests and how to fix it.
    """
    if cassette.all_played:
        return
    played = set(cassette.play_counts)
    unplayed = [f"{r.method} {r.uri}" for i, r in enumerate(cassette.requests) if i not in played]
    listed = "\n".join(f"  - {u}" for u in unplayed[:20])
    raise UnplayedInteractionsError(
        f"Cassette {cassette._path} holds {len(unplayed)} interaction(s) this test did not play:\n{listed}\n"
        "The code under test no longer makes these requests. If the change is intended, re-record: "
        "HAYSWITCH_RECORD=1 pytest <this test>, with the real credentials (or the test server) available."
    )


def mismatch_message(cassette: Any, request: Any) -> str:
    """What a test that sent a request its cassette does not hold is told: which request, the
    closest recorded ones and why they differ, and how to re-record (``HAYSWITCH_RECORD=1``)."""
    lines = [
        f"No recorded interaction in cassette {getattr(cassette, '_path', cassette)} matches the request "
        f"{getattr(request, 'method', '?')} {getattr(request, 'uri', '?')}."
    ]
    try:
        similar = cassette.find_requests_with_most_matches(request)
    except Exception:  # noqa: BLE001 - the advice must never hide the mismatch itself
        similar = []
    for recorded, _succeeded, failed in similar[:3]:
        lines.append(f"  closest recorded request: {recorded.method} {recorded.uri}")
        for matcher, error in failed[:3]:
            reason = " ".join(str(error).split())[:300]
            lines.append(f"    differs in {matcher}: {reason}")
    lines.append(
        "The code under test now sends a request that was not recorded. If that is intended, re-record the "
        "cassette: HAYSWITCH_RECORD=1 pytest <this test> (with the real credentials or test server available); "
        "HAYSWITCH_RECORD=new_episodes keeps the recorded interactions and appends new ones."
    )
    return "\n".join(lines)


@contextmanager
def _mismatch_advice() -> Iterator[None]:
    """Within the block, vcrpy's "no match" errors give hayswitch's advice (``HAYSWITCH_RECORD=1``)
    instead of vcrpy's ``record_mode`` advice (the exception type and attributes are vcrpy's)."""
    from vcr.errors import CannotOverwriteExistingCassetteException as Mismatch

    original = Mismatch.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        cassette, request = kwargs.get("cassette"), kwargs.get("failed_request")
        if cassette is not None and request is not None:
            self.args = (mismatch_message(cassette, request),)

    Mismatch.__init__ = __init__
    try:
        yield
    finally:
        Mismatch.__init__ = original


@contextmanager
def use_cassette(
    provider: type[Provider],
    cassette_dir: str | os.PathLike[str],
    name: str,
    *,
    match_on: Sequence[str] = DEFAULT_MATCH_ON,
    check_all_played: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Iterator[Cassette]:
    """Replay (or, with ``HAYSWITCH_RECORD``, record) the cassette ``name`` in ``cassette_dir``.

    On a clean exit, asserts that every recorded interaction was played (replay mode only).

    :raises CassetteRecordingError: if recording is requested under CI.
    :raises UnplayedInteractionsError: if interactions were left unplayed.
    """
    if not isinstance(name, str) or not name:
        raise ConfigurationError("use_cassette() needs a non-empty cassette name.")
    mode = record_mode(environ)
    path = cassette_path(cassette_dir, name)
    if mode == "rewrite" and path.exists():
        path.unlink()
    vcr = make_vcr(provider, cassette_dir, match_on=match_on, environ=environ)
    with _mismatch_advice(), vcr.use_cassette(path.name[: -len("." + CASSETTE_SERIALIZER)]) as cassette:
        yield cassette
    if check_all_played and mode == "none":
        assert_all_played(cassette)
