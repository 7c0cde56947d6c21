"""Contract declarations: what the contract kit and ``hayswitch check`` need to test a provider.

Test knowledge (where the cassettes are, which test class recorded them, dummy credentials for
replay, which headers carry secrets, which SDKs must stay unimported while providers are listed)
does not belong on the production class. A plugin declares it next to its providers, through the
``register_contracts`` hook::

    from pathlib import Path

    from hayswitch import ContractDeclaration, hookimpl


    @hookimpl
    def register_contracts(register):
        register(
            ContractDeclaration(
                provider="acme",
                test_class_name="TestAcmeContract",
                cassette_dir=Path(__file__).parent / "cassettes",  # shipped inside the package
                settings={"base_url": "http://127.0.0.1:8000/v1", "api_key": "env:ACME_API_KEY"},
                env={"ACME_API_KEY": "dummy-key-for-replay"},  # applied when replaying only
                scrub_headers=("authorization",),
            )
        )

:func:`hayswitch.api.declared_contract` finds a provider's declaration. The plugin's test module
then needs one line (see :func:`hayswitch.testing.contract_test_class`),
and ``hayswitch check acme`` runs exactly the same checks against the same cassettes after
``pip install hayswitch-acme``.

This module does not import pytest, vcrpy or Haystack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hayswitch.errors import ConfigurationError

if TYPE_CHECKING:
    from hayswitch.provider import Provider

__all__ = ["KIT_ATTRIBUTES", "ContractDeclaration", "default_class_name", "legacy_contract"]

#: Class attributes of :class:`hayswitch.testing.ProviderContractTests` a declaration may set
#: through :attr:`ContractDeclaration.kit` (``settings``, ``env`` and ``cassette_dir`` have fields
#: of their own).
KIT_ATTRIBUTES = frozenset(
    {
        "retry",
        "prompt",
        "generation_options",
        "invalid_options",
        "sample_texts",
        "unicode_texts",
        "long_text_words",
        "non_secret_settings",
        "fault_url_setting",
        "fault_url_suffix",
        "tool",
        "tool_prompt",
        "tool_result",
        "tool_options",
        "structured_schema",
        "structured_prompt",
        "model_follows_instructions",
    }
)


@dataclass(frozen=True)
class ContractDeclaration:
    """How to run the contract kit on one provider (registered by its plugin).

    :param provider: the provider's registry name.
    :param test_class_name: the test class name the cassettes were recorded under (cassettes are
        named ``<TestClass>.<test>.hayswitch.yaml``); defaults to ``Test<Name>Contract``.
    :param cassette_dir: where the contract cassettes live -- inside the package, so they ship in
        the wheel (``Path(__file__).parent / "cassettes"``); None for a provider that sends no
        HTTP request.
    :param settings: provider settings for replaying (and recording) the cassettes.
    :param env: environment variables set while *replaying* (dummy credentials). Never applied
        while recording: recording uses the real credentials from your environment.
    :param live_settings: provider settings for ``hayswitch check NAME --live`` (real requests,
        no cassettes).
    :param heavy_modules: top-level modules (SDKs, ML frameworks) that listing providers must not
        import, on top of the kit's defaults.
    :param scrub_headers: request/response headers that carry secrets; stored as ``REDACTED``.
    :param scrub_query_params: query parameters that carry secrets.
    :param kit: further kit attributes (see :data:`KIT_ATTRIBUTES`), e.g.
        ``{"generation_options": {"max_tokens": 8}}``.
    """

    provider: str
    test_class_name: str | None = None
    cassette_dir: str | os.PathLike[str] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    live_settings: Mapping[str, Any] = field(default_factory=dict)
    heavy_modules: tuple[str, ...] = ()
    scrub_headers: tuple[str, ...] = ("authorization",)
    scrub_query_params: tuple[str, ...] = ()
    kit: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.provider, str) or not self.provider:
            raise ConfigurationError("ContractDeclaration(provider=...) needs the provider's registry name.")
        unknown = sorted(set(self.kit) - KIT_ATTRIBUTES)
        if unknown:
            raise ConfigurationError(
                f"ContractDeclaration for {self.provider!r}: unknown kit attributes {unknown}; "
                f"allowed: {', '.join(sorted(KIT_ATTRIBUTES))}."
            )
        for name in ("heavy_modules", "scrub_headers", "scrub_query_params"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ConfigurationError(
                    f"ContractDeclaration for {self.provider!r}: {name} must be a tuple of strings, got {value!r}."
                )
            object.__setattr__(self, name, tuple(value))
        if self.cassette_dir is not None:
            object.__setattr__(self, "cassette_dir", Path(self.cassette_dir))

    @property
    def class_name(self) -> str:
        """The test class name (declared, or derived from the provider name)."""
        return self.test_class_name or default_class_name(self.provider)

    def kit_attributes(self, *, live: bool = False) -> dict[str, Any]:
        """Class attributes of the kit's test class for replay (or for ``live`` requests)."""
        attributes: dict[str, Any] = dict(self.kit)
        if live:
            attributes["settings"] = dict(self.live_settings)
            attributes["cassette_dir"] = None
        else:
            attributes["settings"] = dict(self.settings)
            attributes["env"] = dict(self.env)
            attributes["cassette_dir"] = self.cassette_dir
        attributes["heavy_modules"] = self.heavy_modules
        return attributes


def default_class_name(provider: str) -> str:
    """``"my-api"`` -> ``"TestMyApiContract"``."""
    import re

    words = re.split(r"[^0-9A-Za-z]+", provider)
    return "Test" + "".join(w[:1].upper() + w[1:] for w in words if w) + "Contract"


def legacy_contract(cls: type[Provider], *, live: bool = False) -> ContractDeclaration:
    """A declaration built from the older ``Provider.contract_settings()`` classmethod and the
    class's ``scrub_*`` / ``heavy_modules`` attributes (providers without a declaration)."""
    try:
        raw = cls.contract_settings(live=live)
    except Exception as exc:  # noqa: BLE001 - a broken hook is a configuration problem
        raise ConfigurationError(
            f"{cls.__name__}.contract_settings(live={live}) raised {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{cls.__name__}.contract_settings() must return a mapping, got {type(raw).__name__}.")
    data = dict(raw)
    known = KIT_ATTRIBUTES | {"settings", "env", "cassette_dir", "test_class_name"}
    unknown = sorted(set(data) - known)
    if unknown:
        allowed = ", ".join(sorted(known))
        raise ConfigurationError(
            f"{cls.__name__}.contract_settings() returned unknown keys {unknown}; allowed keys: {allowed}."
        )
    settings = dict(data.pop("settings", None) or {})
    return ContractDeclaration(
        provider=cls.name,
        test_class_name=data.pop("test_class_name", None) or None,
        cassette_dir=None if live else data.pop("cassette_dir", None),
        settings={} if live else settings,
        env=dict(data.pop("env", None) or {}),
        live_settings=settings if live else {},
        heavy_modules=tuple(cls.heavy_modules),
        scrub_headers=tuple(cls.scrub_headers),
        scrub_query_params=tuple(cls.scrub_query_params),
        kit={k: v for k, v in data.items() if k in KIT_ATTRIBUTES},
    )
