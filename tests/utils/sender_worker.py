"""The conversion sender in a process of its own, for crash tests: ``python -m tests.utils.sender_worker HOLDER``.

Runs one pass of the outbox (``send_due``) with the test environment it inherits, so the test can kill it with -9
while a request is in flight.
"""

from __future__ import annotations

import sys

from app.services.conversion_sender import send_due


def main() -> None:
    print(send_due(holder=sys.argv[1]), flush=True)


if __name__ == "__main__":
    main()
