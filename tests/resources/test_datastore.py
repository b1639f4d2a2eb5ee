"""The Datastore client against the stand-in: clear errors that never show the key, retries (as many as the
downloads' HTTP_MAX_ATTEMPTS), timeouts."""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

import pytest

from pipelines.commands.datastore_standin import STANDIN_KEY as KEY
from pipelines.commands.datastore_standin import StandIn
from resources import build_resources
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


@pytest.mark.parametrize(("max_attempts", "tries"), [("2", 2), (None, 5)])
def test_the_datastore_retries_as_http_max_attempts_says(standin: StandIn, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path, max_attempts: str | None,
                                                         tries: int) -> None:
    # The publish target as the definitions build it from the settings, pointed at the stand-in.
    for name, value in {"LDS_URL": standin.url, "LDS_DATASET": standin.dataset, "LDS_API_KEY": KEY,
                        "HTTP_BACKOFF_BASE_S": "0.1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("LDS_DRY_RUN_DIR", "LDS_REHEARSAL", "HTTP_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    if max_attempts is not None:
        monkeypatch.setenv("HTTP_MAX_ATTEMPTS", max_attempts)
    target = build_resources(data_dir=tmp_path)["datastore"]
    assert isinstance(target, LondonDatastore)
    standin.refuse_all_with = 503
    waits: list[float] = []
    sleep = time.sleep

    def timed_sleep(seconds: float) -> None:  # the waits really happen; they are only noted too
        waits.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(time, "sleep", timed_sleep)
    with target.process_config_and_initialize().open() as lds, pytest.raises(DatastoreError) as caught:
        lds.get_dataset()
    assert [r.status for r in standin.log] == [503] * tries
    assert f"gave up after {tries} attempts" in str(caught.value)
    # HTTP_BACKOFF_BASE_S=0.1: the waits between attempts are 0.1, 0.2, 0.4, 0.8 s, each jittered down to half.
    ceilings = [0.1, 0.2, 0.4, 0.8][:tries - 1]
    assert len(waits) == len(ceilings)
    assert all(ceiling / 2 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings, strict=True)), waits
