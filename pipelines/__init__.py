"""The Dagster wiring (definitions.py, which Dagster loads; jobs.py; automation.py: schedules and sensors), the
commands people run (commands/: make run, approve, parse, rebuild, backfill) and the always-on service (service/:
make serve and its run launcher)."""
