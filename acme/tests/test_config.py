# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
from pathlib import Path

import pytest
import yaml

from .conftest import TOKEN

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).parent.parent / 'datadog_checks' / 'acme' / 'data' / 'conf.yaml.example'
VALID = {'url': 'https://api.acme.example', 'api_token': TOKEN}


@pytest.mark.parametrize(
    'override, problem',
    [
        pytest.param({'url': None}, r'url\n  Field required', id='url missing'),
        pytest.param({'url': 'api.acme.example'}, r'url\n.*http:// or https:// base URL', id='url without scheme'),
        pytest.param({'url': 'ftp://api.acme.example'}, r'url\n.*http:// or https://', id='url not http'),
        pytest.param({'url': 'https://'}, r'url\n.*base URL', id='url without host'),
        pytest.param({'url': 'https://acme.example/?a=1'}, r'url\n.*without query', id='url with query'),
        pytest.param({'api_token': None}, r'api_token\n  Field required', id='token missing'),
        pytest.param({'api_token': '  '}, r'api_token\n.*must not be empty', id='token empty'),
        pytest.param({'page_size': 0}, r'page_size\n  Input should be greater than or equal to 1', id='page 0'),
        pytest.param({'page_size': 1001}, r'page_size\n  Input should be less than or equal to 1000', id='page 1001'),
        pytest.param(
            {'initial_lookback': 64801}, r'initial_lookback\n  Input should be less than or equal to 64800', id='>18h'
        ),
        pytest.param(
            {'initial_lookback': -1}, r'initial_lookback\n  Input should be greater than or equal to 0', id='lookback<0'
        ),
        pytest.param(
            {'ingestion_delay': -5}, r'ingestion_delay\n  Input should be greater than or equal to 0', id='delay<0'
        ),
        pytest.param(
            {'ingestion_delay': 64801}, r'ingestion_delay\n  Input should be less than or equal to 3600', id='delay>1h'
        ),
        pytest.param({'datadog_api_url': 'api.datadoghq.eu'}, r'datadog_api_url\n.*https://', id='api url'),
        pytest.param({'max_run_time': 0}, r'max_run_time\n.*positive number of seconds', id='run time 0'),
        pytest.param({'max_run_time': -3}, r'max_run_time\n.*positive number of seconds', id='run time<0'),
        pytest.param({'streams': ['Prod Web']}, r'streams\n.*must match .*Prod Web', id='stream id pattern'),
        pytest.param({'streams': ['-x']}, r'streams\n.*must match', id='stream id leading dash'),
        pytest.param({'streams': ['a' * 64]}, r'streams\n.*must match', id='stream id too long'),
        pytest.param({'streams': []}, r'streams\n.*at least one stream', id='streams empty'),
    ],
)
def test_bad_config_is_refused_naming_the_option(make_check, dd_run_check, override, problem):
    instance = {**VALID, **override}
    instance = {key: value for key, value in instance.items() if value is not None}
    check = make_check(instance)

    with pytest.raises(Exception, match=problem) as error:
        dd_run_check(check, extract_message=True)

    assert 'ConfigurationError' in error.value.args[0] or 'InstanceConfig' in error.value.args[0]


@pytest.mark.parametrize('override', [{'api_token': '  '}, {'url': 'nope'}, {'page_size': 0}])
def test_config_errors_never_show_the_token(make_check, dd_run_check, override):
    check = make_check({**VALID, **override})

    with pytest.raises(Exception) as error:
        dd_run_check(check)

    assert TOKEN not in str(error.value)


def test_the_example_config_ships_the_logs_section_the_agent_needs():
    example = yaml.safe_load(EXAMPLE.read_text())

    # Uncommented, unlike optional sections: without it the Agent drops every log the check submits. Correct as
    # shipped: no placeholder to edit (a literal `<SERVICE>` would become the service of logs that have none).
    assert example['logs'] == [{'type': 'integration', 'source': 'acme'}]
