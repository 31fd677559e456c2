"""Fixtures for model tests: a local OpenAI-protocol server and a finmatch.toml that points at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, analyst_responder

KEY = "sk-test-do-not-print-0123456789"


def write_config(path: Path, base_url: str, **extra: object) -> None:
    values: dict[str, object] = {"base_url": f'"{base_url}"', "model": '"fake-model"', "api_key_env": '"LOCAL_KEY"',
                                 "timeout": 2, "max_retries": 2, "input_price": 1.0, "output_price": 2.0, **extra}
    lines = ["[models.local]"] + [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def server(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """A local server playing a well-behaved analyst, configured as model `local` in ./finmatch.toml."""
    monkeypatch.setenv("LOCAL_KEY", KEY)
    with FakeOpenAI(analyst_responder) as fake:
        write_config(isolated / "finmatch.toml", fake.base_url)
        yield fake


def configure(isolated: Path, server: FakeOpenAI, **extra: object) -> None:
    write_config(isolated / "finmatch.toml", server.base_url, **extra)
