# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""ACME's JSON in; out, the log `send_log` submits: ACME's fields under `acme` as ACME sent them, Datadog's at the top,
the check's notes under `acme_crawler` when there is something to say (`truncated`, `original_size`,
`truncated_fields`, `as_text`, `replaced_characters`). The Agent's orjson rounds integers past 64 bits, refuses `1e400`,
nesting past 1,024 levels and text not UTF-8, and writes at most 254 levels: such pages are decoded by the standard
library (log by log, field by field, if need be), and what orjson cannot write is sent as text, and noted.
"""

from __future__ import annotations

import json as stdlib_json
import math
import re
from typing import Any, Callable

from .compat import json

try:
    from orjson import dumps as _orjson_dumps
except ImportError:  # the Agent ships orjson; the base package then falls back to the standard library
    _orjson_dumps = None

SOURCE = 'acme'
CRAWLER_FIELDS = 'acme_crawler'
# The deepest ACME field orjson writes: it stops at 254 levels, and the log adds two (itself, `acme`).
MAX_FIELD_NESTING = 250
NAMED_FIELDS = 20  # cut fields `truncated_fields` names, each by its first 100 characters
_STATUSES = {severity: severity.lower() for severity in ('DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL')}
_SURROGATES = re.compile('[\ud800-\udfff]')
_KEPT_WHOLE = ('id', 'timestamp')  # never cut: they place the log
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x78 for byte in range(256))
_WIDE_INTEGER = b'0' * 19
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]')

# The Agent's line for a log, as `send_log` encodes it: orjson's UTF-8 bytes. Called once per log.
encode: Callable[[Any], bytes] = _orjson_dumps or (lambda value: json.encode(value).encode())


class UnencodableLog(ValueError): ...  # a log that cannot be written as a line the Agent takes


class AcmeLog(dict):
    """An ACME log decoded field by field, with what the check has to say about it (`acme_crawler`)."""

    notes: dict[str, Any]


def log_shaper(ddtags: str, service: str | None) -> Callable[[dict[str, Any], int], dict[str, Any]]:
    """What builds a stream's logs from ACME's (taken over: `acme`) and their instants; `timestamp` in milliseconds."""
    statuses = _STATUSES

    def shape(raw: dict[str, Any], nanos: int) -> dict[str, Any]:
        message = raw.pop('message')
        if message.__class__ is not str:
            raise ValueError('`message` must be a string')
        log: dict[str, Any] = {
            'message': message,
            'timestamp': nanos // 1_000_000,
            'ddsource': SOURCE,
            'ddtags': ddtags,
            'acme': raw,
        }
        if raw.__class__ is not dict and raw.notes:  # type: ignore[attr-defined]  # an AcmeLog
            log[CRAWLER_FIELDS] = dict(raw.notes)  # type: ignore[attr-defined]
        severity = raw.get('severity')
        if severity.__class__ is str:
            log['status'] = statuses.get(severity) or severity.lower()
        log_service = raw.get('service')
        if log_service.__class__ is str:
            log['service'] = log_service
        elif service:
            log['service'] = service
        host = raw.get('host')
        if host.__class__ is str:
            log['hostname'] = host
        return log

    return shape


def to_send_log_timestamp(millis: int) -> float:
    """`send_log` takes seconds and writes `int(timestamp * 1000)`: half a millisecond past the millisecond, so that
    the product never falls a hair short of it (a float of seconds is exact to 0.2 us)."""
    return (millis + 0.5) / 1000


def make_encodable(log: dict[str, Any]) -> bytes:
    """Encode the log, what orjson cannot write made text and noted: integers past 64 bits their digits, fields nested
    past MAX_FIELD_NESTING their JSON, text not UTF-8 gets U+FFFD. UnencodableLog if it still cannot be written."""
    as_text, replaced = _repair(log['acme'])
    if _SURROGATES.search(log['message']):
        log['message'], replaced = _SURROGATES.sub('\ufffd', log['message']), True
    notes = log.setdefault(CRAWLER_FIELDS, {})
    if as_text:
        notes['as_text'] = sorted({*notes.get('as_text', ()), *as_text})
    if replaced:
        notes['replaced_characters'] = True
    try:
        return encode(log)
    except (TypeError, ValueError) as e:
        raise UnencodableLog(f'{type(e).__name__}: {e}') from None


def _repair(root: dict[str, Any]) -> tuple[list[str], bool]:
    """Without recursion: text with lone surrogates gets U+FFFD (keys too); integers beyond 64 bits and fields nested
    deeper than MAX_FIELD_NESTING become text. Returns the paths turned into text, and whether text was replaced."""
    as_text, replaced = [], False
    pending: list[tuple[Any, str, int]] = [(root, '', 0)]
    while pending:
        container, path, depth = pending.pop()
        items: list[tuple[Any, Any]]
        if isinstance(container, dict):
            items = list(container.items())
            if any(_SURROGATES.search(key) for key in container):
                container.clear()  # rebuilt with valid keys, in their order
                container.update((_SURROGATES.sub('\ufffd', key), value) for key, value in items)
                items, replaced = list(container.items()), True
        else:
            items = list(enumerate(container))
        for key, value in items:
            where = f'{path}.{key}' if path else str(key)
            if isinstance(value, str):
                if _SURROGATES.search(value):
                    container[key], replaced = _SURROGATES.sub('\ufffd', value), True
            elif isinstance(value, (dict, list)):
                if depth + 1 >= MAX_FIELD_NESTING:
                    container[key] = _json_text(value)
                    as_text.append(where)
                else:
                    pending.append((value, where, depth + 1))
            elif isinstance(value, int) and not -(2**63) <= value < 2**64:
                container[key] = str(value)
                as_text.append(where)
    return as_text, replaced


def _json_text(value: Any) -> str:
    try:
        return stdlib_json.dumps(value, ensure_ascii=False, separators=(',', ':'), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        raise UnencodableLog(f'{type(e).__name__}: {e}') from None


def fit_line(log: dict[str, Any], line: bytes, limit: int) -> bytes:
    """Cut the log until its line (and the Agent's newline) fits in `limit` bytes, and say so; still one structured
    log: the largest of `message` and ACME's fields first, at a character (a field not text as its JSON text), then
    the next; a field with nothing left goes. Each is measured once: linear. UnencodableLog if nothing can fit."""
    fields = log['acme']
    parts = [(log, 'message')] + [(fields, key) for key in fields if key not in _KEPT_WHOLE]
    sizes = sorted((-len(encode(container[key])), index) for index, (container, key) in enumerate(parts))
    notes = log.setdefault(CRAWLER_FIELDS, {})
    notes.update(truncated=True, original_size=len(line))
    excess = len(encode(log)) + 1 - limit + 64  # the notes to come: `truncated_fields` and its first names
    cut: list[str] = []
    for negative_size, index in sizes:
        if excess <= 0:
            break
        size, (container, key) = -negative_size, parts[index]
        if container is fields:
            cut.append(key)
            excess += len(encode(key[:100])) + 1 if len(cut) <= NAMED_FIELDS else 0
        value = container[key]
        if size - 2 > excess:  # cutting this one is enough
            container[key] = _cut(value if isinstance(value, str) else _json_text(value), size - 2 - excess)
            excess = 0
        elif container is log:
            container[key], excess = '', excess - (size - 2)
        else:
            del container[key]
            excess -= size + len(encode(key)) + 2
    if cut:
        more = [f'(and {len(cut) - NAMED_FIELDS} more)'] if len(cut) > NAMED_FIELDS else []
        notes['truncated_fields'] = [key[:100] for key in cut[:NAMED_FIELDS]] + more
    line = encode(log)
    if len(line) + 1 > limit:
        raise UnencodableLog(f'{len(line) + 1} bytes even cut down, more than the {limit} the Agent takes')
    return line


def _cut(text: str, budget: int) -> str:
    """The longest start of `text` whose JSON string content takes at most `budget` bytes."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(encode(text[:middle])) - 2 <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def decode_page(content: bytes) -> Any:
    """An answer's body, by orjson when it reads it exactly; else by the standard library (bytes not UTF-8 as lone
    surrogates, replaced in make_encodable), log by log and field by field if need be (a field too deep: its text)."""
    if not _has_wide_integer(content):
        try:
            return json.decode(content)
        except ValueError:
            pass
    text = content.decode('utf-8', 'surrogateescape').strip()
    try:
        return _stdlib_decode(text)
    except (ValueError, RecursionError):
        if not text.startswith('{'):
            raise ValueError('not a JSON object') from None
    page: dict[Any, Any] = {}
    for key, value in _members(text):
        if key == 'data' and value.startswith('['):
            page[key] = [_decode_log(log) for _, log in _members(value)]
        else:
            page[key] = _stdlib_decode(value)
    return page


def _has_wide_integer(content: bytes) -> bool:
    """Whether `content` may hold an integer orjson would round: 19 digits or more, after `:`, `,`, `[`, `-` or a space.
    Runs are found in a copy where a digit is '0' and all else 'x' (fast), then the character before each is read."""
    digits = content.translate(_DIGITS_ONLY)
    found = digits.find(_WIDE_INTEGER)
    while found >= 0:
        start = found
        while start and digits[start - 1] == 0x30:
            start -= 1
        if content[start - 1 : start] in b'-:,[ \t\n\r':
            return True
        end = digits.find(b'x', found)
        found = digits.find(_WIDE_INTEGER, end) if end >= 0 else -1
    return False


def _stdlib_decode(text: str) -> Any:
    # Numbers beyond a double (`1e400`), and the constants the standard library accepts, are kept as their text.
    return stdlib_json.loads(
        text, parse_float=lambda number: float(number) if math.isfinite(float(number)) else number, parse_constant=str
    )


def _decode_log(text: str) -> Any:
    try:
        return _stdlib_decode(text)
    except (ValueError, RecursionError):
        if not text.startswith('{'):
            return text  # not an object: a malformed log, which the stream skips
    log, as_text = AcmeLog(), []
    for key, value in _members(text):
        try:
            log[key] = _stdlib_decode(value)
        except (ValueError, RecursionError):
            log[key] = value  # deeper than any decoder goes: its JSON text
            as_text.append(key)
    log.notes = {'as_text': as_text} if as_text else {}
    return log


def _members(text: str) -> list[tuple[Any, str]]:
    """The direct members of the JSON object or array `text`: (key, or None in an array; the value's JSON text).
    Only strings and punctuation are looked at, without recursion, so any depth works."""
    members: list[tuple[Any, str]] = []
    depth, key, begin = 0, None, 1
    for token in _TOKENS.finditer(text):
        mark = token.group()
        if mark == '{' or mark == '[':
            depth += 1
        elif mark == '}' or mark == ']':
            depth -= 1
            if depth == 0:
                members.append((key, text[begin : token.start()].strip()))
                return [member for member in members if member[1]]
        elif depth != 1:
            continue
        elif mark == ',':
            members.append((key, text[begin : token.start()].strip()))
            key, begin = None, token.end()
        elif mark == ':':
            begin = token.end()
        elif text[0] == '{' and key is None:
            key = stdlib_json.loads(mark)
    raise ValueError('unterminated JSON container')
