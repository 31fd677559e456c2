"""The model registry: named OpenAI-compatible endpoints from finmatch.toml and the environment.

```toml
[models.local-llama]
base_url = "http://127.0.0.1:8080/v1"   # any OpenAI-compatible server (OpenAI, Azure, Databricks, Ollama, vLLM...)
model = "llama-3.1-8b-instruct"
api_key_env = "LLAMA_API_KEY"            # the NAME of the env var holding the key (never the key itself)
temperature = 0.0
max_tokens = 2000
timeout = 30                             # seconds per request
extra_body = { top_k = 20 }              # passed through in the request body
streaming = false
input_price = 0.15                       # optional, per 1M tokens, for cost estimates
output_price = 0.60
```

A name that is not configured is an OpenAI model id when ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set (so
``FINMATCH_MODEL=gpt-4o-mini`` just works). Keys are read from the environment at call time and never
printed, logged or stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finmatch_agents.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from finmatch_agents.config import Settings

OFFLINE = "offline"
OPENAI_BASE_URL = "https://api.openai.com/v1"
KNOWN_KEYS = {"base_url", "model", "api_key_env", "temperature", "max_tokens", "timeout", "extra_body", "streaming",
              "input_price", "output_price", "max_retries", "headers", "tools", "context_tokens"}
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class ModelConfig:
    name: str
    base_url: str
    model: str
    api_key_env: str | None = None
    temperature: float = 0.0
    max_tokens: int = 2000
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_RETRIES
    streaming: bool = False
    tools: bool = True  # whether to offer tool calling (some local servers lack it)
    context_tokens: int = 16_000  # chat history is trimmed to this budget (system prompt always kept)
    extra_body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    input_price: float | None = None  # per 1M tokens
    output_price: float | None = None
    source: str = "config"  # config | env

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    @property
    def key_present(self) -> bool:
        return bool(self.api_key())

    def cost(self, input_tokens: int, output_tokens: int) -> float | None:
        if self.input_price is None and self.output_price is None:
            return None
        return round(((self.input_price or 0) * input_tokens + (self.output_price or 0) * output_tokens) / 1e6, 6)

    def public(self) -> dict[str, Any]:
        """What `models list` shows: everything but the key (only whether it is present)."""
        return {"name": self.name, "model": self.model, "base_url": self.base_url, "api_key_env": self.api_key_env,
                "key_present": self.key_present, "timeout": self.timeout, "streaming": self.streaming,
                "tools": self.tools, "source": self.source}


def _number(name: str, key: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"[models.{name}] {key}: expected a number, got {value!r}")
    return kind(value)


def _from_table(name: str, table: dict[str, Any]) -> ModelConfig:
    unknown = set(table) - KNOWN_KEYS
    if unknown:
        raise ConfigError(f"[models.{name}] {sorted(unknown)[0]}: unknown key; known: {', '.join(sorted(KNOWN_KEYS))}")
    for required in ("base_url", "model"):
        if not isinstance(table.get(required), str) or not table[required]:
            raise ConfigError(f"[models.{name}] {required} is required (a string)")
    key_env = table.get("api_key_env")
    if key_env is not None and (not isinstance(key_env, str) or not key_env.replace("_", "").isalnum()):
        raise ConfigError(f"[models.{name}] api_key_env must be the NAME of an environment variable, "
                          "not the key itself")
    for key in ("extra_body", "headers"):
        if not isinstance(table.get(key, {}), dict):
            raise ConfigError(f"[models.{name}] {key} must be a table")
    return ModelConfig(
        name=name, base_url=table["base_url"].rstrip("/"), model=table["model"], api_key_env=key_env,
        temperature=_number(name, "temperature", table.get("temperature", 0.0), float),
        max_tokens=_number(name, "max_tokens", table.get("max_tokens", 2000), int),
        timeout=_number(name, "timeout", table.get("timeout", DEFAULT_TIMEOUT), float),
        max_retries=_number(name, "max_retries", table.get("max_retries", DEFAULT_RETRIES), int),
        streaming=bool(table.get("streaming", False)), tools=bool(table.get("tools", True)),
        context_tokens=_number(name, "context_tokens", table.get("context_tokens", 16_000), int),
        extra_body=dict(table.get("extra_body", {})),
        headers={str(k): str(v) for k, v in table.get("headers", {}).items()},
        input_price=_number(name, "input_price", table["input_price"], float) if "input_price" in table else None,
        output_price=_number(name, "output_price", table["output_price"], float) if "output_price" in table else None,
    )


def configured_models(settings: Settings) -> dict[str, ModelConfig]:
    models = settings.section("models")
    out: dict[str, ModelConfig] = {}
    for name, table in models.items():
        if not isinstance(table, dict):
            raise ConfigError(f"[models.{name}] must be a table")
        if name == OFFLINE:
            raise ConfigError("[models.offline]: 'offline' is the built-in offline analyst; pick another name")
        out[name] = _from_table(name, table)
    return out


def resolve_model(name: str, settings: Settings) -> ModelConfig:
    models = configured_models(settings)
    if name in models:
        return models[name]
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return ModelConfig(name=name, base_url=os.environ.get("OPENAI_BASE_URL", OPENAI_BASE_URL).rstrip("/"),
                           model=name, api_key_env="OPENAI_API_KEY", source="env")
    known = ", ".join([OFFLINE, *models]) or OFFLINE
    raise UsageError(f"--model: unknown model '{name}' (configured: {known})",
                     hint="add [models.NAME] to finmatch.toml (see examples/finmatch.toml) or set OPENAI_API_KEY")


def build_chat_model(cfg: ModelConfig) -> BaseChatModel:
    """A LangChain chat model for ``cfg``. Retries are ours (see calls.py), so the client's are off; the
    timeout is a total deadline per call (``transport.DeadlineTransport``), not a per-read one."""
    import httpx  # start-up speed: the HTTP client and LangChain's OpenAI model load only when a model is used
    from langchain_openai import ChatOpenAI  # start-up speed

    from finmatch_agents.llm.transport import DeadlineTransport  # start-up speed (imports httpx)

    # OpenAI itself wants max_completion_tokens; most compatible servers (Ollama, vLLM, Databricks) max_tokens
    openai_host = "api.openai.com" in cfg.base_url or ".openai.azure.com" in cfg.base_url
    extra = dict(cfg.extra_body)
    if not openai_host:
        extra.setdefault("max_tokens", cfg.max_tokens)
    return ChatOpenAI(
        model=cfg.model, base_url=cfg.base_url, api_key=cfg.api_key() or "not-needed",  # type: ignore[arg-type]
        temperature=cfg.temperature, max_completion_tokens=cfg.max_tokens if openai_host else None,
        timeout=cfg.timeout, max_retries=0, streaming=cfg.streaming, stream_usage=cfg.streaming or None,
        extra_body=extra or None, default_headers=cfg.headers or None,
        http_client=httpx.Client(transport=DeadlineTransport(cfg.timeout), timeout=cfg.timeout),
    )
