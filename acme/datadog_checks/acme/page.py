# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""One page of ACME logs turned into records: each log is submitted once, or skipped and counted, never stuck on.

This is the crawler's hot loop, hence locals and plain comparisons rather than helpers per log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

from datadog_checks.base.checks.logs.crawler.stream import LogRecord

from .acme_json import UnencodableLog, encode_fast
from .agent_log_file import STOP, TOO_LARGE
from .cursor import Position
from .log_format import encode_exactly
from .timestamps import parse_rfc3339

if TYPE_CHECKING:
    from .agent_log_file import AgentLogFile

# Reasons a log is skipped (the `reason` tag of acme.logs.skipped).
MALFORMED = 'malformed'  # no usable id, timestamp or message, or not an object at all
UNENCODABLE = 'unencodable'  # no JSON encoder can write it as a line
TOO_LARGE_FOR_AGENT = 'too_large'  # longer than the Agent's integration log file may be
STALE = 'stale'  # older than the intake accepts
# Ids named in a warning, per reason and visit.
NAMED_IDS = 5


class AcmeLogRecord(LogRecord):
    """A LogRecord that also carries its log already encoded as the Agent's JSON line."""

    __slots__ = ('line',)

    def __init__(self, data: dict[str, Any], line: bytes, *, cursor: dict[str, Any] | None = None) -> None:
        # The slots of LogRecord, set here rather than through its __init__: one call per log less.
        self.data = data  # type: ignore[misc]  # LogRecord's slots, which mypy misses
        self.cursor = cursor  # type: ignore[misc]
        self.line = line


@dataclass
class Skipped:
    count: int = 0
    ids: list[str] = field(default_factory=list)
    first_problem: str = ''


@dataclass
class PageOutcome:
    """What reading a page (or all pages of a visit) left behind, besides the records."""

    position: Position
    skipped: dict[str, Skipped] = field(default_factory=dict)
    # The Agent's log file cannot take more this run: the page stopped before a log it did not submit.
    out_of_bytes: bool = False
    # Everything before the query's end was read: the last page, or a log at or after the end (whose query's
    # remaining logs are not final yet).
    reached_end: bool = False
    # The position the last record handed out carries as its cursor (the check stores it after submitting).
    carried: Position | None = None

    def skip(self, reason: str, raw: Any, problem: object = None) -> None:
        skipped = self.skipped.setdefault(reason, Skipped())
        skipped.count += 1
        if len(skipped.ids) < NAMED_IDS:
            log_id = raw.get('id') if isinstance(raw, dict) else None
            skipped.ids.append(repr(log_id)[:100] if log_id is not None else '(no id)')
        if problem is not None and not skipped.first_problem:
            skipped.first_problem = f'{type(problem).__name__}: {problem}'[:300]


def read_page(
    logs: list[Any],
    *,
    last: bool,
    end: int,
    stale_line: int,
    shape: Callable[[dict[str, Any], int], dict[str, Any]],
    log_file: AgentLogFile,
    outcome: PageOutcome,
) -> Iterator[AcmeLogRecord]:
    """Yield a record per new log of `logs`, past `outcome.position` and before `end`; move `outcome.position`.

    One record is held back so that the last one can carry the cursor of the whole page, past the logs skipped
    after it, and past the window's end on the `last` page: the cursor is then written once per page, after the
    page's logs were submitted.
    """
    last_nanos, last_id = outcome.position
    held: AcmeLogRecord | None = None
    stale = 0
    # Lines that fit in `room` go without a call each; what they took is counted once, however the page ends.
    room = allowed = log_file.room()
    try:
        for raw in logs:
            try:
                nanos = parse_rfc3339(raw['timestamp'])
                log_id = raw['id']
                if log_id.__class__ is not str or not log_id:
                    raise ValueError('`id` must be a non-empty string')
            except Exception as e:  # anything ACME sends, any shape: skipped here rather than stopping the stream
                outcome.skip(MALFORMED, raw, e)
                continue
            if nanos <= last_nanos and (nanos < last_nanos or log_id <= last_id):
                continue  # already handled: a restarted query, or the tie at the cursor
            if nanos >= end:
                outcome.reached_end = True
                break
            if nanos < stale_line:
                last_nanos, last_id = nanos, log_id
                stale += 1
                continue
            try:
                data = shape(raw, nanos)  # raises for a log without a string `message`
                try:
                    line = encode_fast(data)
                except (TypeError, ValueError):  # what orjson cannot write
                    line = encode_exactly(data)
            except UnencodableLog as e:
                last_nanos, last_id = nanos, log_id
                outcome.skip(UNENCODABLE, raw, e)
                continue
            except Exception as e:
                last_nanos, last_id = nanos, log_id
                outcome.skip(MALFORMED, raw, e)
                continue
            room -= len(line) + 1  # the Agent adds a newline
            if room < 0:
                room += len(line) + 1
                log_file.take(allowed - room)
                verdict = log_file.admit(len(line) + 1)
                if verdict == STOP:
                    room = allowed = 0
                    outcome.out_of_bytes = True
                    break
                room = allowed = log_file.room()
                if verdict == TOO_LARGE:
                    last_nanos, last_id = nanos, log_id
                    outcome.skip(TOO_LARGE_FOR_AGENT, raw, None)
                    continue
            last_nanos, last_id = nanos, log_id
            if held is not None:
                yield held
            held = AcmeLogRecord(data, line)
    finally:
        log_file.take(allowed - room)

    if stale:
        outcome.skipped.setdefault(STALE, Skipped()).count += stale
    outcome.position = Position(last_nanos, last_id)
    if (last or outcome.reached_end) and not outcome.out_of_bytes:
        # Everything before `end` is final, read and done: quiet streams move on too.
        outcome.reached_end = True
        outcome.position = max(outcome.position, Position.before(end))
    if held is not None:
        held.cursor = outcome.position.to_cursor()  # type: ignore[misc]  # a LogRecord slot mypy misses
        outcome.carried = outcome.position
        yield held
