"""Suite-wide test hygiene: no network, no model hubs, no leaking user configuration.

Network guard: every test runs with outbound connections limited to loopback (127.0.0.0/8,
::1, localhost) and Unix sockets. Any other connection attempt, or a DNS look-up of another
host, raises :class:`NetworkBlockedError` *and* fails the test at teardown -- even when the code
under test catches the error (a provider would turn it into a connection error and a test
expecting one could otherwise pass against the real internet).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Haystack's usage telemetry posts to posthog.com from a background thread (the network guard
# below caught it); tests never send it.
os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"


@pytest.fixture(autouse=True)
def _isolated_hayswitch_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Each test starts with no HAYSWITCH_* configuration from the developer's shell and a fresh
    registry, and runs outside the repository (so a stray hayswitch.toml is not picked up)."""
    from hayswitch import reset_registry

    for key in list(os.environ):
        if key.startswith("HAYSWITCH_") and key != "HAYSWITCH_RECORD":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    reset_registry()
    # 'hayswitch ask' quiets the components' logger for the command line; keep that per test.
    component_logger = logging.getLogger("haystack_integrations.hayswitch")
    level = component_logger.level
    yield
    component_logger.setLevel(level)
    reset_registry()


# --------------------------------------------------------------------------- network guard


class NetworkBlockedError(OSError):
    """Raised for any non-loopback connection attempt in the test suite."""


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_real_getaddrinfo = socket.getaddrinfo
_real_gethostbyname = socket.gethostbyname


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%", 1)[0]
    if host.lower() in _LOOPBACK_NAMES or host in ("", "0.0.0.0", "::"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_attempts: list[str] = []


def _guard_connect(original: Any) -> Any:
    def connect(self: socket.socket, address: Any, *args: Any, **kwargs: Any) -> Any:
        if self.family != getattr(socket, "AF_UNIX", None):
            host = address[0] if isinstance(address, tuple) else address
            if not _is_loopback(host):
                _attempts.append(f"connect to {address!r}")
                raise NetworkBlockedError(f"network access blocked in tests: {address!r}")
        return original(self, address, *args, **kwargs)

    return connect


def _no_dns(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_loopback(host):
        _attempts.append(f"DNS look-up of {host!r}")
        raise NetworkBlockedError(f"DNS look-up blocked in tests: {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _no_dns_by_name(host: Any) -> Any:
    if not _is_loopback(host):
        _attempts.append(f"DNS look-up of {host!r}")
        raise NetworkBlockedError(f"DNS look-up blocked in tests: {host!r}")
    return _real_gethostbyname(host)


@pytest.fixture(autouse=True)
def _network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Block every non-loopback connection and DNS look-up; fail the test if one was tried."""
    monkeypatch.setattr(socket.socket, "connect", _guard_connect(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guard_connect(socket.socket.connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns)
    monkeypatch.setattr(socket, "gethostbyname", _no_dns_by_name)
    del _attempts[:]
    yield
    tried, _attempts[:] = list(_attempts), []
    if tried:
        pytest.fail(f"the test tried to use the network: {'; '.join(tried[:5])}", pytrace=False)


@pytest.fixture
def network_attempts() -> list[str]:
    """The blocked network attempts of the running test (clear it to accept them on purpose)."""
    return _attempts
