"""`make serve`: the pipeline as an always-on service on one machine (supervisor.py starts and watches the parts,
postgres.py runs its database) and the run launcher its run monitoring relies on (run_launcher.py)."""
