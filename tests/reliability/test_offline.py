"""A full render with every socket refused: audiogen needs no network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import render_one_minute

BLOCKER = """
import socket

def _refuse(*args, **kwargs):
    raise OSError("network access attempted during an offline test")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""


def test_render_with_network_disabled(tmp_path: Path):
    site = tmp_path / "site"
    site.mkdir()
    # sitecustomize runs in every Python process, the spawned speech worker included.
    (site / "sitecustomize.py").write_text(BLOCKER)
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(root)]))
    check = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 9))"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert "network access attempted" in check.stderr, "the blocker must be active"
    result = render_one_minute(tmp_path, env)
    assert result.returncode == 0, result.stderr
    produced = Path(result.stdout.strip().splitlines()[-1])
    assert produced.exists() and produced.stat().st_size > 100_000
