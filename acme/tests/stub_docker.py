# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""A stand-in for the `docker` CLI that records every call and answers like Docker would, without running anything.

tests/e2e_dry_run.py puts it on PATH as `docker` to run `./dev env-start`, `env-check`, `env-test` and `env-stop`
(ddev's E2E commands) on a machine without Docker. Stdlib only: any Python 3 runs it.

Each call appends one JSON line to `$STUB_DOCKER_STATE/calls.jsonl`: its argv (without `docker`), its cwd, the few
environment variables Docker Compose reads (COMPOSE_PROJECT_NAME, ACME_SANDBOX_PORT), and, for `run` and `restart`,
the files the Agent container would see under /etc/datadog-agent/conf.d (ddev mounts the check's config folder
there). Containers and Compose projects are kept in `$STUB_DOCKER_STATE/state.json`, so that `exec` into a container
that was never run fails as with Docker.

What the Agent in the container would answer:
- `agent check NAME --json` prints a check run whose runner reports an error, `stub docker: no Agent ran the check`:
  there is no Agent here, and datadog_checks.dev's dd_agent_check raises that error (rather than finding no metric).
- `agent status --json` prints `$STUB_DOCKER_AGENT_STATUS` (a file), the status the E2E test parses.
- `docker compose logs` prints `$STUB_DOCKER_COMPOSE_LOGS` (the services' output) once the project is up.
- `docker info` and `docker compose version`, which ./dev runs before ddev's env commands, answer as a working Docker;
  `$STUB_DOCKER_WITHOUT` (comma-separated: `daemon`, `compose`) makes them fail as Docker does without a daemon or
  without the Compose plugin.
Anything else it does not know fails with exit code 1, so that a new call shows up in the tests.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

COMPOSE_ENV = ('COMPOSE_PROJECT_NAME', 'ACME_SANDBOX_PORT')
# ddev mounts the check's config folder here (ddev/e2e/agent/docker.py, `_config_mount_dir`).
CONF_D = '/etc/datadog-agent/conf.d/'
NO_AGENT = 'stub docker: no Agent ran the check'
# What Docker prints without a daemon, and without the Compose plugin (docker 28).
NO_DAEMON = 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'
NO_COMPOSE = 'docker: unknown command: docker compose'


class Stub:
    def __init__(self, state_dir: Path, argv: list[str]):
        self.dir = state_dir
        self.argv = argv
        self.state_file = state_dir / 'state.json'
        self.state: dict[str, Any] = (
            json.loads(self.state_file.read_text()) if self.state_file.exists() else {'containers': {}, 'compose': {}}
        )
        self.record: dict[str, Any] = {
            'argv': argv,
            'cwd': os.getcwd(),
            'env': {name: os.environ[name] for name in COMPOSE_ENV if name in os.environ},
        }

    def save(self, rc: int) -> int:
        self.record['rc'] = rc
        with open(self.dir / 'calls.jsonl', 'a') as calls:
            calls.write(json.dumps(self.record) + '\n')
        self.state_file.write_text(json.dumps(self.state, indent=2))
        return rc

    def run(self) -> int:
        if not self.argv:
            return fail('stub docker: no command')
        command, args = self.argv[0], self.argv[1:]
        handler = getattr(self, 'do_' + command.replace('-', '_'), None)
        if handler is None:
            return fail(f'stub docker: unknown command {command!r}')
        return handler(args)

    # --- images and containers ------------------------------------------------------------------------------

    def do_pull(self, args: list[str]) -> int:
        print(f'{args[-1]}: pulled (stub docker: nothing downloaded)')
        return 0

    def do_run(self, args: list[str]) -> int:
        container: dict[str, Any] = {'env': {}, 'volumes': [], 'network': None, 'running': True}
        options_with_value = {'--name', '--network', '-v', '--volume', '-e', '--env', '--cap-add', '--add-host', '-p'}
        i = 0
        while i < len(args) and args[i].startswith('-'):
            option = args[i]
            if option in options_with_value:
                value = args[i + 1]
                i += 2
            else:
                i += 1
                continue
            if option == '--name':
                container['name'] = value
            elif option == '--network':
                container['network'] = value
            elif option in ('-v', '--volume'):
                container['volumes'].append(value)
            elif option in ('-e', '--env'):
                key, _, env_value = value.partition('=')
                container['env'][key] = env_value
        container['image'] = args[i]
        name = container.get('name', 'stub')
        if name in self.state['containers']:
            return fail(f'docker: Error response from daemon: Conflict. The container name "/{name}" is in use.')
        self.state['containers'][name] = container
        self.record['conf_d'] = conf_d_files(container)
        print('0' * 52 + 'c0ffee00c0de')
        return 0

    def do_restart(self, args: list[str]) -> int:
        container = self.running(args[-1])
        if container is None:
            return no_such_container(args[-1])
        self.record['conf_d'] = conf_d_files(container)
        print(args[-1])
        return 0

    def do_stop(self, args: list[str]) -> int:
        container = self.state['containers'].get(args[-1])
        if container is None:
            return no_such_container(args[-1])
        container['running'] = False
        print(args[-1])
        return 0

    def do_rm(self, args: list[str]) -> int:
        if self.state['containers'].pop(args[-1], None) is None:
            return no_such_container(args[-1])
        print(args[-1])
        return 0

    def do_logs(self, args: list[str]) -> int:
        if args[-1] not in self.state['containers']:
            return no_such_container(args[-1])
        print('stub docker: no Agent, no Agent log')
        return 0

    def do_inspect(self, args: list[str]) -> int:
        name = args[-1]
        container = self.state['containers'].get(name)
        if container is None:
            print('[]')
            return no_such_container(name)
        # The fields of `docker inspect` that tests read, with Docker's names.
        env = [f'{key}={value}' for key, value in container['env'].items()]
        inspected = {
            'Name': '/' + name,
            'Config': {'Image': container['image'], 'Env': env},
            'State': {'Running': container['running']},
            'HostConfig': {'NetworkMode': container['network'], 'Binds': container['volumes']},
        }
        print(json.dumps([inspected], indent=4))
        return 0

    def do_ps(self, args: list[str]) -> int:
        print('CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES')
        for name, container in self.state['containers'].items():
            if container['running']:
                print(f'c0ffee00c0de   {container["image"]}   "/bin/entrypoint.sh"   now   Up   -   {name}')
        return 0

    def do_exec(self, args: list[str]) -> int:
        i = 0
        env = {}
        while args[i].startswith('-'):
            if args[i] in ('-e', '--env'):
                key, _, value = args[i + 1].partition('=')
                env[key] = value
                i += 2
            else:
                i += 1
        name, command = args[i], args[i + 1 :]
        if self.running(name) is None:
            return no_such_container(name)
        if 'pip' in command and 'install' in command:
            print(f'Successfully installed {command[-1]} (stub docker: nothing installed)')
            return 0
        if command[:2] == ['sh', '-c']:
            return 0
        if command[:2] == ['agent', 'check']:
            return agent_check(command[2:])
        if command[:2] == ['agent', 'status']:
            return agent_status(command[2:])
        return fail(f'stub docker: no answer for `{" ".join(command)}` in {name}')

    def running(self, name: str) -> dict[str, Any] | None:
        container = self.state['containers'].get(name)
        return container if container and container['running'] else None

    # --- docker compose -------------------------------------------------------------------------------------

    def do_compose(self, args: list[str]) -> int:
        if 'compose' in without():
            return fail(NO_COMPOSE)
        if args[0] == 'version':
            print('Docker Compose version v2.36.2 (stub docker)')
            return 0
        compose_file = None
        i = 0
        while args[i].startswith('-'):
            if args[i] in ('-f', '--file'):
                compose_file = args[i + 1]
            i += 2
        if compose_file is None or not Path(compose_file).is_file():
            return fail(f'stub docker: compose file not found: {compose_file}')
        action = args[i]
        project = os.environ.get('COMPOSE_PROJECT_NAME') or Path(compose_file).resolve().parent.name
        if action == 'up':
            self.state['compose'][project] = {'file': compose_file, 'env': self.record['env']}
            print(f' Container {project}-acme-sandbox-1  Started (stub docker: nothing runs)', file=sys.stderr)
            return 0
        if action == 'logs':
            if project in self.state['compose']:
                for line in os.environ.get('STUB_DOCKER_COMPOSE_LOGS', '').splitlines():
                    print(f'{project}-acme-sandbox-1  | {line}')
            return 0
        if action == 'down':
            self.state['compose'].pop(project, None)
            return 0
        if action == 'ps':
            print('NAME   IMAGE   COMMAND   SERVICE   CREATED   STATUS   PORTS')
            return 0
        return fail(f'stub docker: unknown compose command {action!r}')

    # --- docker-wide ----------------------------------------------------------------------------------------

    def do_info(self, args: list[str]) -> int:
        if 'daemon' in without():
            return fail(NO_DAEMON)
        if '--format' in args:
            print('28.2.2' if 'ServerVersion' in args[-1] else 'linux')
            return 0
        print('Server: stub docker')
        return 0

    def do_version(self, args: list[str]) -> int:
        print('stub docker')
        return 0


def agent_check(args: list[str]) -> int:
    if '--json' not in args:
        print(f'{NO_AGENT}: `agent check {" ".join(args)}` would run the check once here')
        return 0
    # The shape `agent check --json` prints and datadog_checks.dev's replay_check_run reads: one entry per instance,
    # its error in runner.LastError.
    run = {
        'aggregator': {'metrics': [], 'service_checks': [], 'events': []},
        'runner': {'CheckID': f'{args[0]}:stub', 'CheckName': args[0], 'LastError': NO_AGENT},
    }
    print(json.dumps([run], indent=2))
    return 0


def agent_status(args: list[str]) -> int:
    status = os.environ.get('STUB_DOCKER_AGENT_STATUS')
    if '--json' in args and status:
        print(Path(status).read_text())
        return 0
    print('stub docker: no Agent status')
    return 0


def conf_d_files(container: dict[str, Any]) -> dict[str, str]:
    """Every file the container sees under conf.d, by its path in the container."""
    files = {}
    for volume in container['volumes']:
        host, _, target = volume.partition(':')
        if target.startswith(CONF_D) and Path(host).is_dir():
            for path in sorted(Path(host).iterdir()):
                if path.is_file():
                    files[f'{target}/{path.name}'] = path.read_text()
    return files


def without() -> set[str]:
    """What this Docker lacks, from $STUB_DOCKER_WITHOUT."""
    return {part.strip() for part in os.environ.get('STUB_DOCKER_WITHOUT', '').split(',') if part.strip()}


def no_such_container(name: str) -> int:
    return fail(f'Error response from daemon: No such container: {name}')


def fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def main() -> int:
    state_dir = Path(os.environ['STUB_DOCKER_STATE'])
    stub = Stub(state_dir, sys.argv[1:])
    try:
        rc = stub.run()
    except (IndexError, ValueError) as error:
        rc = fail(f'stub docker: cannot parse {sys.argv[1:]}: {error!r}')
    return stub.save(rc)


if __name__ == '__main__':
    sys.exit(main())
