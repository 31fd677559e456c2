"""``finmatch serve``: the HTTP API (FastAPI on uvicorn), and ``serve keys add|list|remove`` for its API keys.

Thin: options and printing here; the application in :mod:`finmatch_agents.serve`. FastAPI and uvicorn are the
optional ``serve`` extra, imported only when the server starts.
"""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer

from finmatch_agents.cli import common

app = typer.Typer(help="The engines and the analyst behind an HTTP API: matches, scores, questions, analyses "
                       "and reports under /v1 (see docs/serve.md). `serve keys` manages its API keys.",
                  invoke_without_command=True)
keys_app = typer.Typer(help="API keys of `finmatch serve`: stored hashed, shown once, with scopes.",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")

EXTRA = ("fastapi", "uvicorn", "prometheus_client")


def require_extra() -> None:
    from finmatch_agents.errors import MissingExtra

    missing = [m for m in EXTRA if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(f"finmatch serve needs {', '.join(missing)} (the 'serve' extra)",
                           hint="pip install 'finmatch-agents[serve]'")


def check_port(host: str, port: int) -> None:
    """A port another process listens on is a usage error now, not a traceback after the engines loaded."""
    import socket

    from finmatch_agents.errors import UsageError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UsageError(f"--host {host}: not an address this machine can listen on ({exc.strerror or exc})"
                         ) from None
    family, kind, _proto, _name, address = infos[0]
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise UsageError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc})",
                             hint="another process may be using it; choose another with --port") from None


@app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", envvar="FINMATCH_SERVE_HOST",
                                      help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, envvar="FINMATCH_SERVE_PORT",
                                      help="TCP port.")] = 8765,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, envvar="FINMATCH_SERVE_WORKERS",
                                         help="Worker processes; each loads the engines once.")] = 1,
    docs: Annotated[bool, typer.Option("--docs/--no-docs", help="OpenAPI docs at /docs and /openapi.json.")] = True,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log",
                                             help="One log line per request on stderr (never a key).")] = True,
    db: common.DbOpt = None,
    table: common.TableOpt = None,
) -> None:
    """Serve the HTTP API until stopped (Ctrl-C or SIGTERM).

    Every route but /health needs `Authorization: Bearer KEY` (`finmatch serve keys add NAME`). The database is
    opened read-only. Limits: FINMATCH_SERVE_RATE_LIMIT (requests per minute per key), FINMATCH_SERVE_MAX_BODY,
    FINMATCH_SERVE_CORS (off by default).
    """
    if ctx.invoked_subcommand is not None:
        return
    require_extra()
    from finmatch_agents.serve.keys import read_keys
    from finmatch_agents.serve.server import WORKER_ENV, run

    s = common.settings(db=db, table=table)
    from finmatch_agents.warehouse.engine import require_duckdb

    require_duckdb(s, "serve")
    check_port(host, port)
    common.ensure_database(s)
    keys = read_keys(s.state_dir)
    console = common.err()
    if not keys:
        console.print("note: no API key yet, so every route but /health answers 401; create one with "
                      "`finmatch serve keys add NAME`", markup=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"note: listening on {host}: put TLS in front (a reverse proxy); keys travel in headers",
                      markup=False)
    env = {name: str(value) for name, value in zip(WORKER_ENV, (s.config_path, s.db, s.state_dir, s.reports_dir,
                                                                s.model, s.table), strict=True)}
    console.print(f"finmatch serve: http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''}; "
                  f"db {s.db} read-only; docs {'/docs' if docs else 'off'})", markup=False)
    run(s, host=host, port=port, workers=workers, docs=docs, access_log=access_log, worker_env=env)


ScopeOpt = Annotated[list[str] | None, typer.Option(
    "--scope", metavar="SCOPE", show_default=False,
    help="read (default), feedback, analyze; repeat or separate with commas.")]


@keys_app.command("add")
def add(name: Annotated[str, typer.Argument(help="A name for the key (who uses it).", show_default=False)],
        scopes: ScopeOpt = None,
        rate_limit: Annotated[int | None, typer.Option("--rate-limit", min=0, show_default=False, metavar="N",
                                                       help="Requests per minute for this key (0 = no limit; "
                                                            "default: the server's FINMATCH_SERVE_RATE_LIMIT).")]
        = None,
        json_out: common.JsonOpt = False) -> None:
    """Create a key and print it once (only its SHA-256 is stored)."""
    from finmatch_agents.serve.keys import add_key

    common.want_json(json_out)
    s = common.settings()
    chosen = [x.strip() for v in (scopes or ["read"]) for x in v.split(",") if x.strip()]
    entry, key = add_key(s.state_dir, name, chosen, rate_limit=rate_limit)
    if json_out:
        common.emit_json({**entry.public(), "key": key})
        return
    common.out().print(key, markup=False, highlight=False)
    common.err().print(f"key '{entry.name}' ({', '.join(entry.scopes)}) created; it is shown only now: keep it "
                       f"in a secret store. Use it as `Authorization: Bearer KEY`.", markup=False)


@keys_app.command("list")
def list_keys(json_out: common.JsonOpt = False) -> None:
    """The keys: name, id, scopes, created (never the key or its hash)."""
    from rich.table import Table

    from finmatch_agents.serve.keys import read_keys

    common.want_json(json_out)
    keys = [k.public() for k in read_keys(common.settings().state_dir)]
    if json_out:
        common.emit_json(keys)
        return
    if not keys:
        common.out().print("No API keys. Create one with `finmatch serve keys add NAME`.", markup=False)
        return
    view = Table(title="API keys", title_justify="left")
    for col in ("name", "id", "scopes", "rate/min", "created (UTC)"):
        view.add_column(col)
    for k in keys:
        rate = "server's" if k["rate_limit"] is None else ("none" if k["rate_limit"] == 0 else str(k["rate_limit"]))
        view.add_row(k["name"], k["key_id"], ", ".join(k["scopes"]), rate, k["created_at"][:16].replace("T", " "))
    common.out().print(view)


@keys_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The key's name.", show_default=False)]) -> None:
    """Remove a key; a running server refuses it within a second."""
    from finmatch_agents.serve.keys import remove_key

    entry = remove_key(common.settings().state_dir, name)
    common.err().print(f"key '{entry.name}' removed", markup=False)
