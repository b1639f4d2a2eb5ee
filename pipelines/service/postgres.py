"""The database `make serve` keeps Dagster's records in: our own PostgreSQL server (Debian's `postgresql` package),
initialised on the first start under `<data folder>/postgres/` and run as a non-root account, or an existing server
when DAGSTER_PG_HOST points to one.

Started by root, the server runs as another account, which may not be able to reach the data folder (a checkout
under /root, or any folder with a private parent). Its cluster then goes under FALLBACK_BASE, in a folder of its own
per data folder (place_cluster); the password and the server's log stay in `<data folder>/postgres/`, so the backup
commands in docs/operations.md are unchanged."""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from psycopg2 import sql

from resources.settings import ServiceSettings


class ServiceError(RuntimeError):
    """A part of the service could not start or stopped: the message says which and what to do."""


def make_passable(folder: Path) -> None:
    """Make `folder` and its missing parents, each one made here readable and passable by everyone (mode 755 whatever
    the umask), so the server's account can go through to its own folder inside."""
    missing = [folder, *(parent for parent in folder.parents)]
    missing = [each for each in missing if not each.exists()]
    for each in reversed(missing):
        each.mkdir(exist_ok=True)
        each.chmod(0o755)


def log_tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def postgres_bin_dir() -> Path:
    """Where PostgreSQL's server programs are: on PATH, or where Debian's package puts them (newest version)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise ServiceError("PostgreSQL is not installed: `apt-get install postgresql` (make serve does it), or point "
                           "DAGSTER_PG_HOST at an existing server")
    return Path(found[-1]).parent


# Where the cluster goes when the server's account cannot reach the data folder: persistent (never /tmp, which is
# emptied at boot), root-owned, and the usual place for a service's state (the Filesystem Hierarchy Standard).
FALLBACK_BASE = Path("/var/lib/covid-pipeline")


def current_umask() -> int:
    """The process's umask (os.umask can only be read by setting it, so it is set back straight away)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def blocking_folder(path: Path, account: pwd.struct_passwd) -> Path | None:
    """The first folder on the way to `path` (its parents, from /) that `account` may not pass through, or None
    when it can reach `path`. A folder not made yet will be made by this process, with its owner and umask."""
    if account.pw_uid == 0:
        return None
    groups = set(os.getgrouplist(account.pw_name, account.pw_gid))
    missing_mode = 0o777 & ~current_umask()
    for folder in reversed(path.resolve().parents):
        try:
            info = folder.stat()
            owner, group, mode = info.st_uid, info.st_gid, info.st_mode
        except FileNotFoundError:
            owner, group, mode = os.geteuid(), os.getegid(), missing_mode
        # Unix checks the owner's bits, else the group's, else everyone's: only the first class that applies counts.
        if owner == account.pw_uid:
            may_pass = mode & stat.S_IXUSR
        elif group in groups:
            may_pass = mode & stat.S_IXGRP
        else:
            may_pass = mode & stat.S_IXOTH
        if not may_pass:
            return folder
    return None


@dataclass(frozen=True)
class ClusterPlace:
    """Where our server's cluster lives: `folder` holds `cluster/`. `blocked_at` is the private folder that made it
    leave the configured one (None: it is in the configured one)."""

    folder: Path
    configured: Path
    blocked_at: Path | None = None

    @property
    def moved(self) -> bool:
        return self.folder != self.configured

    def note(self, account: str) -> str | None:
        """The start-up line saying where the cluster lives when it is not where the settings say (else None)."""
        if not self.moved:
            return None
        return (f"PostgreSQL's cluster lives in {self.folder / 'cluster'}: the {account!r} account cannot pass "
                f"{self.blocked_at} on the way to {self.configured}, where its password and log stay "
                "(backups as before: pg_dump, docs/operations.md \"Backup\")")


def place_cluster(configured: Path, account: pwd.struct_passwd | None,
                  fallback_base: Path = FALLBACK_BASE) -> ClusterPlace:
    """The configured folder when the server's account can reach it (or the server runs as us: account None);
    otherwise `<fallback_base>/<12 hex digits of the configured folder's SHA-256>/postgres`, the same folder at every
    start from the same data folder, and a different one for each checkout or data folder."""
    configured = configured.resolve()
    if account is None:
        return ClusterPlace(configured, configured)
    blocked = blocking_folder(configured, account)
    if blocked is None:
        return ClusterPlace(configured, configured)
    if (configured / "cluster" / "PG_VERSION").exists():
        # A cluster already there holds the run history: starting an empty one elsewhere would hide it.
        raise ServiceError(
            f"the {account.pw_name!r} account cannot pass {blocked} to reach the existing cluster in "
            f"{configured / 'cluster'}: let it through (chmod o+x {blocked}), or point DAGSTER_PG_HOST at an existing "
            "server")
    digest = hashlib.sha256(str(configured).encode()).hexdigest()[:12]
    return ClusterPlace(fallback_base / digest / "postgres", configured, blocked)


@dataclass
class Postgres:
    """The database the service keeps Dagster's records in: our own server under `root`, or an existing one."""

    settings: ServiceSettings
    root: Path  # <data folder>/postgres: the cluster (unless place_cluster moves it), the password, the server's log
    process: subprocess.Popen | None = None
    fallback_base: Path = FALLBACK_BASE
    _place: ClusterPlace | None = field(default=None, init=False, repr=False)

    @property
    def managed(self) -> bool:
        return self.settings.pg_host is None

    @property
    def host(self) -> str:
        return self.settings.pg_host or "127.0.0.1"

    @property
    def place(self) -> ClusterPlace:
        """Where the cluster lives (decided once: the account and folders do not change while the service runs)."""
        if self._place is None:
            self._place = place_cluster(self.root, self.os_user(), self.fallback_base)
        return self._place

    @property
    def cluster(self) -> Path:
        return self.place.folder / "cluster"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def password(self) -> str:
        """DAGSTER_PG_PASSWORD, or the one generated for our own server on its first start (kept, readable only by
        whoever runs `make serve`, beside the cluster)."""
        if self.settings.pg_password is not None:
            return self.settings.pg_password
        if not self.managed:
            raise ServiceError(f"DAGSTER_PG_HOST={self.settings.pg_host} is set but DAGSTER_PG_PASSWORD is not")
        secret = self.root / "password"
        if not secret.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(24))
        return secret.read_text().strip()

    def os_user(self) -> pwd.struct_passwd | None:
        """The account our server runs as: PostgreSQL refuses to run as root, so root hands it to a non-root
        account (DAGSTER_PG_OS_USER, by default `postgres`, which Debian's package creates)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(self.settings.pg_os_user)
        except KeyError:
            raise ServiceError(
                f"PostgreSQL cannot run as root and the account {self.settings.pg_os_user!r} does not exist: set "
                "DAGSTER_PG_OS_USER to a non-root account (Debian's postgresql package creates 'postgres')") from None

    def _as_server_user(self) -> dict:
        account = self.os_user()
        return {} if account is None else {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def initialise(self) -> bool:
        """Create the cluster on the first start (superuser DAGSTER_PG_USERNAME with the password). Returns whether
        it was created now."""
        if (self.cluster / "PG_VERSION").exists():
            return False
        account = self.os_user()
        self.root.mkdir(parents=True, exist_ok=True)
        password = self.password()
        home = self.place.folder
        if self.place.moved:
            make_passable(home.parent)
            home.mkdir(exist_ok=True)
            home.chmod(0o700)  # the cluster's folder: its account only, as initdb makes the cluster itself
        if account is not None:
            os.chown(home, account.pw_uid, account.pw_gid)
        # initdb reads the password from a file the server's account can read; it is removed straight after.
        pwfile = home / ".initdb-password"
        pwfile.write_text(password)
        os.chmod(pwfile, 0o600)
        if account is not None:
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        try:
            done = subprocess.run(
                [str(postgres_bin_dir() / "initdb"), "-D", str(self.cluster), "-U", self.settings.pg_username,
                 f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale"],
                capture_output=True, text=True, **self._as_server_user())
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            hint = ""
            if account is not None and "ermission denied" in done.stderr:
                hint = (f"\nThe {account.pw_name!r} account must be able to reach {home}: set PIPELINE_DATA_DIR "
                        "to a folder it can reach, or point DAGSTER_PG_HOST at an existing server.")
            raise ServiceError(f"initdb failed for {self.cluster}:\n{done.stdout[-1500:]}{done.stderr[-1500:]}{hint}")
        return True

    def start(self) -> None:
        if not self.managed:
            return
        self.initialise()
        # TCP on 127.0.0.1 only, no Unix socket (its default folder belongs to the system's own server).
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [str(postgres_bin_dir() / "postgres"), "-D", str(self.cluster), "-p", str(self.settings.pg_port),
                 "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                **self._as_server_user())

    def connect(self, dbname: str | None = None, timeout_s: int = 3):
        return psycopg2.connect(host=self.host, port=self.settings.pg_port, user=self.settings.pg_username,
                                password=self.password(), dbname=dbname or self.settings.pg_db,
                                connect_timeout=timeout_s)

    def wait_ready(self, timeout_s: float = 60) -> None:
        """Until the server accepts our login; then create the database on the first start."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.connect("postgres").close()
                break
            except psycopg2.OperationalError as error:
                if self.process is not None and self.process.poll() is not None:
                    raise ServiceError(f"PostgreSQL exited with code {self.process.returncode} "
                                       f"(port {self.settings.pg_port}: DAGSTER_PG_PORT); its log, {self.log}:\n"
                                       f"{log_tail(self.log)}") from None
                if time.monotonic() > deadline:
                    where = f"{self.host}:{self.settings.pg_port}"
                    raise ServiceError(f"PostgreSQL at {where} did not accept a login within {timeout_s:.0f} s: "
                                       f"{str(error).strip()}") from None
                time.sleep(0.3)
        connection = self.connect("postgres")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.settings.pg_db,))
                if cursor.fetchone() is None:
                    cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.settings.pg_db)))
        finally:
            connection.close()

    def stop(self, timeout_s: float = 30) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, write everything, exit); immediate (SIGQUIT) if
        that takes too long."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGQUIT)
            self.process.wait(timeout=10)
