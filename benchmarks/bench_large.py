"""A 50 MiB and a 1 GiB transfer end to end: time, and peak memory of the web and worker processes.

Run from the project root (PostgreSQL of the machine, a Redis of its own, blobs under `.bench/`, or
with --s3 in a bucket of a moto S3 server started for the run):
    .venv/bin/python benchmarks/bench_large.py [--sizes 50,1024] [--s3]

For each size (MiB), a fresh hub: gunicorn as `mdph-bridge serve` starts it (2 threaded workers)
and a worker on the `transfers_large` queue. The client streams a multipart body (the dossier and
one PDF document of that size, generated from a 1 MiB block: the client holds 1 MiB) over HTTP;
the web side seals it to disk as it arrives; the worker opens it, packages and encrypts it to 62's
keys and stores the package. Times: the HTTP submission, submit→ready, and the download of the
package. Peak memory is VmHWM of each process (the largest gunicorn worker, the largest Celery
process), beside the same figure just before the submission (idle: after start-up, imports and a
readiness probe).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from arguments import parse
from harness import free_port, hub, machine, peak_rss_mib
from object_store import s3_server, s3_settings
from sqlalchemy import create_engine, text

from mdph_bridge import create_app
from mdph_bridge.services.admin import create_demo

PORT = free_port()
MiB = 1024 * 1024
BLOCK = os.urandom(MiB)


def document(size: int) -> Iterator[bytes]:
    """The PDF document's bytes, in 1 MiB chunks."""
    yield b"%PDF-1.4\n"
    remaining = size - 9
    while remaining > 0:
        chunk = BLOCK[: min(MiB, remaining)]
        remaining -= len(chunk)
        yield chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="50,1024", help="document sizes in MiB")
    parser.add_argument("--s3", action="store_true", help="blobs on a moto S3 server, not the disk")
    args = parse(parser, {"sizes": "1"})
    print(f"machine: {machine()}")
    s3 = " --s3" if args.s3 else ""
    print(f"command: .venv/bin/python benchmarks/bench_large.py --sizes {args.sizes}{s3}")
    with ExitStack() as stack:
        storage = {}
        if args.s3:
            endpoint = stack.enter_context(s3_server())
            storage = s3_settings(endpoint, f"bench-{uuid.uuid4().hex[:8]}")
        run(args.sizes, storage)
    print("peak = VmHWM: largest gunicorn process / largest Celery process of that run")


def run(sizes: str, storage: dict[str, Any]) -> None:
    """Send one transfer of each size through a fresh hub and print its figures."""
    from dossiers import dossier, piece

    print(
        f"{'size':>9} | {'upload':>8} {'MB/s':>6} | {'submit→ready':>12} | {'download':>8} | "
        f"{'web peak':>9} {'worker peak':>11}"
    )
    for mib in (int(s) for s in sizes.split(",")):
        size = mib * MiB
        digest = hashlib.sha256()
        for chunk in document(size):
            digest.update(chunk)
        data = dossier(files={})
        data["pieces"] = [piece("gros.pdf", b"")]
        data["pieces"][0]["sha256"] = digest.hexdigest()
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="dossier"; '
            'filename="dossier.json"\r\nContent-Type: application/json\r\n\r\n'
        ).encode() + json.dumps(data).encode()
        head += (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="gros.pdf"; '
            'filename="gros.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        limits = {"MAX_FILE_BYTES": size + MiB, "MAX_TRANSFER_BYTES": size + MiB}
        with hub(f"mdph_bench_large_{mib}", **limits, **storage) as h:
            app = create_app(h.settings())
            with app.app_context():
                demo = create_demo(app.extensions["mdph_bridge"].sessions(), h.var / "keys")
                app.extensions["mdph_bridge"].sessions.remove()
            app.extensions["mdph_bridge"].engine.dispose()
            web = h.gunicorn("mdph_bridge.wsgi:app", PORT)
            worker = h.worker("workers.celery_app", "transfers_large,transfers", concurrency=1)

            def body(head: bytes = head, tail: bytes = tail, size: int = size) -> Iterator[bytes]:
                yield head
                yield from document(size)
                yield tail

            idle = (peak_rss_mib(web.pid), peak_rss_mib(worker.pid))
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=600)
            token = demo["59"]["jetons"]["caseworker"]
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail)),
            }
            started = time.time()
            conn.request("POST", "/api/v1/transfers", body=body(), headers=headers)
            response = conn.getresponse()
            answer = json.loads(response.read())
            uploaded = time.time()
            conn.close()
            if response.status != 202:
                raise RuntimeError(f"HTTP {response.status}: {answer}")
            engine = create_engine(h.database_url)
            while True:
                with engine.connect() as db:
                    state, ready_at = db.execute(
                        text("SELECT state, ready_at FROM transfers WHERE id = :id"),
                        {"id": answer["id"]},
                    ).one()
                if state == "ready":
                    break
                if state not in ("received", "validating"):
                    raise RuntimeError(f"transfer {state}")
                time.sleep(0.05)
            engine.dispose()

            receiver = demo["62"]["jetons"]["receiver"]
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=600)
            fetched = time.perf_counter()
            conn.request(
                "GET",
                f"/api/v1/inbound/{answer['id']}/package",
                headers={"Authorization": f"Bearer {receiver}"},
            )
            download = conn.getresponse()
            received = 0
            while chunk := download.read(MiB):
                received += len(chunk)
            fetched = time.perf_counter() - fetched
            conn.close()
            web_peak = peak_rss_mib(web.pid)
            worker_peak = peak_rss_mib(worker.pid)
            upload = uploaded - started
            print(
                f"{mib:>5} MiB | {upload:7.2f}s {size / upload / 1e6:6.0f} | "
                f"{ready_at.timestamp() - started:11.2f}s | {fetched:7.2f}s | "
                f"{web_peak:6.0f} MiB {worker_peak:8.0f} MiB   "
                f"(idle {idle[0]:.0f} / {idle[1]:.0f} MiB, package {received / MiB:.0f} MiB)"
            )


if __name__ == "__main__":
    main()
