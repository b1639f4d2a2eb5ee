"""`make approve BY=<name> VERSION=<report_version>`: the Launchpad's approval, from a terminal.

Runs the `publish` job once against the local Dagster instance with the same run config the Launchpad takes, so
the publication and its audit metadata appear in the UI like any other run. `--dry-run DIR` (or LDS_DRY_RUN_DIR)
writes what would be sent into DIR instead, and needs no key.
"""

from __future__ import annotations

import argparse
import os
import sys

import dagster as dg

from pipelines.definitions import build_definitions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--by", required=True, help="your name, recorded as the approver")
    parser.add_argument("--version", required=True, help="the report version you checked")
    parser.add_argument("--dry-run", metavar="DIR", help="write what would be sent into DIR instead of publishing")
    args = parser.parse_args(argv)
    if not args.by.strip() or not args.version.strip():
        parser.error("both --by and --version need a value (make approve BY=<name> VERSION=<report_version>)")
    if args.dry_run:
        os.environ["LDS_DRY_RUN_DIR"] = args.dry_run  # read when the definitions are built, just below
    elif not os.environ.get("LDS_DRY_RUN_DIR") and not os.environ.get("LDS_API_KEY", "").strip():
        print("LDS_API_KEY is not set: export LDS_API_KEY=<your London Datastore API key>, or rehearse with "
              "make approve ... DRY_RUN=<folder>. Nothing was sent.", file=sys.stderr)
        return 2

    run_config = {"ops": {"datastore_publish": {"config": {"approved_by": args.by, "report_version": args.version}}}}
    with dg.DagsterInstance.get() as instance:
        try:
            result = build_definitions().resolve_job_def("publish").execute_in_process(
                run_config={**run_config, "loggers": {"console": {"config": {"log_level": "INFO"}}}},
                instance=instance, raise_on_error=False,
            )
        except dg.DagsterInvalidConfigError as error:
            print(f"publish refused before starting: {str(error).splitlines()[0]}", file=sys.stderr)
            return 2
    if not result.success:
        print("publish FAILED: nothing more was sent; see the messages above (and the run in the UI)", file=sys.stderr)
        return 1
    [event] = result.get_asset_materialization_events()
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    print(f"published report version {metadata['report_version']} approved by {metadata['approved_by']} "
          f"to {metadata['target']}: {metadata['files_sent']} file(s) sent, {metadata['files_skipped']} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
