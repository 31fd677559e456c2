"""The commands: `finmatch serve` as its own process (uvicorn, access log, clean stop), and `serve keys`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from tests.serve.conftest import Served


def test_finmatch_serve_runs_the_api_and_stops_cleanly(served: Served) -> None:
    s = served.settings
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "FINMATCH_DB": str(s.db), "FINMATCH_STATE_DIR": str(s.state_dir),
           "FINMATCH_CONFIG": str(s.config_path), "FINMATCH_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "finmatch_agents", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600  # imports and the engines' load; minutes on a loaded machine
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert health.json()["status"] == "ok" and health.json()["engines"]["match"]["available"]
        headers = {"Authorization": f"Bearer {served.keys['reader']}"}
        r = httpx.get(f"http://127.0.0.1:{port}/v1/customers/C0000042/scores", headers=headers, timeout=30)
        assert r.status_code == 200 and r.json()["scores"]["conversion"]["rows"]
        assert httpx.get(f"http://127.0.0.1:{port}/docs", timeout=10).status_code == 200
        assert "/v1/customers/{customer_id}/matches" in httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()[
            "paths"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    # uvicorn finishes the requests and the shutdown, then re-raises SIGTERM: the usual exit of a stopped
    # service (systemd counts it as clean)
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Application shutdown complete" in err and "Finished server process" in err
    assert f"http://127.0.0.1:{port}" in err and "read-only" in err
    assert "GET /v1/customers/C0000042/scores 200" in err and "key=reader" in err
    assert served.keys["reader"] not in err + out and "Traceback" not in err


def test_a_port_in_use_is_a_usage_error(served: Served, cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = cli("serve", "--port", str(busy.getsockname()[1]), "--db", served.settings.db)
    assert result.exit_code == 2 and "--port" in result.stderr and "Traceback" not in result.stderr


def test_keys_are_shown_once_stored_hashed_and_removable(cli, tmp_path) -> None:
    import stat

    added = cli("serve", "keys", "add", "crm", "--scope", "read,feedback", "--json")
    assert added.exit_code == 0, added.stderr
    entry = json.loads(added.stdout)
    key = entry["key"]
    assert key.startswith(f"fmk_{entry['key_id']}_") and entry["scopes"] == ["read", "feedback"]
    stored = (tmp_path / "data" / "serve-keys.json")
    assert key not in stored.read_text() and stat.S_IMODE(stored.stat().st_mode) == 0o600
    listed = cli("serve", "keys", "list", "--json")
    assert [k["name"] for k in json.loads(listed.stdout)] == ["crm"] and key not in listed.stdout
    assert "digest" not in listed.stdout
    again = cli("serve", "keys", "add", "crm")
    assert again.exit_code == 2 and "exists" in again.stderr
    bad = cli("serve", "keys", "add", "x", "--scope", "admin")
    assert bad.exit_code == 2 and "admin" in bad.stderr
    assert cli("serve", "keys", "remove", "crm").exit_code == 0
    assert json.loads(cli("serve", "keys", "list", "--json").stdout) == []
    assert cli("serve", "keys", "remove", "crm").exit_code == 2
