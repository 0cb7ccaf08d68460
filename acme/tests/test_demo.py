# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""`./dev demo`: the real check against the sandbox, with cursors on disk so a rerun resumes."""

import re
import socket
import subprocess
import sys
from pathlib import Path


def run_demo(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, '-m', 'tests.demo', '--fast', '--runs', '1', *args],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def logs_in_first_run(output: str) -> int:
    return int(re.search(r'^run 1: (\d+) logs', output, re.MULTILINE).group(1))


def test_a_rerun_resumes_from_the_cursors_on_disk(tmp_path):
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = str(probe.getsockname()[1])
    state = str(tmp_path / 'cursors.json')

    first = run_demo('--sandbox-port', port, '--state', state)
    second = run_demo('--sandbox-port', port, '--state', state)

    # The first run reads the last hour of the sandbox's history; the rerun only what came after its cursors.
    assert logs_in_first_run(first) > 1000
    assert logs_in_first_run(second) < logs_in_first_run(first) / 10
    for output in (first, second):
        assert re.search(r'prod-web +submitted +\d+ +skipped +\d+ +cursor \S+Z .*lag \d+ s', output)
        assert '"ddsource": "acme"' in output
