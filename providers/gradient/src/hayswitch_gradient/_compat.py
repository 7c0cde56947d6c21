"""Drop-in replacements for gradient-haystack 0.4.0's components, built on hayswitch's generic ones.

``GradientDocumentEmbedder``, ``GradientTextEmbedder`` and ``GradientGenerator`` accept exactly
the init parameters of gradient-haystack 0.4.0 (``access_token``, ``workspace_id``, ``host``,
``model``, ``batch_size``, ``progress_bar``, ``base_model_slug``, ``model_adapter_id``,
``max_generated_token_count``, ``temperature``, ``top_k``, ``top_p``) and produce the same outputs
(plus a ``meta`` output). They are thin subclasses of ``ProviderDocumentEmbedder``,
``ProviderTextEmbedder`` and ``ProviderGenerator`` with ``provider="gradient"``: all behaviour
(batching, concurrency, retries, errors, serialisation of secrets) is the generic components'.

What changes compared with gradient-haystack 0.4.0 (the old bugs, fixed):

* ``batch_size`` is honoured with or without a progress bar (the old embedder sent every document
  in one ``embed`` call when ``progress_bar=False``). It is the number of documents per request,
  capped at the API's 256; requests run concurrently (the provider's default, 8).
* A document is never returned with a silent ``None`` embedding: a failed batch raises
  :class:`hayswitch.EmbeddingFailedError` naming the document ids; documents without content are
  skipped with a warning and listed in ``meta["skipped_ids"]``.
* Secrets are resolved at ``warm_up()`` (first run), not in ``__init__``: a pipeline can be built,
  serialised and loaded without credentials in the environment.
* Errors are hayswitch errors with a message saying what to do (the old components let the SDK's
  ``ApiException``, ``ValidationError``, ``StopIteration`` and ``MaxRetryError`` through).

Secrets may be Haystack ``Secret`` objects (as in 0.4.0), ``hayswitch.Secret``, ``"env:NAME"``
strings, or -- as in the blog post that introduced the integration -- plain token strings. A plain
string is treated as a literal token: it works, but such a component refuses ``to_dict()`` (as
Haystack does for token secrets) so a credential can never be written into a pipeline file.
"""

from __future__ import annotations

from typing import Any

from haystack import default_from_dict
from haystack.utils import Secret as HaystackSecret
from haystack.utils import deserialize_secrets_inplace

from hayswitch.errors import ConfigurationError, SettingsError
from hayswitch.secrets import Secret, serialise_settings

__all__ = ["PROVIDER", "SecretInput", "from_dict_with_secrets", "gradient_settings", "secret_params"]

PROVIDER = "gradient"
SecretInput = HaystackSecret | Secret | str


def _secret(value: SecretInput, env_var: str, owner: str, name: str) -> Secret:
    """Accept the secret forms described in the module docs."""
    if isinstance(value, str) and not value.startswith("env:"):
        if not value:
            raise SettingsError(f"{owner}: {name} is an empty string; pass Secret.from_env_var({env_var!r}).")
        return Secret.from_token(value)
    try:
        return Secret.coerce(value)
    except ConfigurationError as exc:
        raise SettingsError(f"{owner}: invalid {name}: {exc}") from None


def gradient_settings(
    owner: str, access_token: SecretInput, workspace_id: SecretInput, host: str | None, **extra: Any
) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "access_token": _secret(access_token, "GRADIENT_ACCESS_TOKEN", owner, "access_token"),
        "workspace_id": _secret(workspace_id, "GRADIENT_WORKSPACE_ID", owner, "workspace_id"),
    }
    if host is not None:
        settings["host"] = host
    settings.update({k: v for k, v in extra.items() if v is not None})
    return settings


def secret_params(component_settings: dict[str, Any], owner: str) -> dict[str, Any]:
    """access_token / workspace_id serialised as env-var references (raises for literal tokens)."""
    public = serialise_settings(
        {k: component_settings[k] for k in ("access_token", "workspace_id")},
        owner,
    )
    return {"access_token": public["access_token"], "workspace_id": public["workspace_id"]}


def from_dict_with_secrets(cls: type[Any], data: dict[str, Any]) -> Any:
    deserialize_secrets_inplace(data.get("init_parameters", {}), keys=["access_token", "workspace_id"])
    return default_from_dict(cls, data)
