"""Dagster's SQLite event log (the local instance's, config/dagster.yaml), keeping its database connections open.

Dagster's `SqliteEventLogStorage` builds a new SQLAlchemy engine for every read or write of a run's events, opens a
connection, and throws both away after. A nightly stores 240 events through about 470 such connections (an asset
event is written to the run's database and to the index); building the engines and opening the connections (SQLite
reads the database's schema again for each) took about 0.9 s of a 5.5 s nightly in one process. This subclass keeps
an engine, with one open connection, for each of the last few databases a process used.

Why that is safe here:
- Dagster already serialises every use of the storage's connections behind one lock (`_db_lock`), so a connection is
  never used by two threads at once; between uses it is idle, with no transaction open (each use commits or rolls
  back), so it holds no lock another process (the UI, a run, the daemon) could wait on.
- The engines are kept per process id: a forked process builds its own and never uses, closes or evicts its
  parent's (a SQLite connection must not cross a fork). The steps' processes fork from a server that never opens
  the instance (pipelines/preload.py) anyway.
- `wipe` (which deletes the run databases' files) and `dispose` close this process's connections first;
  `delete_events` closes the deleted run's (`make prune` then removes its files).
- The UI follows a running run by watching its database file, which SQLite writes (from the write-ahead log) when
  the last connection closes or a checkpoint runs: each use of a run's database ends with a passive checkpoint.

The same files, in the same place, as Dagster's default storage (tests/pipelines/service/test_event_log.py reads
them back with it). It overrides private methods (`_connect`) of the Dagster version requirements.lock pins; every
run in the test suite stores its events through it, so an upgrade that changes them fails loudly there.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as db
from dagster._config import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy.pool import QueuePool

# A run writes to its own database and the index; the webserver reads a few runs at a time. Per process, so a
# long-lived webserver holds at most this many open databases (each with its cache of compiled statements).
ENGINES_KEPT = 8


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`base_dir`: the instance's folder ($DAGSTER_HOME); the event logs are in its `history/runs/`, where Dagster's
    default storage keeps them."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: dict[int, OrderedDict[str, db.Engine]] = {}  # process id -> database -> engine
        self._engines_lock = threading.Lock()
        super().__init__(os.path.join(base_dir, "history", "runs"), inst_data)

    @classmethod
    def config_type(cls) -> dict:
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData,
                          config_value: dict) -> PooledSqliteEventLogStorage:
        return cls(config_value["base_dir"], inst_data=inst_data)

    def _engine(self, conn_string: str) -> db.Engine:
        with self._engines_lock:
            engines = self._engines.setdefault(os.getpid(), OrderedDict())
            engine = engines.pop(conn_string, None)
            if engine is None:
                engine = db.create_engine(
                    conn_string, poolclass=QueuePool, pool_size=1, max_overflow=2,
                    # Used by one thread at a time (Dagster's lock), not always the thread that opened it.
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False})
            engines[conn_string] = engine
            while len(engines) > ENGINES_KEPT:
                engines.popitem(last=False)[1].dispose()
            return engine

    def _close_connections(self) -> None:
        with self._engines_lock:
            for engine in self._engines.pop(os.getpid(), {}).values():
                engine.dispose()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.Connection]:
        with self._db_lock:
            engine = self._engine(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn
                if shard != INDEX_SHARD_NAME:
                    # The UI follows a run by watching its database file, which a write reaches only when the
                    # write-ahead log is copied into it: done when the last connection closed, now here.
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def delete_events(self, run_id: str) -> None:
        super().delete_events(run_id)
        # Let go of the run's database, as Dagster's own class does after every use: `make prune` removes its files.
        with self._engines_lock:
            engine = self._engines.get(os.getpid(), OrderedDict()).pop(self.conn_string_for_shard(run_id), None)
        if engine is not None:
            engine.dispose()

    def wipe(self) -> None:
        self._close_connections()  # before the files go
        super().wipe()

    def dispose(self) -> None:
        self._close_connections()
        super().dispose()
