"""Imported once by the multiprocess executor's fork server, so each step's process starts with everything it uses.

A step's process is forked from the fork server. Preloading the definitions alone left each step to import, on its
own, what Dagster loads lazily when the process opens the instance and runs the step (SQLAlchemy, Alembic, the
SQLite or PostgreSQL storages, the daemon's run coordinator, the compute log manager: 466 modules): 0.7 to 2 s per
step on our 2-core machines. Nothing here runs; it only imports, then freezes what it imported.
"""

import gc
import importlib
import importlib.util

PRELOADED = (
    # The instance: its SQLite storages (make dev, make run), the Alembic check of their schema, the compute logs,
    # and the run coordinator and monitoring it builds from the daemon's modules.
    "alembic.config",
    "alembic.runtime.migration",
    "alembic.script",
    "dagster._core.execution.api",
    "dagster._core.storage.local_compute_log_manager",
    "dagster._core.storage.sqlite_storage",
    "pipelines.service.event_log",  # config/dagster.yaml's event log storage
    "dagster._core.workspace.context",
    "dagster._daemon.controller",
    # A run launched from the UI runs in `dagster api execute_run`, whose __main__ a child imports again.
    "dagster._cli",
    # The project, and plotly for the report's step.
    "pipelines.definitions",
    "reports.render",
)
# make serve's instance (PostgreSQL): in the lock, so everywhere the project is installed.
OPTIONAL = ("dagster_postgres",)

for name in PRELOADED:
    importlib.import_module(name)
for name in OPTIONAL:
    if importlib.util.find_spec(name) is not None:
        importlib.import_module(name)

# Every step's process keeps all of this for its whole life: frozen, a step's garbage collections never look through it
# again (nor write to its pages, which each forked process would then have to copy).
gc.freeze()
