"""``multipas-box`` as a service would run it: a child process, signals, exit codes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import child_env, wait_for

EXAMPLE = Path(__file__).resolve().parent.parent / "multipas-box.example.toml"
SERVICE = Path(__file__).resolve().parent.parent / "systemd" / "multipas-box.service"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "multipas_box", *args],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_check_config() -> None:
    done = run_cli("--check-config", "--config", str(EXAMPLE))
    assert done.returncode == 0 and "ok (3 reader(s), 1 output(s))" in done.stdout


def test_bad_config_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nurl = "https://x"\n', encoding="utf-8")
    done = run_cli("--foreground", "--config", str(bad))
    assert done.returncode == 2 and "no device key" in done.stderr
    bad.write_text("[reader]\nname = 1\n", encoding="utf-8")
    done = run_cli("--config", str(bad))
    assert done.returncode == 2 and "use [[reader]]" in done.stderr


def test_background_needs_a_log_file(tmp_path: Path) -> None:
    cfg = tmp_path / "box.toml"
    cfg.write_text(f'[box]\ndata_dir = "{tmp_path}"\n', encoding="utf-8")
    done = run_cli("--config", str(cfg))
    assert done.returncode == 2 and "log_file" in done.stderr


def test_discover_lists_every_kind() -> None:
    done = run_cli("--discover")
    assert done.returncode == 0
    for kind in ("pcsc:", "keyboard:", "serial:", "simulated:"):
        assert kind in done.stdout


def test_foreground_run_and_sigterm(tmp_path: Path) -> None:
    cfg = tmp_path / "box.toml"
    cfg.write_text(
        f"""
[box]
data_dir = "{tmp_path / "data"}"
[local_api]
port = 0
[[reader]]
name = "sim"
kind = "simulated"
role = "till"
""",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "multipas_box", "--foreground", "--config", str(cfg)],
        env=child_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        lines = []
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            found = re.search(r"status page on (http://\S+)", line)
            url = found.group(1) if found else None
        assert url, "".join(lines)
        with urllib.request.urlopen(f"{url}/status.json", timeout=5) as resp:
            status = json.load(resp)
        wait_for(lambda: status["readers"][0]["name"] == "sim")
        request = urllib.request.Request(
            f"{url}/api/tap",
            data=json.dumps({"reader": "sim", "uid": "04A1B2C3"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert json.load(resp) == {"tapped": True}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        rest = proc.stderr.read()
        assert "multipas-box stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_systemd_unit_runs_in_foreground() -> None:
    text = SERVICE.read_text(encoding="utf-8")
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert "multipas-box --foreground --config /etc/multipas-box/multipas-box.toml" in exec_start
    assert "Restart=always" in text
