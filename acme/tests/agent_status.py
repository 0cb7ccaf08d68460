# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The logs section of `agent status --json`, as the Agent writes it.

Shapes, in DataDog/datadog-agent:
- comp/logs/agent/impl/status.go puts the logs Agent's status under `logsStats`; its type is `Status` in
  pkg/logs/status/status.go: `is_running`, `metrics`, `integrations[]` (`name`, `sources[]`), `errors`, `warnings`...
- A source (`Source`, same file) has `type`, `configuration` (for a file: `Path`, `Service`, `Source`), `status`
  (`OK`, `Pending` or the error), `inputs` and `info`, a map of lists of strings. Its byte count is
  `"info": {"Bytes Read": ["N"]}`: every source registers a `CountInfo` named "Bytes Read"
  (pkg/logs/sources/source.go), rendered as one decimal string (pkg/logs/status/utils/info.go), and the file tailer
  adds what it reads to it (pkg/logs/tailers/file/tailer.go, recordBytes).
- `metrics` holds `LogsSent`, the count of logs the intake accepted: a string in current Agents (`map[string]string`,
  strconv.FormatInt in pkg/logs/status/builder.go), a number in older ones (`map[string]int64`).
- A check's logs do not go through the `integration` source of its `logs:` entry. The Agent writes them to a file,
  `<logs_config.run_path>/integrations/<check id with ':' as '_'>.log`, and tails it through a `file` source of the
  same name, service and source (pkg/logs/launchers/integration/launcher.go: integrationLogFilePath,
  makeFileSource). The bytes read grow on that `file` source; the `integration` one reads nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

BYTES_READ = 'Bytes Read'


@dataclass(frozen=True)
class LogSource:
    """One source of an integration in the logs status."""

    integration: str
    type: str
    status: str
    configuration: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    info: dict[str, list[str]] = field(default_factory=dict)

    @property
    def path(self) -> str | None:
        return self.configuration.get('Path')

    @property
    def bytes_read(self) -> int:
        """The source's "Bytes Read" count; 0 until the Agent reads a first byte."""
        values = self.info.get(BYTES_READ) or ['0']
        return int(values[0])

    def is_integration_log_file(self, check: str) -> bool:
        """A `file` source on the file the Agent keeps for `check`'s logs: `.../integrations/<check>_<...>.log`.

        The name is the check id with `:` as `_`: `<check>_<hash>`, or `<check>_<instance name>_<hash>` for an
        instance with a `name` (pkg/collector/check/id/id.go, BuildID).
        """
        if self.type != 'file' or not self.path:
            return False
        path = PurePosixPath(self.path)
        named_after_check = re.fullmatch(rf'{re.escape(check)}_.+\.log', path.name) is not None
        return path.parent.name == 'integrations' and named_after_check


@dataclass(frozen=True)
class LogsStatus:
    """The `logsStats` section of the Agent's status."""

    is_running: bool
    metrics: dict[str, Any]
    sources: list[LogSource]
    errors: list[str]
    warnings: list[str]

    @property
    def logs_sent(self) -> int:
        """Logs the intake accepted, over every source; 0 before the first is sent."""
        return int(self.metrics.get('LogsSent') or 0)

    def integration_sources(self, check: str) -> list[LogSource]:
        return [source for source in self.sources if source.integration == check]

    def integration_log_files(self, check: str) -> list[LogSource]:
        """The `file` sources the Agent tails for `check`'s logs, one per instance that has run."""
        return [source for source in self.integration_sources(check) if source.is_integration_log_file(check)]


def parse_status_output(output: str) -> dict[str, Any]:
    """The JSON object `agent status --json` prints, ignoring any log line printed before it.

    A log line may itself hold braces (`converting value from []interface {} to []string`), so the object is looked
    for where a line starts with `{`.
    """
    decoder = json.JSONDecoder()
    for match in re.finditer(r'^\{', output, re.MULTILINE):
        try:
            status, _ = decoder.raw_decode(output, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(status, dict):
            return status
    raise ValueError(f'no JSON object in the status output:\n{output[:2000]}')


def logs_status(status: dict[str, Any]) -> LogsStatus:
    """The logs section of a whole status; an Agent without logs collection has it with `is_running` false."""
    logs = status.get('logsStats')
    if not isinstance(logs, dict):
        raise ValueError(f'no `logsStats` in the status; its sections: {sorted(status)}')
    sources = [
        LogSource(
            integration=integration.get('name', ''),
            type=source.get('type', ''),
            status=source.get('status', ''),
            configuration=source.get('configuration') or {},
            inputs=source.get('inputs') or [],
            info=source.get('info') or {},
        )
        for integration in logs.get('integrations') or []
        for source in integration.get('sources') or []
    ]
    return LogsStatus(
        is_running=bool(logs.get('is_running')),
        metrics=logs.get('metrics') or {},
        sources=sources,
        errors=logs.get('errors') or [],
        warnings=logs.get('warnings') or [],
    )
