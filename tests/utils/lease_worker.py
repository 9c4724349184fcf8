"""A separate process that runs one leased job: ``python -m tests.utils.lease_worker NAME HOLDER TTL SLEEP MARKER``.

Used by tests/jobs to prove the lease across real processes. Prints the outcome on stdout.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from app.jobs.runner import JobSpec, run_job


def main() -> None:
    name, holder, ttl, sleep, marker = sys.argv[1:6]

    def work() -> str:
        Path(marker).write_text(holder)  # tells the test the job body started
        time.sleep(float(sleep))
        return f"slept {sleep}s"

    print(run_job(JobSpec(name, work, every_seconds=3600), holder=holder, ttl_seconds=int(ttl)), flush=True)


if __name__ == "__main__":
    main()
