"""`make approve BY=<name> VERSION=<report_version>`: the Launchpad's approval, from a terminal.

Runs the `publish` job once against the local Dagster instance with the same run config the Launchpad takes, so
the publication and its audit metadata appear in the UI like any other run; when `make serve` runs on the same data
folder, against the service's instance (its PostgreSQL), so the publish is in its history and its UI.
`--dry-run DIR` (or LDS_DRY_RUN_DIR) writes what would be sent into DIR instead, and needs no key.

Prints one plain message: what was done, or why nothing was (exit status 1; 2 for a mistake in the command).
Dagster's step-by-step log and any stack trace are in the run's page in the UI, or here with --verbose (VERBOSE=1).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import dagster as dg

from pipelines.commands import exit_with, open_instance
from pipelines.commands.outcomes import interrupted, step_failures
from pipelines.commands.stale_runs import close_dead_runs, describe, process_tags, publish_running
from pipelines.definitions import build_definitions
from pipelines.jobs import IN_PROCESS_RUN_TAGS
from pipelines.service.supervisor import join_running_service
from resources import settings
from resources.settings import data_dir, service_home


def real_publish_sentence(metadata: dict, why_file_by_file: str) -> str:
    """What a real publish of the same version would hold back, and why, for a dry run or rehearsal: it may have sent
    those files (a sample version's are all rehearsed), so its counts alone would not say."""
    files = list(metadata.get("held_back_files") or {})
    refusal = metadata.get("real_publish_refusal", "none")
    held = (f"hold back {len(files)} file(s): {', '.join(files)} (built from the shipped samples of sources that "
            f"are no longer published: the Datastore keeps its copy; why, file by file, {why_file_by_file})"
            if files else "hold back no file")
    if refusal != "none":
        return (f"A real publish would refuse this version and send nothing ({refusal}); built from live releases, "
                f"it would {held}.")
    return f"A real publish would {held}."


def success_message(metadata: dict) -> str:
    """The one line a successful publish, rehearsal or dry run prints."""
    version, by, kind = metadata["report_version"], metadata["approved_by"], metadata.get("kind", "publish")
    sent, skipped = metadata["files_sent"], metadata["files_skipped"]
    held = metadata.get("files_held_back", 0)
    held_text = f", {held} held back (retired sources' shipped samples: the Datastore keeps its copy)" if held else ""
    # A dry run or rehearsal gives the why once, in the sentence on a real publish that follows its counts.
    held_count = f", {held} held back" if held else ""
    if kind == "dry run":
        folder = str(metadata["target"]).removeprefix("dry run: ")
        real = real_publish_sentence(metadata, "in held_back.txt there")
        return (f"dry run: nothing was sent to the London Datastore. Report version {version} approved by {by}: "
                f"{sent} file(s), written as they would be sent, are in {folder} ({skipped} unchanged since the last "
                f"dry run{held_count}). {real}")
    if kind == "rehearsal":
        real = real_publish_sentence(metadata, "in the run's held_back metadata")
        return (f"rehearsal (LDS_REHEARSAL=1): report version {version} approved by {by} sent to the test Datastore "
                f"{metadata['target']}: {sent} file(s) sent, {skipped} unchanged{held_count}. {real} Nothing reached "
                "the real London Datastore.")
    return (f"published report version {version} approved by {by} to {metadata['target']}: {sent} file(s) sent, "
            f"{skipped} unchanged{held_text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--by", required=True, help="your name, recorded as the approver")
    parser.add_argument("--version", required=True, help="the report version you checked")
    parser.add_argument("--dry-run", metavar="DIR", help="write what would be sent into DIR instead of publishing")
    parser.add_argument("--verbose", action="store_true", default=settings.verbose(),
                        help="show Dagster's step log and stack traces (also VERBOSE=1)")
    args = parser.parse_args(argv)
    if not args.by.strip() or not args.version.strip():
        parser.error("both --by and --version need a value (make approve BY=<name> VERSION=<report_version>)")
    if args.dry_run:
        # Named as the analyst gave it (make approve DRY_RUN=), not as the variable it sets.
        settings.folder_setting("DRY_RUN", Path(args.dry_run))
        os.environ["LDS_DRY_RUN_DIR"] = args.dry_run  # read when the definitions are built, just below
    elif not os.environ.get("LDS_DRY_RUN_DIR") and not os.environ.get(settings.api_key_variable(), "").strip():
        print("LDS_API_KEY is not set: export LDS_API_KEY=<your London Datastore API key>, or rehearse with "
              "make approve ... DRY_RUN=<folder>. Nothing was sent.", file=sys.stderr)
        return 2

    if (ui_url := join_running_service(service_home(), data_dir())) is not None:
        # The approval and the publish are in the service's history and UI, like a Launchpad approval.
        print(f"note: make serve is running: this publish runs in its instance (its UI: {ui_url})")

    run_config = {
        "ops": {"datastore_publish": {"config": {"approved_by": args.by, "report_version": args.version}}},
        # The step log is the UI's to show; here it would bury the one message that matters.
        "loggers": {"console": {"config": {"log_level": "INFO" if args.verbose else "CRITICAL",
                                           "stack_traces": args.verbose}}},
    }
    try:
        job = build_definitions().resolve_job_def("publish")
    except Exception as error:  # a setting that cannot work (a bad LDS_URL, ...): say which, in one line
        if args.verbose:
            raise
        print(f"publish refused before starting: {error}. Nothing was sent.", file=sys.stderr)
        return 1
    with open_instance() as instance:
        for line in close_dead_runs(instance, "make approve"):
            print(f"note: {line}")
        if (running := publish_running(instance)) is not None:
            print(f"another publish is running: {describe(running, instance)}. Nothing was sent: approve again when "
                  "it has finished (the Dagster UI's Runs page shows it).", file=sys.stderr)
            return 1
        # SIGTERM (`kill`, a supervisor) stops the publish as Ctrl-C does: Dagster ends the run as failed and gives
        # the publish slot back, where the process would otherwise die with the run left open.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False,
                                            tags={**IN_PROCESS_RUN_TAGS, **process_tags()})
        except dg.DagsterInvalidConfigError as error:
            print(f"publish refused before starting: {str(error).splitlines()[0]} Nothing was sent.", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # stopped before Dagster took the run over
            result = None
    if result is None or interrupted(result):
        print("publish stopped (Ctrl-C or SIGTERM) before it finished: files sent before the stop are on the "
              "Datastore, the rest were not sent, and the run is marked failed. Approve again to send the rest.",
              file=sys.stderr)
        return 130
    if not result.success:
        for _, message in step_failures(result):
            print(message, file=sys.stderr)
        if not args.verbose:
            print(f"(run {result.run_id} in the Dagster UI has the full log; VERBOSE=1 shows it here)",
                  file=sys.stderr)
        return 1
    [event] = [e for e in result.get_asset_materialization_events()
               if e.materialization.asset_key == dg.AssetKey("datastore_publish")]
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    print(success_message(metadata))
    if (stale := metadata.get("api_tables_not_following", "none")) != "none":
        print(f"warning: these API tables do not serve the files just sent yet: {stale}. The run's "
              "api_tables_follow check in the UI says what to do.")
    return 0


if __name__ == "__main__":
    exit_with(main)
