"""Run localstripe on 127.0.0.1 in its own process: ``python -m tests.utils.localstripe_server PORT [PICKLE]``.

localstripe is GPL: it is only ever run as a separate child process (see ``tests/utils/stripe_fakes.py``), never
imported by the app or the pytest process. Its stock CLI binds every interface and shares
``/tmp/localstripe.pickle`` between all instances; this runner binds 127.0.0.1 only, starts from an empty store and
keeps its pickle at PICKLE (default: a per-process file in the temp directory, removed on exit).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> None:
    """Start the server; SIGTERM/SIGINT stop it gracefully.

    Args:
        argv: ``[PORT]`` or ``[PORT, PICKLE_PATH]``.
    """
    if not 1 <= len(argv) <= 2:
        raise SystemExit("usage: python -m tests.utils.localstripe_server PORT [PICKLE_PATH]")
    port = int(argv[0])
    pickle_path = Path(argv[1]) if len(argv) == 2 else Path(tempfile.gettempdir()) / f"localstripe-{os.getpid()}.pickle"

    from aiohttp import web
    from localstripe import resources, server

    def dump_to_disk(store: resources.Store) -> None:
        with pickle_path.open("wb") as sink:
            pickle.dump(store, sink, protocol=pickle.HIGHEST_PROTOCOL)

    def load_from_disk(store: resources.Store) -> None:  # never called here: every run starts empty
        with contextlib.suppress(FileNotFoundError), pickle_path.open("rb") as source:
            old = pickle.load(source)
            store.clear()
            store.update(old)

    # The path is hard-coded in these two methods; everything else in localstripe calls them.
    resources.Store.dump_to_disk = dump_to_disk  # type: ignore[method-assign]
    resources.Store.try_load_from_disk = load_from_disk  # type: ignore[method-assign]
    try:
        # INFO on stderr: the access log and localstripe's "webhook ... delivered/failed" lines end up in the log file.
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        web.run_app(server.app, host="127.0.0.1", port=port, print=None)
    finally:
        pickle_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main(sys.argv[1:])
