"""The Dagster wiring (definitions.py, which Dagster loads; jobs.py; automation.py: schedules and sensors), the
commands people run (commands/: make run, approve, parse, rebuild, backfill), the always-on service (service/:
make serve, its run launcher, the local instance's event log) and the multiprocess executor's fork server (preload.py:
what it imports; step_server.py: starting it early)."""

from pipelines.step_server import start_if_needed

# First thing on importing the project in a run's own process: the fork server its steps start from imports on
# the other core meanwhile (pipelines/step_server.py).
start_if_needed()
