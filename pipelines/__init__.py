"""The Dagster wiring (definitions.py, which Dagster loads; jobs.py; automation.py: schedules and sensors), the
commands people run (commands/: make run, approve, parse, rebuild, backfill), the always-on service (service/:
make serve, its run launcher, the local instance's event log) and the multiprocess executor's fork server (preload.py:
what it imports; step_server.py: starting it early)."""

import gc

from pipelines.step_server import start_if_needed

# Every process that loads the project keeps what it imports (Dagster, pandas, pandera: about 185,000 objects the
# collector tracks) for its whole life, and makes many short-lived ones. Python's default (a collection every 700 new
# objects, a full one every 70,000) walked the long-lived ones again and again: 0.3-0.4 s of the 3.7 s of CPU of a
# `make run`. definitions.py then freezes what was imported, so that no collection looks through it again.
gc.set_threshold(10_000, 10, 10)

# First thing on importing the project in a run's own process: the fork server its steps start from imports on
# the other core meanwhile (pipelines/step_server.py).
start_if_needed()
