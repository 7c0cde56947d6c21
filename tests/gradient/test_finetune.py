"""Fine-tuning on cassettes: create an adapter, train it from a JSONL file, generate with it through
``model_adapter_id``, list, delete -- with the provider API and with ``hayswitch finetune``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from gradient_support import BASE_SLUG, CASSETTES, recorded_host
from typer.testing import CliRunner

import hayswitch
from hayswitch import NO_RETRY, FineTuning, NotFoundError
from hayswitch.cli import build_app
from hayswitch.finetune import load_samples_jsonl
from hayswitch.testing import use_cassette
from hayswitch_gradient import GradientProvider

pytestmark = pytest.mark.cassette

SAMPLES = [
    {"inputs": "### Instruction: Who maintains hayswitch?\n\n### Response: The hayswitch developers."},
    {"inputs": "### Instruction: What does hayswitch switch?\n\n### Response: Model providers.", "multiplier": 2.0},
    {"inputs": "### Instruction: Is the emulator a real model?\n\n### Response: No, it is deterministic."},
]


def write_jsonl(path: Path) -> Path:
    path.write_text("".join(json.dumps(s) + "\n" for s in SAMPLES), encoding="utf-8")
    return path


@pytest.mark.usefixtures("cassette_env")
def test_fine_tuning_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = load_samples_jsonl(write_jsonl(tmp_path / "samples.jsonl"))
    with use_cassette(GradientProvider, CASSETTES, "finetune_flow"):
        tuner = hayswitch.get_provider("gradient", host=recorded_host(), retry=NO_RETRY)
        assert isinstance(tuner, FineTuning)
        assert type(tuner).capabilities.fine_tuning
        adapter = tuner.create_adapter(base_model=BASE_SLUG, name="support-bot", rank=8, learning_rate=0.0001)
        assert len(adapter.id) == 50
        assert adapter.name == "support-bot"

        report = tuner.fine_tune(adapter.id, samples, batch_size=2, progress_bar=True)
        assert report.samples == 3
        assert report.steps == 2
        assert report.trainable_tokens > 0
        assert report.loss is not None
        assert report.loss > 0
        assert "Fine-tuning" in capsys.readouterr().err  # the tqdm bar over samples

        listed = {a.id: a for a in tuner.list_adapters()}
        assert listed[adapter.id].base_model == BASE_SLUG
        assert tuner.get_adapter(adapter.id).name == "support-bot"

        generator = hayswitch.get_provider(
            "gradient", host=recorded_host(), model_adapter_id=adapter.id, retry=NO_RETRY
        )
        reply = generator.generate("### Instruction: Who maintains hayswitch?")
        assert reply.text.strip() == "### Response: The hayswitch developers."
        assert reply.model == adapter.id

        tuner.delete_adapter(adapter.id)
        with pytest.raises(NotFoundError):
            tuner.get_adapter(adapter.id)
        assert adapter.id not in {a.id for a in tuner.list_adapters()}


@pytest.mark.usefixtures("cassette_env")
def test_finetune_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    samples = write_jsonl(tmp_path / "samples.jsonl")
    monkeypatch.setenv("HAYSWITCH_GRADIENT__HOST", recorded_host())
    runner = CliRunner()
    app = build_app()
    with use_cassette(GradientProvider, CASSETTES, "finetune_cli"):
        created = runner.invoke(
            app, ["finetune", "create-adapter", "-p", "gradient", "--base-model", BASE_SLUG, "--name", "cli-bot"]
        )
        assert created.exit_code == 0, created.output
        match = re.search(r"([0-9a-f-]{36}_model_adapter)", created.output)
        assert match, created.output
        adapter_id = match.group(1)

        trained = runner.invoke(
            app, ["finetune", "train", adapter_id, str(samples), "-p", "gradient", "--batch-size", "8", "--json"]
        )
        assert trained.exit_code == 0, trained.output
        report = json.loads(trained.stdout.strip().splitlines()[-1])
        assert report["samples"] == 3
        assert report["steps"] == 1

        listed = runner.invoke(app, ["finetune", "list", "-p", "gradient", "--json"])
        assert listed.exit_code == 0, listed.output
        assert adapter_id in {row["id"] for row in json.loads(listed.stdout)}

        deleted = runner.invoke(app, ["finetune", "delete", adapter_id, "-p", "gradient", "--yes"])
        assert deleted.exit_code == 0, deleted.output

        missing = runner.invoke(app, ["finetune", "get", adapter_id, "-p", "gradient"])
        assert missing.exit_code == 4  # a provider error, reported without a traceback
        assert "Not found" in missing.output


def test_finetune_cli_refuses_providers_without_fine_tuning(tmp_path: Path) -> None:
    result = CliRunner().invoke(build_app(), ["finetune", "list", "-p", "fake"])
    assert result.exit_code == 2
    assert "does not support fine-tuning" in result.output


def test_finetune_cli_reports_bad_samples_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"inputs": "ok"}\n{"text": "wrong key"}\n', encoding="utf-8")
    result = CliRunner().invoke(build_app(), ["finetune", "train", "x" * 50, str(bad), "-p", "gradient"])
    assert result.exit_code == 3
    assert "bad.jsonl:2" in result.output
