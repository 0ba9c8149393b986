"""`lipdub serve` refuses to start open or useless; the running server is tested in
tests/lipdub/api/serve (inside a private network namespace)."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from jobs.cli import app

runner = CliRunner()


def test_serve_refuses_to_start_without_tokens_or_prefixes(monkeypatch) -> None:
    monkeypatch.delenv("LIPDUB_API_TOKENS", raising=False)
    result = runner.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 2
    for needle in ("LIPDUB_API_TOKENS", "api.input_prefixes", "api.output_root"):
        assert needle in result.output


def test_serve_names_a_bad_config(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LIPDUB_API_TOKENS", "t")
    config = tmp_path / "api.yaml"
    config.write_text("api: {input_prefixes: [/data/in], output_root: /tmp/out, no_such_key: 1}\n")
    result = runner.invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "bad config" in result.output and "no_such_key" in result.output


def test_serve_refuses_relative_prefixes(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LIPDUB_API_TOKENS", "t")
    config = tmp_path / "api.yaml"
    config.write_text("api: {input_prefixes: [relative/folder], output_root: /tmp/out}\n")
    result = runner.invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "api.input_prefixes" in result.output and "relative/folder" in result.output
