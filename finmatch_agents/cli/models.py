"""``finmatch models``: the configured model endpoints (never their keys) and a one-call health check."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from finmatch_agents.cli import common

app = typer.Typer(help="Model endpoints: `models list` and `models test NAME`.", no_args_is_help=True)


@app.command("list")
def list_models(json_out: common.JsonOpt = False) -> None:
    """Configured models ([models.NAME] in finmatch.toml) and whether each one's key is present."""
    from rich.table import Table

    from finmatch_agents.llm.models import OFFLINE, configured_models

    common.want_json(json_out)
    s = common.settings()
    models = [m.public() for m in configured_models(s).values()]
    rows = [{"name": OFFLINE, "model": "deterministic rules", "base_url": "", "api_key_env": None,
             "key_present": True, "source": "built-in"}, *models]
    if json_out:
        common.emit_json({"default": s.model, "models": rows})
        return
    view = Table(title=f"Models (default: {s.model})", title_justify="left")
    for col in ("name", "model", "endpoint", "key", "streaming", "tools"):
        view.add_column(col, overflow="fold")
    for m in rows:
        key = "—" if not m["api_key_env"] else (f"[green]{m['api_key_env']} set[/]" if m["key_present"]
                                                 else f"[yellow]{m['api_key_env']} missing[/]")
        view.add_row(m["name"], m["model"], m["base_url"], key, str(m.get("streaming", "")), str(m.get("tools", "")))
    common.out().print(view)
    if not models:
        common.out().print("[dim]No models configured. Copy entries from examples/finmatch.toml into "
                           "./finmatch.toml; keys go in environment variables.[/]")


@app.command("test")
def test_model(
    name: Annotated[str, typer.Argument(help="A configured model name (see `models list`).", show_default=False)],
    json_out: common.JsonOpt = False,
) -> None:
    """Make one tiny call: latency, token usage and whether tool calling works. Exit 4 if the endpoint fails."""
    from finmatch_agents.errors import ModelError, UsageError
    from finmatch_agents.llm.calls import ModelCallError, call_with_retries
    from finmatch_agents.llm.models import OFFLINE, build_chat_model, resolve_model

    common.want_json(json_out)
    if name == OFFLINE:
        raise UsageError("'offline' is the built-in analyst; there is no endpoint to test")
    cfg = resolve_model(name, common.settings())
    if cfg.api_key_env and not cfg.key_present:
        raise ModelError(f"{cfg.name}: the environment variable {cfg.api_key_env} is not set",
                         hint=f"export {cfg.api_key_env}=... (the key itself never goes in finmatch.toml)")
    chat = build_chat_model(cfg)
    ping = {"type": "function", "function": {"name": "ping", "description": "Answer the health check.",
                                             "parameters": {"type": "object", "properties": {
                                                 "status": {"type": "string"}}, "required": ["status"]}}}
    report: dict[str, Any] = {"name": cfg.name, "model": cfg.model, "base_url": cfg.base_url}
    started = time.perf_counter()
    try:
        reply, record = call_with_retries(lambda: chat.invoke("Reply with the single word: ok"), cfg,
                                          prompt_chars=30, budget=None)
        report.update(ok=True, latency_ms=record.latency_ms, attempts=record.attempts,
                      tokens=record.usage.total, estimated_tokens=record.usage.estimated,
                      reply=str(reply.content)[:80])
        try:
            tool_reply, _ = call_with_retries(
                lambda: chat.bind_tools([ping], tool_choice="ping").invoke("Call ping with status ok."), cfg,
                prompt_chars=40, budget=None)
            report["tool_calling"] = bool(getattr(tool_reply, "tool_calls", None))
        except ModelCallError as exc:
            report["tool_calling"] = False
            report["tool_error"] = exc.message
    except ModelCallError as exc:
        report.update(ok=False, latency_ms=round((time.perf_counter() - started) * 1000, 1), error=exc.message)
        if json_out:
            common.emit_json(report)
        raise
    if json_out:
        common.emit_json(report)
        return
    tools = "yes" if report["tool_calling"] else "no (the analyst will ask for JSON instead; set tools = false)"
    common.out().print(f"[green]{cfg.name} answered[/] in {report['latency_ms']:.0f} ms ({report['attempts']} "
                       f"attempt(s), {report['tokens']} tokens{' estimated' if report['estimated_tokens'] else ''})."
                       f"\nTool calling: {tools}")
