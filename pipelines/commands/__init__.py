"""The commands behind the make targets: run, approve, parse, rebuild and backfill (each `python -m
pipelines.commands.<name> --help`)."""
