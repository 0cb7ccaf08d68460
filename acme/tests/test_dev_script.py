# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""`./dev help` is the list of commands a newcomer reads first: every command ./dev runs is in it.

`./dev help` prints its header before installing anything, so this takes milliseconds. What the commands do is tested
elsewhere: the demo by test_demo.py, the E2E commands and their Docker check by e2e_dry_run.py (`./dev env-dry-run`).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

DEV = Path(__file__).resolve().parents[2] / 'dev'


def dev_help() -> str:
    result = subprocess.run([str(DEV), 'help'], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def commands() -> list[str]:
    """The commands of ./dev's dispatching `case`, e.g. `env-start` of `  env-start | env-test)`."""
    dispatch = DEV.read_text().split('\ncase "$cmd" in\n', 1)[1]
    labels = re.findall(r'^  ([a-z][a-z -]*(?:\| *[a-z-]+ *)*)\)', dispatch, re.MULTILINE)
    names = [name.strip() for label in labels for name in label.split('|')]
    return [name for name in names if name not in ('help', '-h', '--help')]


def test_every_command_is_in_the_help():
    text = dev_help()

    assert {'test', 'demo', 'upload-assets', 'env-start', 'env-dry-run'} <= set(commands())
    missing = [name for name in commands() if not re.search(rf'\./dev[ |a-z-]* {name}\b', text)]
    assert not missing, f'./dev help does not mention {missing}'


def test_the_help_says_what_upload_assets_needs_and_how_long_the_tests_take():
    text = dev_help()

    assert re.search(r'\./dev upload-assets \[args\] +python -m tests\.upload_assets', text)
    for needed in ('DD_API_KEY', 'DD_APP_KEY', 'DD_SITE', '--api-url', '--dry-run'):
        assert needed in text
    assert 'About 6 minutes on 2 cores' in text
    assert 'DEV_ENVS=py3.13 ./dev test' in text
