"""Dagster's SQLite event log (the local instance's, config/dagster.yaml), with its database engines reused.

Dagster's `SqliteEventLogStorage` builds a new SQLAlchemy engine for every read or write of a run's events and
throws it away after. A nightly stores 240 events through about 470 such connections (an asset event is written to
the run's database and to the index), and building an engine and opening its first connection took about 0.4 s of
the nightly's 5.5 s in one process. This subclass keeps the engines of the last few databases it used, per process.
Nothing else changes: still one connection per use, closed after it (NullPool, as Dagster does), so nothing is held
between events or shared with a forked step process; the same files, in the same place, as the default storage.

It overrides a private method (`_connect`) of the Dagster version requirements.lock pins; every run of the test
suite stores its events through it, so an upgrade that changes that method fails loudly there.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as db
from dagster._config import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy.pool import NullPool

# A run writes to its own database and the index; the webserver reads a few runs at a time. Kept per process, so a
# long-lived webserver holds at most this many engines (each with its cache of compiled statements).
ENGINES_KEPT = 8


class ReusedEngineSqliteEventLogStorage(SqliteEventLogStorage):
    """`base_dir`: the instance's folder ($DAGSTER_HOME); the event logs are in its `history/runs/`, where Dagster's
    default storage keeps them."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[tuple[int, str], db.Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(os.path.join(base_dir, "history", "runs"), inst_data)

    @classmethod
    def config_type(cls) -> dict:
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData,
                          config_value: dict) -> ReusedEngineSqliteEventLogStorage:
        return cls(config_value["base_dir"], inst_data=inst_data)

    def _engine(self, conn_string: str) -> db.Engine:
        key = (os.getpid(), conn_string)  # a forked process builds its own
        with self._engines_lock:
            engine = self._engines.pop(key, None)
            if engine is None:
                engine = db.create_engine(conn_string, poolclass=NullPool,
                                          connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            self._engines[key] = engine
            while len(self._engines) > ENGINES_KEPT:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.Connection]:
        with self._db_lock:
            engine = self._engine(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn
