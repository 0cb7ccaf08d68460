# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The Agent stand-ins of agent_emulation.py behave as the Agent does, losses included."""

from .agent_emulation import (
    IntegrationLogFile,
    PersistentCacheDir,
    Tailer,
    append_bytes,
    integration_log_path,
    write_torn,
)


def test_cache_keys_map_to_files_as_the_agent_maps_them(tmp_path):
    cache = PersistentCacheDir(tmp_path)

    # Split on the first ':' only; characters outside [a-zA-Z0-9_-] dropped from both parts.
    assert cache.path('acme:0f3a_log_cursor_prod-web_1c2d_0') == tmp_path / 'acme' / '0f3a_log_cursor_prod-web_1c2d_0'
    assert cache.path('my.check:a:b/c d') == tmp_path / 'mycheck' / 'abcd'
    assert cache.path('no-colon.key') == tmp_path / 'no-colonkey'


def test_cache_writes_overwrite_in_place_and_reads_of_missing_keys_are_empty(tmp_path):
    cache = PersistentCacheDir(tmp_path)
    assert cache.read('acme:cursor') == ''

    cache.write('acme:cursor', 'a long first value')
    cache.write('acme:cursor', 'short')

    assert cache.read('acme:cursor') == 'short'
    assert [path.name for path in (tmp_path / 'acme').iterdir()] == ['cursor']


def test_a_torn_cache_write_leaves_a_prefix(tmp_path):
    def die_after_7_bytes(path, data):
        write_torn(path, data, 7)

    cache = PersistentCacheDir(tmp_path, write_file=die_after_7_bytes)
    cache.write('acme:cursor', '{"seq": 3, "cursor": {}}')

    assert cache.read('acme:cursor') == '{"seq":'


def test_the_log_file_is_truncated_before_a_line_past_its_cap_and_the_tailer_notices_at_its_scan(tmp_path):
    log_file = IntegrationLogFile(integration_log_path(tmp_path, 'acme:c0ffee'), cap_bytes=20)
    assert log_file.path == tmp_path / 'integrations' / 'acme_c0ffee.log'
    tailer = Tailer(log_file.path)
    for line in ('aaaa', 'bbbb'):
        log_file.append(line)  # 5 bytes each, the newline included
    assert tailer.read() == ['aaaa', 'bbbb']

    for line in ('cccc', 'dddd', 'eeee'):
        log_file.append(line)  # the third would take the file to 25 bytes: truncated before it
    assert (log_file.truncations, log_file.size) == (1, 5)

    assert tailer.read() == []  # the file is shorter than the offset, and nobody told the tailer
    assert tailer.scan()
    assert tailer.read() == ['eeee']
    assert log_file.lines_written - tailer.lines_read == 2  # cccc and dddd: truncated before they were read


def test_a_truncation_the_scan_misses_loses_lines_silently(tmp_path):
    log_file = IntegrationLogFile(tmp_path / 'check.log', cap_bytes=20)
    tailer = Tailer(log_file.path)
    for line in ('aaaa', 'bbbb'):
        log_file.append(line)
    assert tailer.read() == ['aaaa', 'bbbb']  # offset 10

    for line in ('cccc', 'dddd', 'eeeeeeeee', 'ffff'):
        log_file.append(line)  # truncated before 'eeeeeeeee'; the file grows back past the offset

    assert not tailer.scan()  # 15 bytes, more than the offset: no truncation to see
    assert tailer.read() == ['ffff']
    assert tailer.restarts == 0
    assert log_file.lines_written - tailer.lines_read == 3  # cccc, dddd and eeeeeeeee


def test_the_tailer_reads_complete_lines_only(tmp_path):
    path = tmp_path / 'check.log'
    append_bytes(path, b'one\ntw')
    tailer = Tailer(path)

    assert tailer.read() == ['one']
    assert tailer.unterminated() == 2
    append_bytes(path, b'o\n')
    assert tailer.read() == ['two']
    assert tailer.unterminated() == 0
