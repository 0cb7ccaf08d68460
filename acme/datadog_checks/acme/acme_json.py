# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""ACME's JSON in, the Agent's JSON lines out, with every value kept as ACME sent it.

The fast path is orjson, which the Agent ships and the base package's JSON helpers use. It has limits that valid
JSON can exceed: integers beyond 64 bits come out as floats (silently), numbers beyond a double's range (`1e400`)
and nesting over 1,024 levels fail the whole page, and encoding fails past 254 levels. So:

- a page goes to the standard library's decoder when orjson refuses it or when it holds an integer orjson would
  round; numbers beyond a double's range are kept as their text;
- a page the standard library refuses too (nesting deeper than its recursion limit) is split into logs, and a log
  into fields, without recursion; a field that still cannot be decoded is kept as its JSON text;
- a line orjson cannot encode is encoded by the standard library; only what neither can encode is refused.
"""

from __future__ import annotations

import json as stdlib_json
import math
import re
from typing import Any, Callable

from .compat import json

try:
    from orjson import dumps as _orjson_dumps
except ImportError:  # the Agent ships orjson; this keeps tests and odd installs working without it
    _orjson_dumps = None

# An integer orjson would turn into a float has 19 digits or more (beyond 64 bits), right after ':', ',', '[' or
# whitespace, and a '-' maybe. Looked for in a copy of the page where digits become '0', those five ':', '-' stays
# and all else 'x', as a run of 19 '0' (quick to find, 'x' being most of a page), then checked for what precedes
# it: about half of orjson's own time per page. Such a run inside a string only costs a look at what precedes it.
_NUMBER_SHAPES = bytes(
    0x30 if 0x30 <= byte <= 0x39 else 0x3A if byte in b':,[ \t\n\r' else 0x2D if byte == 0x2D else 0x78
    for byte in range(256)
)
_RUN = b'0' * 19
_ZERO, _COLON, _MINUS = 0x30, 0x3A, 0x2D
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]')
_WHITESPACE = ' \t\n\r'
_STDLIB_ENCODER = stdlib_json.JSONEncoder(ensure_ascii=False, separators=(',', ':'), allow_nan=False)


class NumberText(str):
    """A number beyond a double's range (`1e400`), kept as the text ACME sent."""


class RawJson(str):
    """A value that could not be decoded at all (nested deeper than any decoder goes), kept as its JSON text."""


class PartlyDecoded(dict):
    """A log decoded field by field; `raw_fields` name the fields kept as RawJson."""

    raw_fields: list[str]


class UnencodableLog(ValueError):
    """A log that no JSON encoder could turn into a line for the Agent."""


def decode_page(content: bytes) -> Any:
    """Decode an answer's body; raise ValueError if it is not JSON at all."""
    if not _has_wide_integer(content):
        try:
            return json.decode(content)
        except ValueError:
            pass
    try:
        return _stdlib_decode(content)
    except (ValueError, RecursionError):
        pass
    text = content.decode('utf-8')
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


def encode_exact(value: Any) -> bytes:
    """The standard library's UTF-8 JSON, every value as it is; raise UnencodableLog if there is none."""
    try:
        return _STDLIB_ENCODER.encode(value).encode()
    except (TypeError, ValueError, RecursionError) as e:
        raise UnencodableLog(f'{type(e).__name__}: {e}') from None


# orjson's UTF-8 JSON, raising TypeError or ValueError for what orjson cannot write (integers beyond 64 bits, nesting
# beyond 254 levels) and `encode_exact` can. orjson's own function: this is called once per log.
encode_fast: Callable[[Any], bytes] = _orjson_dumps if _orjson_dumps is not None else encode_exact


def flatten_deep_fields(fields: dict[str, Any], *, max_nesting: int) -> list[str]:
    """Replace each value of `fields` nested deeper than `max_nesting` levels with its JSON text; return their keys.

    For the Agent's lines to stay readable by orjson (1,024 levels at most), whichever Python decoded them: newer
    Pythons' own decoder goes deeper than orjson does.
    """
    flattened = []
    for key, value in fields.items():
        if isinstance(value, (dict, list)) and _nesting(value) > max_nesting:
            fields[key] = RawJson(_STDLIB_ENCODER.encode(value))
            flattened.append(key)
    return flattened


def _nesting(value: Any) -> int:
    """How many containers deep `value` goes, without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in item)
    return deepest


def _stdlib_decode(text: str | bytes) -> Any:
    return stdlib_json.loads(text, parse_float=_float, parse_constant=NumberText)


def _float(text: str) -> float | NumberText:
    number = float(text)
    return number if math.isfinite(number) else NumberText(text)


def _decode_log(text: str) -> Any:
    try:
        return _stdlib_decode(text)
    except (ValueError, RecursionError):
        pass
    if not text.startswith('{'):
        return RawJson(text)
    log = PartlyDecoded()
    log.raw_fields = []
    members, _ = _children(text, 0)
    for key, begin, end in members:
        if key is None:
            raise ValueError('an object member without a key')
        try:
            log[key] = _stdlib_decode(text[begin:end])
        except (ValueError, RecursionError):
            log[key] = RawJson(text[begin:end])
            log.raw_fields.append(key)
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
