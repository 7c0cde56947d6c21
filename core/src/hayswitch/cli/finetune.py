"""``hayswitch finetune ...``: manage and train model adapters on any provider implementing
:class:`hayswitch.FineTuning` (today: ``gradient``).

::

    hayswitch finetune create-adapter --provider gradient --base-model nous-hermes2 --name support-bot --rank 8
    hayswitch finetune train <adapter-id> samples.jsonl --provider gradient --batch-size 8
    hayswitch finetune list --provider gradient
    hayswitch finetune get <adapter-id> --provider gradient
    hayswitch finetune delete <adapter-id> --provider gradient --yes

The samples file holds one JSON object per line, ``{"inputs": "<prompt and answer>"}`` with an
optional ``"multiplier"``. Training shows a progress bar over the samples (``--no-progress`` hides
it). Provider settings come from the usual configuration (``--provider`` / ``--profile``,
``HAYSWITCH_<PROVIDER>__<SETTING>``, ``hayswitch.toml``) plus ``--set key=value``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from hayswitch.cli._common import EXIT_CONFIG, fail, friendly_errors
from hayswitch.finetune import AdapterInfo, FineTuning, load_samples_jsonl

__all__ = ["register"]


def _parse_sets(values: list[str] | None) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise fail(f"--set expects key=value, got {item!r}.", EXIT_CONFIG)
        try:
            settings[key.strip()] = json.loads(raw)
        except ValueError:
            settings[key.strip()] = raw
    return settings


def _fine_tuner(provider: str | None, profile: str | None, sets: list[str] | None) -> Any:
    """Create the configured provider and check it can fine-tune."""
    from hayswitch.api import get_provider

    instance = get_provider(provider, profile=profile, **_parse_sets(sets))
    if not isinstance(instance, FineTuning):
        instance.close()
        raise fail(
            f"Provider {instance.name!r} does not support fine-tuning. Use a provider that implements it "
            "(e.g. --provider gradient); 'hayswitch providers' lists capabilities.",
            EXIT_CONFIG,
        )
    return instance


def _adapter_row(info: AdapterInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "base_model": info.base_model,
        "updated_at": info.updated_at.isoformat() if info.updated_at else None,
    }


def register(app: typer.Typer) -> None:
    """Add the ``finetune`` command group to ``app``."""
    group = typer.Typer(
        name="finetune",
        help="Create, train, list and delete fine-tuned model adapters (providers with fine-tuning).",
        no_args_is_help=True,
    )
    provider_opt = typer.Option(None, "--provider", "-p", help="Provider (default: configured).")
    profile_opt = typer.Option(None, "--profile", help="A profile of hayswitch.toml.")
    set_opt = typer.Option(None, "--set", help="Provider setting key=value (repeatable).")
    json_opt = typer.Option(False, "--json", help="Print JSON.")

    @group.command("create-adapter")
    def create_adapter(
        base_model: str = typer.Option(..., "--base-model", "-b", help="Base model slug or id (e.g. nous-hermes2)."),
        name: str = typer.Option(..., "--name", "-n", help="Name of the new adapter."),
        rank: int | None = typer.Option(None, "--rank", min=1, help="LoRA rank (provider limits apply)."),
        learning_rate: float | None = typer.Option(None, "--learning-rate", help="Learning rate (0 < lr < 1)."),
        provider: str | None = provider_opt,
        profile: str | None = profile_opt,
        sets: list[str] | None = set_opt,
        as_json: bool = json_opt,
    ) -> None:
        """Create a new adapter on a base model and print its id."""
        with friendly_errors():
            tuner = _fine_tuner(provider, profile, sets)
            try:
                info = tuner.create_adapter(base_model=base_model, name=name, rank=rank, learning_rate=learning_rate)
            finally:
                tuner.close()
        if as_json:
            typer.echo(json.dumps(_adapter_row(info)))
        else:
            typer.echo(f"Created adapter {info.name!r} on {info.base_model}: {info.id}")

    @group.command("train")
    def train(
        adapter_id: str = typer.Argument(..., help="The adapter to train."),
        samples: Path = typer.Argument(..., help='JSONL file, one {"inputs": "..."} object per line.'),
        batch_size: int = typer.Option(8, "--batch-size", min=1, help="Samples per training request."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar over samples."),
        provider: str | None = provider_opt,
        profile: str | None = profile_opt,
        sets: list[str] | None = set_opt,
        as_json: bool = json_opt,
    ) -> None:
        """Fine-tune an adapter on the samples of a JSONL file."""
        with friendly_errors():
            items = load_samples_jsonl(samples)
            tuner = _fine_tuner(provider, profile, sets)
            try:
                report = tuner.fine_tune(adapter_id, items, batch_size=batch_size, progress_bar=progress)
            finally:
                tuner.close()
        if as_json:
            typer.echo(report.model_dump_json())
            return
        loss = f"{report.loss:.4f}" if report.loss is not None else "n/a"
        typer.echo(
            f"Trained {report.adapter_id} on {report.samples} samples in {report.steps} steps: "
            f"{report.trainable_tokens} trainable tokens, mean loss {loss}."
        )

    @group.command("list")
    def list_adapters(
        provider: str | None = provider_opt,
        profile: str | None = profile_opt,
        sets: list[str] | None = set_opt,
        as_json: bool = json_opt,
    ) -> None:
        """List the adapters visible to the configured credentials."""
        with friendly_errors():
            tuner = _fine_tuner(provider, profile, sets)
            try:
                adapters = tuner.list_adapters()
            finally:
                tuner.close()
        rows = [_adapter_row(a) for a in adapters]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        if not rows:
            typer.echo("No adapters. Create one with 'hayswitch finetune create-adapter'.")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="adapters")
        for column in ("id", "name", "base_model", "updated_at"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(str(row[c] or "-") for c in ("id", "name", "base_model", "updated_at")))
        Console(soft_wrap=False, width=160).print(table)

    @group.command("get")
    def get_adapter(
        adapter_id: str = typer.Argument(..., help="The adapter to describe."),
        provider: str | None = provider_opt,
        profile: str | None = profile_opt,
        sets: list[str] | None = set_opt,
    ) -> None:
        """Describe one adapter (JSON)."""
        with friendly_errors():
            tuner = _fine_tuner(provider, profile, sets)
            try:
                info = tuner.get_adapter(adapter_id)
            finally:
                tuner.close()
        typer.echo(json.dumps(_adapter_row(info), indent=2))

    @group.command("delete")
    def delete_adapter(
        adapter_id: str = typer.Argument(..., help="The adapter to delete."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
        provider: str | None = provider_opt,
        profile: str | None = profile_opt,
        sets: list[str] | None = set_opt,
    ) -> None:
        """Delete an adapter (asks for confirmation unless --yes)."""
        if not yes and not typer.confirm(f"Delete adapter {adapter_id}?"):
            raise typer.Exit(1)
        with friendly_errors():
            tuner = _fine_tuner(provider, profile, sets)
            try:
                tuner.delete_adapter(adapter_id)
            finally:
                tuner.close()
        typer.echo(f"Deleted adapter {adapter_id}.")

    app.add_typer(group)
