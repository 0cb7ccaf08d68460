# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""tests/upload_assets.py against a fake Datadog API: the assets land once, with the API's field names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from . import upload_assets
from .agent_emulation import Intake
from .clock import FakeClock
from .fake_datadog import FakeDatadog

API_KEY, APP_KEY = 'test-api-key-0123456789abcdef', 'test-app-key-fedcba9876543210'
KEYS = {'DD_API_KEY': API_KEY, 'DD_APP_KEY': APP_KEY}
ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / 'manifest.json').read_text())['assets']
PIPELINE_YAML = yaml.safe_load((ROOT / 'assets' / 'logs' / f"{MANIFEST['logs']['source']}.yaml").read_text())
DASHBOARDS = [json.loads((ROOT / path).read_text()) for path in MANIFEST['dashboards'].values()]
MONITORS = [json.loads((ROOT / path).read_text())['definition'] for path in MANIFEST['monitors'].values()]


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeDatadog]:
    with FakeDatadog(intake=Intake(clock.time), clock=clock.time, api_key=API_KEY, app_key=APP_KEY) as server:
        yield server


def upload(capsys: pytest.CaptureFixture[str], fake: FakeDatadog, *args: str, env: dict[str, str] = KEYS):
    """Run the tool as `python -m tests.upload_assets --api-url <fake> ARGS`; (exit code, stdout lines, stderr)."""
    code = upload_assets.main(['--api-url', fake.url, *args], environ=dict(env))
    out, err = capsys.readouterr()
    assert API_KEY not in out + err and APP_KEY not in out + err
    return code, out.splitlines(), err


def without_id(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in ('id', 'url')}


def written(fake: FakeDatadog) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests if r.method not in ('GET', 'HEAD')]


@pytest.mark.integration
def test_the_first_run_creates_every_asset_the_manifest_lists(capsys, fake):
    code, lines, err = upload(capsys, fake)

    assert (code, err) == (0, '')
    assert [len(fake.assets[kind]) for kind in ('pipelines', 'dashboards', 'monitors')] == [1, 1, len(MONITORS)]
    [dashboard] = fake.assets['dashboards'].values()
    assert without_id(dashboard) == DASHBOARDS[0]  # the JSON as it is
    assert sorted(map(without_id, fake.assets['monitors'].values()), key=str) == sorted(MONITORS, key=str)
    assert len(lines) == 2 + len(MONITORS) and all(': created, id ' in line for line in lines)
    assert f"dashboard 'ACME Overview': created, id {dashboard['id']}: {fake.url}/dashboard/{dashboard['id']}" in lines
    for monitor in fake.assets['monitors'].values():
        assert f"monitor {monitor['name']!r}: created, id {monitor['id']}: {fake.url}/monitors/{monitor['id']}" in lines
    assert all(r.headers['dd-api-key'] == API_KEY and r.headers['dd-application-key'] == APP_KEY for r in fake.requests)


@pytest.mark.integration
def test_a_second_run_updates_each_asset_in_place_without_duplicates(capsys, fake):
    upload(capsys, fake)
    ids = {kind: sorted(store, key=str) for kind, store in fake.assets.items()}
    [pipeline_id] = ids['pipelines']
    fake.assets['pipelines'][pipeline_id]['processors'] = []  # edited in Datadog since
    fake.requests.clear()

    code, lines, _ = upload(capsys, fake)

    assert code == 0
    assert {kind: sorted(store, key=str) for kind, store in fake.assets.items()} == ids
    assert len(lines) == 2 + len(MONITORS) and all(': updated, id ' in line for line in lines)
    assert sorted(written(fake)) == sorted(
        [('PUT', f'/api/v1/logs/config/pipelines/{pipeline_id}')]
        + [('PUT', f'/api/v1/dashboard/{key}') for key in ids['dashboards']]
        + [('PUT', f'/api/v1/monitor/{key}') for key in ids['monitors']]
    )
    assert len(fake.assets['pipelines'][pipeline_id]['processors']) == len(PIPELINE_YAML['pipeline']['processors'])


@pytest.mark.integration
def test_an_asset_made_by_hand_under_the_same_name_is_updated_not_duplicated(capsys, fake):
    monitor = MONITORS[0]
    fake.assets['monitors'][7] = {**monitor, 'query': 'avg(last_5m):avg:system.load.1{*} > 1', 'id': 7}
    fake.assets['monitors'][8] = {**monitor, 'name': f"{monitor['name']} (copy)", 'id': 8}  # a substring: not it

    code, lines, _ = upload(capsys, fake)

    assert code == 0
    assert fake.assets['monitors'][7] == {**monitor, 'id': 7}
    assert f"monitor {monitor['name']!r}: updated, id 7: {fake.url}/monitors/7" in lines
    assert len(fake.assets['monitors']) == len(MONITORS) + 1


@pytest.mark.integration
def test_the_uploaded_pipeline_has_the_logs_pipelines_api_field_names(capsys, fake):
    upload(capsys, fake)

    [pipeline] = fake.assets['pipelines'].values()
    source = PIPELINE_YAML['pipeline']
    assert without_id(pipeline) == {
        'name': source['name'],
        'is_enabled': True,
        'filter': {'query': 'source:acme'},
        'processors': pipeline['processors'],
    }
    assert len(pipeline['processors']) == len(source['processors']) > 0
    for uploaded, original in zip(pipeline['processors'], source['processors']):
        assert uploaded == {
            'type': 'attribute-remapper',
            'name': original['name'],
            'is_enabled': original['enabled'],
            'sources': original['sources'],
            'source_type': original['sourceType'],
            'target': original['target'],
            'target_type': original['targetType'],
            'preserve_source': original['preserveSource'],
            'override_on_conflict': original['overrideOnConflict'],
        }


@pytest.mark.unit
def test_integrations_core_names_of_other_processors_map_to_the_api_names():
    pipeline = {
        'pipeline': {
            'type': 'pipeline',
            'name': 'Kong',
            'enabled': False,
            'filter': {'query': 'source:kong'},
            'processors': [
                {
                    'type': 'grok-parser',
                    'name': 'Parsing',
                    'enabled': True,
                    'source': 'message',
                    'samples': ['127.0.0.1 - frank [13/Jul/2016:10:55:36 +0000]'],
                    'grok': {'supportRules': '_ip %{ip:network.client.ip}', 'matchRules': 'rule %{_ip}'},
                },
                {'type': 'user-agent-parser', 'enabled': True, 'sources': ['http.useragent'], 'encoded': False},
                {
                    'type': 'category-processor',
                    'enabled': True,
                    'target': 'http.status_category',
                    'categories': [{'filter': {'query': '@http.status_code:[200 TO 299]'}, 'name': 'OK'}],
                },
                {'type': 'pipeline', 'name': 'Inner', 'enabled': True, 'filter': {'query': '*'}, 'processors': []},
            ],
        }
    }

    payload = upload_assets.pipeline_payload(pipeline)

    assert payload['is_enabled'] is False and 'type' not in payload
    grok, user_agent, category, inner = payload['processors']
    assert grok['grok'] == {'support_rules': '_ip %{ip:network.client.ip}', 'match_rules': 'rule %{_ip}'}
    assert grok['samples'] == pipeline['pipeline']['processors'][0]['samples'] and grok['is_enabled'] is True
    assert user_agent == {
        'type': 'user-agent-parser',
        'is_enabled': True,
        'sources': ['http.useragent'],
        'is_encoded': False,
    }
    assert category['categories'] == [{'filter': {'query': '@http.status_code:[200 TO 299]'}, 'name': 'OK'}]
    assert inner == {
        'type': 'pipeline',
        'name': 'Inner',
        'is_enabled': True,
        'filter': {'query': '*'},
        'processors': [],
    }


@pytest.mark.integration
@pytest.mark.parametrize(
    'env, named',
    [
        ({'DD_API_KEY': 'wrong-api-key', 'DD_APP_KEY': APP_KEY}, 'refused the keys'),
        ({'DD_API_KEY': API_KEY, 'DD_APP_KEY': 'wrong-app-key'}, 'refused the keys'),
    ],
    ids=['wrong API key', 'wrong application key'],
)
def test_wrong_keys_fail_with_a_clear_message_and_change_nothing(capsys, fake, env, named):
    code, lines, err = upload(capsys, fake, env=env)

    assert code == 1 and lines == []
    assert named in err and 'DD_API_KEY' in err and 'DD_APP_KEY' in err and 'HTTP 403' in err
    assert 'wrong-api-key' not in err and 'wrong-app-key' not in err
    assert written(fake) == [] and not any(fake.assets.values())


@pytest.mark.integration
@pytest.mark.parametrize(
    'env, message',
    [
        ({}, 'DD_API_KEY and DD_APP_KEY are not set'),
        ({'DD_API_KEY': API_KEY}, 'DD_APP_KEY is not set'),
        ({'DD_APP_KEY': APP_KEY, 'DD_API_KEY': '  '}, 'DD_API_KEY is not set'),
    ],
    ids=['none', 'no application key', 'blank API key'],
)
def test_a_missing_key_is_named_before_anything_is_sent(capsys, fake, env, message):
    code, lines, err = upload(capsys, fake, env=env)

    assert code == 1 and lines == []
    assert message in err
    assert fake.requests == []


@pytest.mark.integration
def test_a_dry_run_says_what_it_would_do_and_writes_nothing(capsys, fake):
    code, lines, _ = upload(capsys, fake, '--dry-run')
    assert code == 0 and len(lines) == 2 + len(MONITORS) and all('would create (dry run)' in line for line in lines)
    assert written(fake) == [] and not any(fake.assets.values())

    upload(capsys, fake)
    fake.requests.clear()
    code, lines, _ = upload(capsys, fake, '--dry-run')
    assert code == 0 and all('would update ' in line for line in lines)
    [dashboard_id] = fake.assets['dashboards']
    assert f"dashboard 'ACME Overview': would update {dashboard_id} (dry run)" in lines
    assert written(fake) == []


@pytest.mark.integration
def test_a_dry_run_without_keys_only_checks_the_files(capsys, fake):
    code, lines, _ = upload(capsys, fake, '--dry-run', env={})

    assert code == 0 and len(lines) == 2 + len(MONITORS)
    assert fake.requests == []


@pytest.mark.unit
@pytest.mark.parametrize(
    'site, api_url, app_url',
    [
        ('datadoghq.com', 'https://api.datadoghq.com', 'https://app.datadoghq.com'),
        ('datadoghq.eu', 'https://api.datadoghq.eu', 'https://app.datadoghq.eu'),
        ('us5.datadoghq.com', 'https://api.us5.datadoghq.com', 'https://us5.datadoghq.com'),
        ('ddog-gov.com', 'https://api.ddog-gov.com', 'https://app.ddog-gov.com'),
    ],
)
def test_the_api_url_comes_from_the_site(site, api_url, app_url):
    assert upload_assets.api_url_for(site) == api_url
    assert upload_assets.app_url_for(api_url) == app_url


@pytest.mark.unit
def test_dd_site_picks_the_api_url_and_api_url_overrides_it(monkeypatch):
    used = []
    monkeypatch.setattr(upload_assets, 'upload', lambda assets, datadog, **_: used.append(datadog.api_url))

    assert upload_assets.main([], environ={**KEYS, 'DD_SITE': 'datadoghq.eu'}) == 0
    assert upload_assets.main([], environ=KEYS) == 0
    assert upload_assets.main(['--api-url', 'http://127.0.0.1:1/'], environ={**KEYS, 'DD_SITE': 'datadoghq.eu'}) == 0
    assert used == ['https://api.datadoghq.eu', 'https://api.datadoghq.com', 'http://127.0.0.1:1']


@pytest.mark.unit
def test_the_tool_does_not_import_the_check():
    source = (Path(__file__).parent / 'upload_assets.py').read_text()
    assert 'datadog_checks' not in source
