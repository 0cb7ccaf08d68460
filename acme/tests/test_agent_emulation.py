# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The Agent stand-ins of agent_emulation.py behave as the Agent does, losses included."""

from __future__ import annotations

import json

import pytest

from .agent_emulation import (
    MB,
    Intake,
    IntegrationLogFile,
    LogsAgent,
    PersistentCacheDir,
    Tailer,
    append_bytes,
    integration_log_path,
    write_file,
    write_torn,
)
from .clock import FakeClock

pytestmark = pytest.mark.unit

CHECK_ID = 'acme:c0ffee'


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


# --- LogsAgent: launcher, tailer, intake and auditor on a fake clock ---------------------------------------------


@pytest.fixture
def agent(tmp_path, clock: FakeClock) -> LogsAgent:
    # A 20-byte file cap: four 4-letter lines fit, the fifth re-creates the file.
    return LogsAgent(tmp_path / 'run', clock=clock, intake=Intake(clock.time), cap_mb=20 / MB)


def send(agent: LogsAgent, *lines: str) -> None:
    for line in lines:
        agent.send_log(line, CHECK_ID)


def registry(agent: LogsAgent) -> dict:
    return json.loads(agent.registry_path.read_bytes())


def test_the_registry_is_written_every_second_with_the_accepted_offset(agent, clock):
    writes = []
    agent.write_file = lambda path, data: (writes.append(clock.time()), write_file(path, data))
    send(agent, 'aaaa', 'bbbb')
    agent.advance(1)

    path = agent.log_path(CHECK_ID)
    assert registry(agent) == {
        'Version': 2,
        'Registry': {f'file:{path}': {'LastUpdated': '2026-11-26T12:00:01Z', 'Offset': '10'}},
    }
    agent.advance(3)  # nothing new: the same entry, written again every second
    assert writes == [clock.time() - 3, clock.time() - 2, clock.time() - 1, clock.time()]
    assert registry(agent)['Registry'][f'file:{path}']['Offset'] == '10'


def test_nothing_is_read_or_acked_while_the_intake_is_down_and_all_arrives_in_order_after(agent, clock):
    send(agent, 'aaaa')
    agent.advance(1)
    agent.intake.up = False
    send(agent, 'bbbb', 'cccc')
    agent.advance(30)

    assert agent.delivered_lines() == ['aaaa']
    assert agent.tailers[agent.log_path(CHECK_ID)].offset == 5
    assert registry(agent)['Registry'][f'file:{agent.log_path(CHECK_ID)}']['Offset'] == '5'
    assert agent.unread_lines() == ['bbbb', 'cccc']
    assert not agent.intake.accept(['xxxx'])  # a sender retrying meanwhile gets nothing through

    agent.intake.up = True
    agent.advance(1)
    assert agent.delivered_lines() == ['aaaa', 'bbbb', 'cccc']
    assert [received.arrived for received in agent.intake.received[1:]] == [clock.time()] * 2
    assert agent.lost == {'recreation': [], 'restart': [], 'replacement': []}


@pytest.mark.parametrize(
    'after, seconds, delivered',
    [
        (['eeeeeeeee', 'ffff'], 1, ['ffff']),  # the file grows back past offset 10; read on from there before the scan
        (['eeeeeeeee'], 10, []),  # back to exactly offset 10: the scan sees nothing to rewind
    ],
)
def test_a_recreation_the_tailer_has_not_scanned_loses_the_lines_written_over_it(agent, after, seconds, delivered):
    send(agent, 'aaaa', 'bbbb')
    agent.advance(1)  # read up to offset 10
    send(agent, 'cccc', 'dddd', *after)  # re-created before 'eeeeeeeee'
    agent.advance(seconds)

    assert agent.truncations == 1
    assert agent.delivered_lines() == ['aaaa', 'bbbb', *delivered]
    assert agent.lost['recreation'] == ['cccc', 'dddd', 'eeeeeeeee']
    assert agent.unread_lines() == []


def test_a_recreation_the_scan_notices_in_time_loses_only_what_was_unread(agent):
    send(agent, 'aaaa', 'bbbb')
    agent.advance(1)
    send(agent, 'cccc', 'dddd', 'eee')  # re-created before 'eee': 4 bytes, shorter than offset 10
    agent.advance(9)  # the scan at 10 s restarts the tailer at 0

    assert agent.delivered_lines() == ['aaaa', 'bbbb', 'eee']
    assert agent.lost['recreation'] == ['cccc', 'dddd']  # re-created before they were read


def test_an_agent_restart_resumes_at_the_registry_offset_without_resending(agent):
    send(agent, 'aaaa', 'bbbb')
    agent.advance(1)
    send(agent, 'cccc')
    agent.restart()
    assert agent.tailers[agent.log_path(CHECK_ID)].offset == 10
    send(agent, 'dddd')
    agent.advance(1)

    assert agent.delivered_lines() == ['aaaa', 'bbbb', 'cccc', 'dddd']
    assert agent.files[CHECK_ID].size == 20  # the launcher took the size from the file
    assert agent.lost == {'recreation': [], 'restart': [], 'replacement': []}


def test_a_pod_replacement_wipes_cache_files_and_registry_and_loses_unread_lines(agent):
    agent.persistent_cache.write('acme:cursor', 'seq 1')
    send(agent, 'aaaa')
    agent.advance(1)
    send(agent, 'bbbb')
    agent.replace_pod()

    assert list(agent.run_path.iterdir()) == []
    assert agent.persistent_cache.read('acme:cursor') == ''
    assert agent.lost['replacement'] == ['bbbb']
    send(agent, 'cccc')
    agent.advance(1)
    assert agent.delivered_lines() == ['aaaa', 'cccc']
    assert registry(agent)['Registry'][f'file:{agent.log_path(CHECK_ID)}']['Offset'] == '5'


def test_registry_json_is_written_in_place_and_a_torn_one_is_read_as_empty(agent):
    send(agent, 'aaaa')
    agent.advance(1)
    inode = agent.registry_path.stat().st_ino
    agent.advance(1)
    assert agent.registry_path.stat().st_ino == inode  # truncated and rewritten, not replaced

    agent.write_file = lambda path, data: write_torn(path, data, 7)  # the process dies mid-write
    agent.advance(1)
    assert agent.registry_path.read_bytes() == b'{"Versi'
    send(agent, 'bbbb')
    agent.restart()  # no offset: the file is tailed from its end, past the unread line
    agent.advance(1)
    assert agent.delivered_lines() == ['aaaa']
    assert agent.lost['restart'] == ['bbbb']


def test_install_routes_the_stub_to_the_emulated_agent(agent, monkeypatch, datadog_agent):
    agent.install(monkeypatch, datadog_agent)
    datadog_agent.send_log('{"message": "hello"}', CHECK_ID)
    datadog_agent.write_persistent_cache('acme:cursor', 'seq 2')

    assert agent.log_path(CHECK_ID).read_text() == '{"message": "hello"}\n'
    datadog_agent.assert_logs(CHECK_ID, [{'message': 'hello'}])
    assert (
        (agent.run_path / 'acme' / 'cursor').read_text()
        == datadog_agent.read_persistent_cache('acme:cursor')
        == 'seq 2'
    )
    assert datadog_agent.get_config('logs_config.run_path') == str(agent.run_path)
    assert datadog_agent.get_config('logs_config.integrations_logs_files_max_size') == 20 / MB
    assert datadog_agent.get_config('logs_config.file_scan_period') == 10.0
    assert datadog_agent.get_config('logs_enabled') is True  # other keys: as before (conftest's agent_config)
