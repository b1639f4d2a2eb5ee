"""The Datastore client against the stand-in: clear errors that never show the key, retries, timeouts."""

from __future__ import annotations

import hashlib
import tempfile

import pytest

from pipelines.commands.datastore_standin import STANDIN_KEY as KEY
from pipelines.commands.datastore_standin import StandIn
from resources.datastore import DatastoreError, LondonDatastore, md5_matches


def client(standin: StandIn, key: str = KEY, **settings) -> LondonDatastore:
    # These calls never record publish state; the folder is only there because the resource requires one.
    return LondonDatastore(base_url=standin.url, dataset=standin.dataset, api_key=key, backoff_base_s=0.01,
                           state_dir=tempfile.mkdtemp(prefix="lds-state-"), **settings)


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "did not accept the API key: check LDS_API_KEY"), (403, "has no permission to change dataset"),
     (404, "check LDS_DATASET and LDS_URL")],
)
def test_refusals_are_explained_without_the_key(standin: StandIn, status: int, message: str) -> None:
    standin.refuse_all_with = status
    with client(standin).open() as lds, pytest.raises(DatastoreError) as caught:
        lds.get_dataset()
    assert message in str(caught.value) and caught.value.status == status
    assert KEY not in str(caught.value) and KEY not in repr(caught.value.__cause__)
    assert len(standin.log) == 1  # a refusal is not retried


def test_a_wrong_key_gets_401_and_is_not_echoed(standin: StandIn) -> None:
    with client(standin, key="some-other-key-xyz").open() as lds, pytest.raises(DatastoreError) as caught:
        lds.get_dataset()
    assert caught.value.status == 401 and "some-other-key-xyz" not in str(caught.value)


def test_server_errors_and_dropped_connections_are_retried(standin: StandIn) -> None:
    standin.faults = {1: 503, 2: "drop"}
    with client(standin).open() as lds:
        assert lds.get_dataset()["id"] == standin.dataset
    assert [r.status for r in standin.log] == [503, -1, 200]


def test_slow_answers_time_out_with_a_clear_error(standin: StandIn) -> None:
    standin.delay_s = 0.5
    with client(standin, read_timeout_s=0.1, max_attempts=2).open() as lds, pytest.raises(DatastoreError) as caught:
        lds.get_dataset()
    assert "timed out" in str(caught.value) and "[london_datastore]" in str(caught.value)


def test_an_empty_key_fails_before_any_request(standin: StandIn) -> None:
    with pytest.raises(DatastoreError, match="set LDS_API_KEY"), client(standin, key=" ").open():
        pass
    assert standin.log == []


def test_md5_comparison_understands_the_platforms_hashes() -> None:
    content = b"area_code,date\nE09000002,2020-05-01\n"
    plain = hashlib.md5(content).hexdigest()
    one_part = hashlib.md5(hashlib.md5(content).digest()).hexdigest() + "-1"
    assert md5_matches(plain, content) and md5_matches(one_part, content)
    assert not md5_matches(plain.replace(plain[0], "0" if plain[0] != "0" else "1", 1), content)
    assert not md5_matches(plain + "-6", content)  # many parts: cannot be checked, so never "unchanged"
    assert not md5_matches(None, content)
