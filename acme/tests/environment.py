# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The E2E environment: the sandbox ACME server, and the config that points an Agent at it.

`./dev env-start` (`ddev --here env start acme py3.11 --dev`) calls the `dd_environment` fixture (conftest.py), which
enters `sandbox_environment()`; ddev then starts an Agent container with the config and metadata yielded here.
tests/e2e_dry_run.py checks what the Agent container gets from them, against a stub `docker`.

Why a Docker Compose service and not a sandbox process on the host:

- Lifetime. `ddev env start` runs the fixture in a pytest process that exits once the Agent is up, and
  `ddev env stop` tears the environment down from another pytest process. A container outlives the first and
  `docker compose down` (run by `docker_run` on stop) removes it; a host process would have to be daemonized and
  its PID handed from one pytest process to the other.
- Reach. ddev runs the Agent container with `--network host` (ddev/e2e/agent/docker.py), so on Linux both a host
  process and a published container port are at localhost. On Docker Desktop (macOS, Windows) "host" is the
  Docker VM: a process on the developer's machine is not at the Agent's localhost, while a published port is,
  in the VM as on the machine. This is the layout integrations-core's E2E environments use.
- Nothing to build: the sandbox is stdlib-only, so a stock python image runs it from the mounted tests/ folder.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from datadog_checks.dev import docker_run
from datadog_checks.dev.conditions import CheckDockerLogs
from datadog_checks.dev.docker import get_docker_hostname
from datadog_checks.dev.utils import find_free_port

COMPOSE_FILE = Path(__file__).parent / 'docker' / 'docker-compose.yaml'
# Must match the sandbox command in the compose file (tests/test_environment.py checks it).
TOKEN = 'sandbox-token-e2e'
STREAMS = ['prod-web', 'audit']
# Not `env:...`: the test aggregator refuses metrics tagged with generic names (env, host, service...).
TAGS = ['acme_env:sandbox']
LOG_SERVICE = 'acme-sandbox'
# Printed by `python -m tests.sandbox` once the backfilled history is loaded and the server listens.
READY_LINE = re.compile(r'ACME sandbox listening on http://\S+:\d+')
# Loading 20 hours of history for two streams takes about 30 s on a laptop; leave room for slower machines.
READY_ATTEMPTS = 240
# Passed to the Agent container: log collection is off by default in the Agent image.
AGENT_ENV_VARS = {'DD_LOGS_ENABLED': 'true'}


def e2e_instance(url: str) -> dict[str, Any]:
    return {'url': url, 'api_token': TOKEN, 'streams': list(STREAMS), 'tags': list(TAGS)}


def e2e_config(url: str) -> dict[str, Any]:
    """The Agent config for an ACME endpoint at `url`: the instance, plus the `logs` section.

    Without `logs`, the Agent has no log source for the check: send_log() drops every log while the cursors
    still move past them.
    """
    return {
        'init_config': {},
        'instances': [e2e_instance(url)],
        'logs': [{'type': 'integration', 'source': 'acme', 'service': LOG_SERVICE}],
    }


def e2e_metadata() -> dict[str, Any]:
    # ddev reads `env_vars` from the fixture's metadata and sets them on the Agent container
    # (ddev/cli/env/start.py, _get_agent_env_vars).
    return {'env_vars': dict(AGENT_ENV_VARS)}


@contextmanager
def sandbox_environment() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Run the sandbox in Docker Compose until the environment stops; yield (config, metadata) for ddev."""
    host = get_docker_hostname()
    port = find_free_port(host)
    with docker_run(
        compose_file=str(COMPOSE_FILE),
        env_vars={'ACME_SANDBOX_PORT': str(port)},
        conditions=[CheckDockerLogs(str(COMPOSE_FILE), [READY_LINE], attempts=READY_ATTEMPTS, wait=1)],
    ):
        yield e2e_config(f'http://{host}:{port}'), e2e_metadata()
