# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""ACME's JSON in, the log the base package's `send_log` submits out (`LogRecord.data`), values kept as ACME sent them.

A log has ACME's fields under `acme` (but `message`), Datadog's attributes at the top, and under `acme_crawler`, only
when there is something to say, the check's notes: `truncated`, `original_size`, `truncated_fields`, `as_text`,
`replaced_characters`. The Agent's JSON library, orjson, has limits valid JSON exceeds: integers beyond 64 bits are
decoded as floats (silently) and cannot be encoded, `1e400` and nesting past 1,024 levels fail a page, encoding fails
past 254 levels, and text that is not UTF-8 fails both ways. So a page orjson would refuse or round is decoded by the
standard library, log by log when it must, and what orjson cannot encode is sent as text, and noted.
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
# Deepest nesting of an ACME field orjson writes: it stops at 254 levels, and the log adds two (itself, `acme`).
MAX_FIELD_NESTING = 250
_STATUSES = {severity: severity.lower() for severity in ('DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL')}
_SURROGATES = re.compile('[\ud800-\udfff]')
_KEPT_WHOLE = ('id', 'timestamp')  # never cut: they place the log


class UnencodableLog(ValueError):
    """A log that cannot be written as a line the Agent takes."""


class AcmeLog(dict):
    """An ACME log decoded the slow way, with what the check has to say about it (`acme_crawler`)."""

    notes: dict[str, Any]


class NumberText(str):
    """A number beyond a double's range (`1e400`), kept as the text ACME sent."""


# The Agent's line for a log, as the base package's `send_log` encodes it: orjson's UTF-8 bytes. Called once per log.
encode: Callable[[Any], bytes] = _orjson_dumps or (lambda value: json.encode(value).encode())


# --- Shaping (the hot path) -----------------------------------------------------------------------------------------


def log_shaper(ddtags: str, service: str | None) -> Callable[[dict[str, Any], int], dict[str, Any]]:
    """The function that builds a submitted log from an ACME log (`raw`, taken over: it becomes `acme`) and its
    instant, for one stream's tags and default service. `timestamp` is in milliseconds, as in the Agent's line."""
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
    """The `timestamp` for `send_log`, which takes seconds and writes `int(timestamp * 1000)`: half a millisecond past
    the millisecond, so that the product never falls a hair short of it (a float of seconds is exact to 0.2 us)."""
    return (millis + 0.5) / 1000


# --- Logs orjson cannot write ---------------------------------------------------------------------------------------


def make_encodable(log: dict[str, Any]) -> bytes:
    """Turn what orjson cannot write in `log['acme']` into text, note it in `acme_crawler`, and encode the log.

    Integers beyond 64 bits become their digits, fields nested deeper than MAX_FIELD_NESTING their JSON text, and
    text that is not UTF-8 gets U+FFFD in place of what is not; UnencodableLog if the log still cannot be written.
    """
    as_text, replaced = _repair(log['acme'], deep=True)
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


def _repair(root: dict[str, Any], *, deep: bool) -> tuple[list[str], bool]:
    """Replace lone surrogates in `root`'s keys and text; with `deep`, also turn integers beyond 64 bits and fields
    nested deeper than MAX_FIELD_NESTING into text. Without recursion; returns the paths turned into text, and
    whether text was replaced."""
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
                if deep and depth + 1 >= MAX_FIELD_NESTING:
                    container[key] = _json_text(value)
                    as_text.append(where)
                else:
                    pending.append((value, where, depth + 1))
            elif deep and isinstance(value, int) and not -(2**63) <= value < 2**64:
                container[key] = str(value)
                as_text.append(where)
    return as_text, replaced


def _json_text(value: Any) -> str:
    try:
        return stdlib_json.dumps(value, ensure_ascii=False, separators=(',', ':'), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        raise UnencodableLog(f'{type(e).__name__}: {e}') from None


# --- Lines longer than the Agent takes ------------------------------------------------------------------------------


def fit_line(log: dict[str, Any], line: bytes, limit: int) -> bytes:
    """Cut the log until its line (and the newline the Agent adds) fits in `limit` bytes; note it. The line stays one
    structured log: the largest of `message` and the ACME fields is cut first (`message`, as a rule), then the next
    largest if still needed, each at a character boundary with JSON escaping counted; a field cut is its JSON text.
    UnencodableLog if even that cannot make it fit (an `id` alone too long)."""
    notes = log.setdefault(CRAWLER_FIELDS, {})
    notes.update(truncated=True, original_size=len(line))
    line = encode(log)
    fields = log['acme']
    parts = [(log, 'message')] + [(fields, key) for key in fields if key not in _KEPT_WHOLE]
    parts.sort(key=lambda part: len(encode(part[0][part[1]])), reverse=True)
    for container, key in parts:
        excess = len(line) + 1 - limit
        if excess <= 0:
            break
        value = container[key]
        text = value if isinstance(value, str) else _json_text(value)
        named = container is fields  # a cut ACME field is named in `truncated_fields`: room for that too
        # What the line has of it now, less the excess, is what its text may take (quotes included).
        container[key] = _cut(text, len(encode(value)) - 2 - excess - (len(encode(key)) + 24 if named else 0))
        if named:
            notes['truncated_fields'] = [*notes.get('truncated_fields', ()), key]
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


# --- Decoding -------------------------------------------------------------------------------------------------------

# An integer orjson would turn into a float has 19 digits or more, right after ':', ',', '[' or whitespace, and a '-'
# maybe. Looked for in a copy of the page where digits become '0', those five ':', '-' stays and all else 'x', as a
# run of 19 '0' (quick to find, 'x' being most of a page), then checked for what precedes it: about half of orjson's
# own time per page. Such a run inside a string only costs a look at what precedes it.
_NUMBER_SHAPES = bytes(
    0x30 if 0x30 <= byte <= 0x39 else 0x3A if byte in b':,[ \t\n\r' else 0x2D if byte == 0x2D else 0x78
    for byte in range(256)
)
_RUN = b'0' * 19
_ZERO, _COLON, _MINUS = 0x30, 0x3A, 0x2D
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]')
_WHITESPACE = ' \t\n\r'


def decode_page(content: bytes) -> Any:
    """Decode an answer's body; ValueError if it is not JSON at all.

    The standard library's way, when orjson would refuse or round the page: bytes that are not UTF-8 are kept as
    lone surrogates (then replaced, log by log); a page too deep for the standard library is split into logs, and a
    log into fields, without recursion, a field too deep for any decoder being kept as its JSON text.
    """
    if not _has_wide_integer(content):
        try:
            return json.decode(content)
        except ValueError:
            pass
    text = content.decode('utf-8', 'surrogateescape')
    try:
        page = _stdlib_decode(text)
    except (ValueError, RecursionError):
        page = _split_page(text)
    if isinstance(page, dict) and isinstance(page.get('data'), list):
        page['data'] = [_with_valid_text(log) for log in page['data']]
    return page


def _has_wide_integer(content: bytes) -> bool:
    shapes = content.translate(_NUMBER_SHAPES)
    found = shapes.find(_RUN)
    while found >= 0:
        start = end = found
        while start and shapes[start - 1] == _ZERO:
            start -= 1
        while end < len(shapes) and shapes[end] == _ZERO:
            end += 1
        before = shapes[start - 1] if start else _COLON
        if before == _COLON or (before == _MINUS and start >= 2 and shapes[start - 2] == _COLON):
            return True
        found = shapes.find(_RUN, end)
    return False


def _with_valid_text(log: Any) -> Any:
    """`log` with text that is not UTF-8 (lone surrogates) replaced by U+FFFD, and noted: any id can be a cursor."""
    if isinstance(log, dict) and _repair(log, deep=False)[1]:
        fixed = AcmeLog(log)
        fixed.notes = {**getattr(log, 'notes', {}), 'replaced_characters': True}
        return fixed
    return log


def _stdlib_decode(text: str) -> Any:
    return stdlib_json.loads(text, parse_float=_float, parse_constant=NumberText)


def _float(text: str) -> float | NumberText:
    number = float(text)
    return number if math.isfinite(number) else NumberText(text)


def _split_page(text: str) -> dict[str | None, Any]:
    start = _skip_whitespace(text, 0)
    if not text.startswith('{', start):
        raise ValueError('not a JSON object')
    members, end = _children(text, start)
    if _skip_whitespace(text, end) != len(text):
        raise ValueError('trailing data after the JSON object')
    page: dict[str | None, Any] = {}
    for key, value_start, value_end in members:
        if key == 'data' and text.startswith('[', value_start):
            elements, _ = _children(text, value_start)
            page[key] = [_decode_log(text[begin:finish]) for _, begin, finish in elements]
        else:
            page[key] = _stdlib_decode(text[value_start:value_end])
    return page


def _decode_log(text: str) -> Any:
    try:
        return _stdlib_decode(text)
    except (ValueError, RecursionError):
        pass
    if not text.startswith('{'):
        return text  # not an object: a malformed log, which the stream skips
    log, as_text = AcmeLog(), []
    members, _ = _children(text, 0)
    for key, begin, end in members:
        if key is None:
            raise ValueError('an object member without a key')
        try:
            log[key] = _stdlib_decode(text[begin:end])
        except (ValueError, RecursionError):
            log[key] = text[begin:end]  # deeper than any decoder goes: its JSON text
            as_text.append(key)
    log.notes = {'as_text': as_text} if as_text else {}
    return log


def _children(text: str, start: int) -> tuple[list[tuple[str | None, int, int]], int]:
    """The direct children of the object or array opening at `text[start]`: (key, start, end) spans, and its end.

    Iterative, so any depth works; only strings and punctuation are looked at, the rest lies between them.
    """
    in_object = text[start] == '{'
    children: list[tuple[str | None, int, int]] = []
    depth = 0
    key: str | None = None
    value_start = start + 1
    for token in _TOKENS.finditer(text, start):
        mark = token.group()
        if mark == '{' or mark == '[':
            depth += 1
        elif mark == '}' or mark == ']':
            depth -= 1
            if depth == 0:
                _close(children, text, key, value_start, token.start())
                return children, token.end()
        elif depth != 1:
            continue
        elif mark == ',':
            _close(children, text, key, value_start, token.start())
            key, value_start = None, token.end()
        elif mark == ':':
            value_start = token.end()
        elif in_object and key is None:
            key = stdlib_json.loads(mark)
    raise ValueError('unterminated JSON container')


def _close(children: list, text: str, key: str | None, start: int, end: int) -> None:
    begin, finish = _skip_whitespace(text, start), len(text[start:end].rstrip(_WHITESPACE)) + start
    if begin < finish:
        children.append((key, begin, finish))


def _skip_whitespace(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index
