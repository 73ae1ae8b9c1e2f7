"""Where the worker's (or, with `--web`, the web's) CPU goes per small transfer, part by part.

Run from the project root (PostgreSQL and Redis of the machine, as the tests use):
    .venv/bin/python benchmarks/worker_cpu_split.py [--count 300] [--web]

Runs `bench_transfer_cpu.py`'s measurement with one side's parts wrapped: each call's thread
CPU time (user and kernel, `CLOCK_THREAD_CPUTIME_ID`) is charged to its part, and what a part's
own wrapped parts used is told apart, so every line gives the part's time with and without them.
Unlike a sampler it misses nothing and charges no wait to the wrong frame; unlike cProfile it
times only the ~20 calls wrapped, so it inflates nothing else. The web's parts start at the
test client's call (`Client.open`: what is outside `Flask.wsgi_app` is the test client's own).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# (module, attribute path) of each part, as the code that calls it looks it up.
PARTS = (
    ("mdph_bridge.services.processing", "process_transfer"),
    ("mdph_bridge.services.processing", "claim"),
    ("mdph_bridge.services.processing", "_load_dossier"),
    ("mdph_bridge.services.processing", "load_staged_dossier"),
    ("mdph_bridge.services.processing", "dossier_schema"),  # before the dossier was trusted
    ("marshmallow", "Schema.load"),
    ("mdph_bridge.services.processing", "keys_by_usage"),
    ("mdph_bridge.services.processing", "destination_problems"),
    ("mdph_bridge.services.processing", "aid_problems"),
    ("mdph_bridge.services.processing", "mapping"),
    ("mdph_bridge.services.processing", "_split"),
    ("mdph_bridge.services.processing", "report_entries"),
    ("mdph_bridge.services.harmonisation", "report_html"),
    ("mdph_bridge.services.harmonisation", "json_entry"),
    ("mdph_bridge.services.processing", "build_package"),
    ("mdph_bridge.storage", "LocalStorage.writer"),
    ("mdph_bridge.storage", "BlobWriter.__init__"),  # the package file created
    ("mdph_bridge.storage", "BlobWriter.commit"),
    ("mdph_bridge.storage", "fsync_path"),  # the package's folder flushed
    ("mdph_bridge.storage", "LocalStorage.open"),  # the staged document opened
    ("mdph_bridge.domain.age", "Encryptor.__init__"),
    ("mdph_bridge.domain.age", "Encryptor.close"),
    ("tarfile", "TarFile.addfile"),
    ("mdph_bridge.domain.tarball", "TarWriter.add"),  # a document read, unsealed, encrypted
    ("mdph_bridge.domain.sealing", "SealReader.readinto"),  # its file read and unsealed
    ("tarfile", "TarFile.close"),
    ("mdph_bridge.services.processing", "_signed_manifest"),
    ("mdph_bridge.services.processing", "_mark_ready"),
    ("mdph_bridge.services.processing", "record"),
    ("mdph_bridge.services.processing", "raise_watermark"),
    ("sqlalchemy.orm", "Session.commit"),
    ("mdph_bridge.services.processing", "_drop_leftovers"),
    ("mdph_bridge.storage", "LocalStorage.delete"),  # the staged document unlinked
    ("mdph_bridge.storage", "LocalStorage.delete_prefix"),
)

# The web's parts, a submission through the test client (`--web`).
WEB_PARTS = (
    ("werkzeug.test", "Client.open"),  # the whole call, the test client's environ included
    ("flask", "Flask.wsgi_app"),
    ("flask", "Flask.request_context"),
    ("flask.ctx", "RequestContext.push"),  # the session opened
    ("flask.ctx", "RequestContext.pop"),  # teardown callbacks, the app context popped
    ("flask", "Flask.preprocess_request"),  # before-request callbacks
    ("flask", "Flask.dispatch_request"),
    ("flask", "Flask.finalize_request"),  # after-request callbacks, the session saved
    ("mdph_bridge.web.agents", "_SessionInterface.open_session"),
    ("mdph_bridge.web.agents", "_SessionInterface.save_session"),
    ("mdph_bridge.api.auth", "_authenticate"),
    ("mdph_bridge.api.auth", "run_audited"),  # the audit wrapper, the view within
    ("mdph_bridge.http.identity", "audit_call"),
    ("mdph_bridge.api.transfers", "new_intake"),
    ("mdph_bridge.http.uploads", "UploadSink.parse"),  # the multipart parser
    ("mdph_bridge.http.uploads", "SealedPart.__init__"),
    ("mdph_bridge.storage", "BlobWriter.__init__"),  # the document's file created
    ("mdph_bridge.http.uploads", "SealWriter.__init__"),  # its seal's set-up (key derived)
    ("mdph_bridge.http.uploads", "SealedPart.write"),
    ("mdph_bridge.http.uploads", "SealedPart.finish"),
    ("mdph_bridge.storage", "BlobWriter.commit"),  # the document flushed, its folder
    ("mdph_bridge.http.uploads", "UploadSink.cleanup"),
    ("mdph_bridge.api.transfers", "submit"),
    ("mdph_bridge.services.submission", "parse_dossier"),
    ("marshmallow", "Schema.load"),
    ("mdph_bridge.services.submission", "destination_problems"),
    ("mdph_bridge.services.submission", "aid_problems"),
    ("mdph_bridge.services.submission", "documents_problems"),
    ("mdph_bridge.services.submission", "_stage"),
    ("mdph_bridge.services.submission", "seal"),  # the dossier sealed for its row
    ("mdph_bridge.services.submission", "_insert"),
    ("mdph_bridge.services.submission", "transfer_deadlines"),
    ("mdph_bridge.services.submission", "_metadata"),
    ("mdph_bridge.services.submission", "_digest"),
    ("mdph_bridge.services.submission", "entry_values"),
    ("mdph_bridge.services.submission", "autocommitted"),  # the INSERT on the driver
    ("mdph_bridge.services.submission", "note_committed_alone"),
    ("mdph_bridge.services.submission", "wake_processing"),  # the wake-up's LPUSH
    ("mdph_bridge.api.transfers", "presenters.outbound_detail"),
    ("mdph_bridge.api.transfers", "orjson.dumps"),
)


class Timers:
    """Inclusive and own thread CPU time of each wrapped part, nested calls told apart."""

    def __init__(self) -> None:
        self.total: defaultdict[str, float] = defaultdict(float)
        self.own: defaultdict[str, float] = defaultdict(float)
        self.calls: defaultdict[str, int] = defaultdict(int)
        self._stack: list[list[float]] = []  # [children's time] of each call under way
        self._running: set[str] = set()
        self.active = True

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function`, its calls timed under `name`."""

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if name in self._running or not self.active:  # recursive: timed by the outer one
                return function(*args, **kwargs)
            self._running.add(name)
            self._stack.append([0.0])
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                used = time.thread_time() - started
                self._running.discard(name)
                children = self._stack.pop()[0]
                self.total[name] += used
                self.own[name] += used - children
                self.calls[name] += 1
                if self._stack:
                    self._stack[-1][0] += used

        return timed

    def reset(self) -> None:
        """Forget what was timed (the warm-up and the web side)."""
        self.total.clear()
        self.own.clear()
        self.calls.clear()


def install(timers: Timers, parts: tuple[tuple[str, str], ...] = PARTS) -> None:
    """Wrap every part where its callers look it up (a part an older checkout lacks is left)."""
    for module_name, path in parts:
        owner: Any = importlib.import_module(module_name)
        *parents, attribute = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        if hasattr(owner, attribute):
            setattr(owner, attribute, timers.wrap(path, getattr(owner, attribute)))


def main() -> None:
    """Print each part's CPU per transfer, with and without the parts it calls."""
    from arguments import parse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300, help="transfers processed")
    parser.add_argument("--web", action="store_true", help="the web's parts, not the worker's")
    args = parse(parser, {"count": 5})
    sys.path.insert(0, str(HERE))
    import bench_transfer_cpu

    side, parts = ("web", WEB_PARTS) if args.web else ("worker", PARTS)
    timers = Timers()
    install(timers, parts)

    def on_side(name: str) -> None:  # the warm-up forgotten, the other side not timed
        timers.active = name == side
        if timers.active:
            timers.reset()

    measured = bench_transfer_cpu.measure(args.count, None, on_side=on_side)
    n = args.count
    print(f"{side} {measured[f'{side}_cpu_ms']:.2f} ms CPU per transfer (process), {n} transfers")
    print(f"{'part':<42} {'calls':>6} {'ms, with parts':>15} {'ms, own':>8}")
    for _, path in parts:
        if timers.calls[path]:
            print(
                f"{path:<42} {timers.calls[path] / n:6.1f} "
                f"{timers.total[path] / n * 1000:15.3f} {timers.own[path] / n * 1000:8.3f}"
            )


if __name__ == "__main__":
    main()
