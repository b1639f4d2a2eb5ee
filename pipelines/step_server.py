"""Start the multiprocess executor's fork server as soon as a process that will need it starts loading the project.

Every step of a run launched from the UI, a schedule or a sensor runs in a process forked from a server that has
imported what steps use (pipelines/preload.py; the executor's `start_method` in definitions.py). Dagster starts that
server when the first step is launched, so the run waited about 2 s for its imports after loading the same project
itself. Started here instead (`pipelines/__init__.py` calls `start_if_needed` when the package is first imported),
it imports on the other core while the run's own process loads the project, opens the instance and plans the run;
the executor then finds it running and uses it, exactly as it would have used one it started.

Which processes: the process Dagster's code server starts for each run (`start_run_in_subprocess`) unless
DAGSTER_EXECUTOR=in_process, and `make run` with PIPELINE_EXECUTOR=multiprocess. Nothing else (the code server, the
webserver, tests, a step's process, the fork server itself): a server there would cost a core's 2 s and memory for
nothing. If Dagster renames what is checked, runs are as fast as before this existed, no slower.

Imports only the standard library: it runs before anything else of the project is imported.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import sys

# What every step's process starts from: the executor's `preload_modules` (definitions.py) are this list.
PRELOAD = ["pipelines.preload"]
# The function Dagster's code server runs a launched run in, in a process of its own.
DAGSTER_RUN_PROCESS = "start_run_in_subprocess"


def runs_steps_in_processes() -> bool:
    """Whether this process is about to run a job's steps each in a process of its own."""
    target = getattr(multiprocessing.current_process(), "_target", None)
    if getattr(target, "__name__", "") == DAGSTER_RUN_PROCESS:
        # resources/settings.py's DAGSTER_EXECUTOR, read here without importing it (blank means the default).
        return os.environ.get("DAGSTER_EXECUTOR", "").strip().lower() != "in_process"
    launched_as = getattr(sys, "orig_argv", [])[1:3]
    executor = os.environ.get("PIPELINE_EXECUTOR", "").strip().lower()  # read as settings.choice reads it
    return launched_as == ["-m", "pipelines.commands.run"] and executor == "multiprocess"


def start_if_needed() -> bool:
    """Start the fork server now, in the background, if this process will use it; True if it did."""
    if not runs_steps_in_processes():
        return False
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    multiprocessing.forkserver.ensure_running()  # returns once started; the server imports PRELOAD on its own
    return True
