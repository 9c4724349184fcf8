"""A separate process that runs leased jobs through the runner's ``run_job``, used by tests/jobs to prove the lease
across real processes.

``python -m tests.utils.lease_worker NAME HOLDER TTL SLEEP MARKER``: run one leased job once (its body writes MARKER,
then sleeps SLEEP seconds); prints the outcome.

``python -m tests.utils.lease_worker slots NAME HOLDER --every S --ttl S --slots N --period S --phase S --work S
--marker-dir DIR [--hang-run N]``: what a scheduler does with a once-per-interval job. Once imported it writes
``DIR/HOLDER.ready`` and waits for the test to write the start time (Unix time, a slot boundary) into ``DIR/start``;
then it calls ``run_job`` every PERIOD seconds (at start + PHASE + k·PERIOD) for N slots of EVERY seconds. Each
body writes ``DIR/HOLDER-<n>`` and sleeps WORK seconds (the N-th run sleeps ten minutes: the test kills it there).
Prints one JSON line per attempt (``{"at": unix time, "outcome": ...}``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from app.jobs.runner import JobSpec, run_job


def run_once(name: str, holder: str, ttl: str, sleep: str, marker: str) -> None:
    def work() -> str:
        Path(marker).write_text(holder)  # tells the test the job body started
        time.sleep(float(sleep))
        return f"slept {sleep}s"

    print(run_job(JobSpec(name, work, every_seconds=3600), holder=holder, ttl_seconds=int(ttl)), flush=True)


def run_slots(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="lease_worker slots")
    parser.add_argument("name")
    parser.add_argument("holder")
    parser.add_argument("--every", type=int, required=True)
    parser.add_argument("--ttl", type=int, required=True)
    parser.add_argument("--slots", type=int, required=True)
    parser.add_argument("--period", type=float, required=True)
    parser.add_argument("--phase", type=float, default=0.0)
    parser.add_argument("--work", type=float, default=0.1)
    parser.add_argument("--marker-dir", type=Path, required=True)
    parser.add_argument("--hang-run", type=int, default=0)
    args = parser.parse_args(argv)
    runs = 0

    def work() -> str:
        nonlocal runs
        runs += 1
        (args.marker_dir / f"{args.holder}-{runs}").write_text(str(time.time()))
        time.sleep(600 if runs == args.hang_run else args.work)
        return f"run {runs} by {args.holder}"

    spec = JobSpec(args.name, work, args.every, once_per_interval=True)
    (args.marker_dir / f"{args.holder}.ready").write_text("")
    start_file = args.marker_dir / "start"
    while not start_file.exists() or not start_file.read_text():
        time.sleep(0.02)
    start = float(start_file.read_text())
    until = start + args.slots * args.every - 0.05
    attempt = start + args.phase
    while attempt < until:
        time.sleep(max(0.0, attempt - time.time()))
        outcome = run_job(spec, holder=args.holder, ttl_seconds=args.ttl)
        print(json.dumps({"at": attempt, "outcome": outcome}), flush=True)
        # Like APScheduler's coalescing interval trigger: attempts missed while a run lasted are not made up.
        while attempt <= time.time():
            attempt += args.period


def main() -> None:
    if sys.argv[1] == "slots":
        run_slots(sys.argv[2:])
    else:
        run_once(*sys.argv[1:6])


if __name__ == "__main__":
    main()
