"""Where `make serve` keeps its PostgreSQL cluster when started by root: in the data folder when the server's own
account can reach it, otherwise in a persistent folder it can reach, said in one start-up line.

The folders are real, with real modes. They are made under a world-passable temporary folder rather than pytest's
tmp_path, because pytest keeps its own temporary folders private (mode 700) to whoever runs the tests: every path
under tmp_path would be out of another account's reach whatever the test did."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.service.postgres import ServiceError, place_cluster, postgres_bin_dir
from tests.service import Service, free_settings, postgres_available, postgres_folder


def other_account() -> pwd.struct_passwd:
    """An account that is neither root nor whoever runs the tests, as the server's account is for root."""
    try:
        account = pwd.getpwnam("nobody")
    except KeyError:
        account = pwd.struct_passwd(("stranger", "x", 54321, 54321, "", "/", "/bin/false"))
    if account.pw_uid in (0, os.geteuid()):
        pytest.skip("needs an account other than the one running the tests")
    return account


@pytest.fixture
def world() -> Iterator[Path]:
    """A folder every account may pass through, removed afterwards (modes restored so removal never stops)."""
    folder = postgres_folder()
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)


def checkout_in(parent: Path) -> Path:
    """`<parent>/checkout/storage/postgres`: the data folder's PostgreSQL folder of a checkout in `parent`."""
    storage = parent / "checkout" / "storage"
    storage.mkdir(parents=True)
    return storage / "postgres"


def test_a_private_parent_sends_the_cluster_where_the_account_can_reach_and_says_where(world: Path) -> None:
    private = world / "root"  # as /root: its owner only
    private.mkdir()
    configured = checkout_in(private)
    private.chmod(0o700)
    base = world / "var-lib-covid-pipeline"
    account = other_account()

    place = place_cluster(configured, account, base)

    assert place.moved and place.folder.parent.parent == base and place.folder.name == "postgres"
    assert place.blocked_at == private
    note = place.note(account.pw_name)
    assert note is not None
    assert str(place.folder / "cluster") in note  # where it lives
    assert repr(account.pw_name) in note and str(private) in note  # why
    assert str(configured) in note and "pg_dump" in note  # the password stays; backups as documented
    # The same data folder finds its cluster again at the next start; another checkout gets its own.
    assert place_cluster(configured, account, base).folder == place.folder
    assert place_cluster(checkout_in(world / "elsewhere"), account, base).folder != place.folder


def test_a_folder_the_account_can_reach_keeps_the_cluster_there_with_nothing_to_say(world: Path) -> None:
    shared = world / "srv"
    shared.mkdir()
    configured = checkout_in(shared)
    shared.chmod(0o755)
    account = other_account()

    place = place_cluster(configured, account, world / "var-lib-covid-pipeline")

    assert place.folder == configured and not place.moved
    assert place.note(account.pw_name) is None


def test_without_root_the_server_runs_as_the_caller_and_the_cluster_stays_put(world: Path) -> None:
    """Not root: no other account is involved (account None), so even a private folder is fine."""
    private = world / "home"
    private.mkdir()
    configured = checkout_in(private)
    private.chmod(0o700)

    assert place_cluster(configured, None, world / "var-lib-covid-pipeline").folder == configured


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another account needs root")
def test_a_private_folder_owned_by_the_account_itself_is_reachable(world: Path) -> None:
    account = other_account()
    theirs = world / "theirs"
    theirs.mkdir()
    configured = checkout_in(theirs)
    os.chown(theirs, account.pw_uid, account.pw_gid)
    theirs.chmod(0o700)

    assert place_cluster(configured, account, world / "var-lib-covid-pipeline").folder == configured


def test_an_existing_cluster_out_of_reach_is_never_replaced_by_an_empty_one(world: Path) -> None:
    private = world / "root"
    private.mkdir()
    configured = checkout_in(private)
    (configured / "cluster").mkdir(parents=True)
    (configured / "cluster" / "PG_VERSION").write_text("15\n")
    private.chmod(0o700)
    base = world / "var-lib-covid-pipeline"

    with pytest.raises(ServiceError) as refused:
        place_cluster(configured, other_account(), base)

    assert str(private) in str(refused.value) and str(configured / "cluster") in str(refused.value)
    assert not base.exists()


@pytest.mark.service
@pytest.mark.skipif(os.geteuid() != 0, reason="the server runs as another account only when started by root")
def test_make_serve_as_root_from_a_private_checkout_starts_postgresql_where_it_can(world: Path, tmp_path: Path) -> None:
    """The issue's case for real: root, a checkout in a mode-700 folder; initdb, start, a pg_dump backup with the
    password where the docs say, and a second start that finds the same cluster."""
    if not postgres_available():
        pytest.skip("PostgreSQL is missing: `make test` installs Debian's postgresql")
    private = world / "root"
    private.mkdir()
    configured = checkout_in(private)
    private.chmod(0o700)
    base = world / "var" / "lib" / "covid-pipeline"
    settings = free_settings()
    account = pwd.getpwnam(settings.pg_os_user)

    def started() -> tuple[Service, list[str]]:
        service = Service(tmp_path / "home", settings=settings, postgres_root=configured,
                          extra_env={"PIPELINE_DATA_DIR": str(configured.parent)})
        service.postgres.fallback_base = base
        lines: list[str] = []
        service.start_postgres(report=lines.append)
        return service, lines

    service, lines = started()
    try:
        cluster = service.postgres.cluster
        assert cluster.parent.parent.parent == base
        assert lines[0].startswith(f"PostgreSQL's cluster lives in {cluster}:")
        assert f"created now in {cluster}" in lines[1]
        assert cluster.parent.stat().st_uid == account.pw_uid and cluster.parent.stat().st_mode & 0o777 == 0o700
        # The backup as documented: the password file in <data folder>/postgres, pg_dump over TCP.
        password = (configured / "password").read_text().strip()
        dump = subprocess.run(
            [str(postgres_bin_dir() / "pg_dump"), "-h", "127.0.0.1", "-p", str(settings.pg_port), "-U",
             settings.pg_username, "-Fc", settings.pg_db], env={**os.environ, "PGPASSWORD": password},
            capture_output=True, timeout=60)
        assert dump.returncode == 0 and dump.stdout, dump.stderr
    finally:
        service.stop(report=lambda _: None)

    again, lines = started()
    try:
        assert again.postgres.cluster == cluster
        assert lines[0].startswith(f"PostgreSQL's cluster lives in {cluster}:")
        assert f"cluster {cluster}" in lines[1] and "created now" not in lines[1]
    finally:
        again.stop(report=lambda _: None)
