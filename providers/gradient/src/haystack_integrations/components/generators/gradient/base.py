"""gradient-haystack 0.4.0's ``GradientGenerator`` at its original import path, on the ``gradient``
hayswitch provider (see :mod:`hayswitch_gradient._compat` and ``docs/migration.md``)."""

from __future__ import annotations

from typing import Any, ClassVar

from haystack import component, default_to_dict
from haystack.utils import Secret as HaystackSecret

from haystack_integrations.common.hayswitch._base import Capability, ModelSetting
from hayswitch.errors import InvalidInputTypeError
from hayswitch_gradient._compat import GeneratorNotWarmedUpError, GradientDropIn, SecretInput, sdk_attribute

__all__ = ["GradientGenerator"]


@component
class GradientGenerator(GradientDropIn):
    """LLM generator on the Gradient API: a base model (``base_model_slug``) or a fine-tuned adapter
    (``model_adapter_id``).

    gradient-haystack 0.4.0's component, with its parameters, output and errors, on hayswitch's
    ``gradient`` provider.

    ```python
    from haystack_integrations.components.generators.gradient import GradientGenerator

    llm = GradientGenerator(base_model_slug="llama2-7b-chat")
    llm.warm_up()
    print(llm.run(prompt="What is the meaning of life?"))
    # Output: {'replies': ['42']}
    ```
    """

    _model_setting: ClassVar[ModelSetting] = "generation_model_setting"
    _capability: ClassVar[Capability] = "generation"
    _model = sdk_attribute("gradientai BaseModel / ModelAdapter")

    def __init__(
        self,
        *,
        access_token: SecretInput = HaystackSecret.from_env_var("GRADIENT_ACCESS_TOKEN"),
        base_model_slug: str | None = None,
        host: str | None = None,
        max_generated_token_count: int | None = None,
        model_adapter_id: str | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        workspace_id: SecretInput = HaystackSecret.from_env_var("GRADIENT_WORKSPACE_ID"),
    ) -> None:
        """Create a GradientGenerator component. Secrets are resolved here; no request is sent.

        Exactly one of ``base_model_slug`` and ``model_adapter_id`` must be given (an empty string
        counts as not given). The other values are checked when they are used, as in 0.4.0: the
        adapter id at ``warm_up()``, the generation parameters at ``run()``.

        :param access_token: the Gradient access token (default: env ``GRADIENT_ACCESS_TOKEN``).
        :param base_model_slug: the base model to use (e.g. ``llama2-7b-chat``).
        :param host: the API URL including ``/api`` (default: env ``GRADIENT_API_URL`` or
            ``https://api.gradient.ai/api``).
        :param max_generated_token_count: the maximum number of tokens to generate (1 to 511).
        :param model_adapter_id: the fine-tuned model adapter to use.
        :param temperature: the sampling temperature.
        :param top_k: top-k sampling.
        :param top_p: nucleus sampling.
        :param workspace_id: the Gradient workspace id (default: env ``GRADIENT_WORKSPACE_ID``).
        :raises ValueError: if neither or both of ``base_model_slug`` and ``model_adapter_id`` are
            given, or a secret cannot be resolved.
        """
        self.base_model_slug = base_model_slug
        self.model_adapter_id = model_adapter_id
        self.max_generated_token_count = max_generated_token_count
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        has_base_model_slug = base_model_slug is not None and base_model_slug != ""
        has_model_adapter_id = model_adapter_id is not None and model_adapter_id != ""
        if not has_base_model_slug and not has_model_adapter_id:
            raise ValueError("Either base_model_slug or model_adapter_id must be provided.")
        if has_base_model_slug and has_model_adapter_id:
            raise ValueError("Only one of base_model_slug or model_adapter_id must be provided.")
        model = {"base_model_slug": base_model_slug} if has_base_model_slug else {"model_adapter_id": model_adapter_id}
        self._init_gradient(access_token=access_token, workspace_id=workspace_id, host=host, settings=model)

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component as 0.4.0 did.

        :raises ValueError: if a secret is a token (it would be written to disk).
        """
        return default_to_dict(
            self,
            base_model_slug=self.base_model_slug,
            host=self.host,
            max_generated_token_count=self.max_generated_token_count,
            model_adapter_id=self.model_adapter_id,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            **self._secret_params(),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradientGenerator:
        """Deserialise the component (reads the dicts of 0.4.0 and of this class).

        :param data: the dict from :meth:`to_dict`.
        :returns: the component.
        """
        return cls._from_dict(data)

    def _options(self) -> dict[str, Any]:
        values = {
            "max_tokens": self.max_generated_token_count,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
        }
        return {key: value for key, value in values.items() if value is not None}

    @component.output_types(replies=list[str])
    def run(self, prompt: str) -> dict[str, Any]:
        """Query the model with the prompt.

        :param prompt: the prompt for the model.
        :returns: ``{"replies": [text]}``.
        :raises RuntimeError: if ``warm_up()`` was not called (also an AttributeError, as in 0.4.0).
        :raises ValueError: for a prompt that is not a non-empty string, or a generation parameter
            the API does not accept (before any request).
        :raises ProviderError: if the API fails (after the provider's retries of rate limits, 5xx,
            timeouts and connection errors); ``NotFoundError`` for an unknown model or adapter.
        """
        provider = self._warmed_provider(GeneratorNotWarmedUpError)
        if not isinstance(prompt, str):
            raise InvalidInputTypeError(f"GradientGenerator: the prompt must be a string, got {type(prompt).__name__}.")
        result = provider.generate(prompt, self._options())
        return {"replies": [result.text]}
