"""Throughput and memory of the age and staging-seal streams on a large payload.

Run from the project root: .venv/bin/python benchmarks/bench_crypto.py [--mib 256]
Encryption writes to a sink that only counts bytes, so it measures the cryptography, not a
disk; decryption reads back a temporary file written beforehand (normally in the page cache).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from typing import BinaryIO, cast

import cryptography
from arguments import parse
from cryptography.hazmat.backends.openssl.backend import backend
from scratch import scratch

from mdph_bridge.domain.age import Decryptor, Encryptor, generate_identity
from mdph_bridge.domain.sealing import Keyring, SealReader, SealWriter, generate_staging_key

MIB = 1024 * 1024


class CountingSink:
    """A writable that drops what it gets and counts it, so no memory grows with the payload."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Count the bytes and forget them."""
        size = memoryview(data).nbytes
        self.count += size
        return size


def _peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _encrypt(writer: io.RawIOBase, block: bytes, mib: int) -> float:
    """Push `mib` copies of the block through a writer and return the seconds taken."""
    start = time.perf_counter()
    with writer:
        for _ in range(mib):
            writer.write(block)
    return time.perf_counter() - start


def _decrypt(reader: io.RawIOBase, mib: int) -> float:
    """Drain a reader into a reused 1 MiB buffer, check the length, return the seconds taken."""
    buffer = bytearray(MIB)
    total = 0
    start = time.perf_counter()
    with reader:
        while count := reader.readinto(buffer):
            total += count
    elapsed = time.perf_counter() - start
    if total != mib * MIB:
        raise SystemExit(f"decrypted {total} bytes, expected {mib * MIB}")
    return elapsed


def _run(
    name: str,
    make_writer: Callable[[BinaryIO], io.RawIOBase],
    make_reader: Callable[[BinaryIO], io.RawIOBase],
    block: bytes,
    mib: int,
) -> None:
    """Benchmark one format: encryption to the sink, then decryption of a real file."""
    sink = CountingSink()
    seconds = _encrypt(make_writer(cast(BinaryIO, sink)), block, mib)
    print(
        f"{name:<24} encrypt {mib / seconds:8.1f} MiB/s  "
        f"{f'({sink.count / MIB:.1f} MiB out)':<20} peak RSS {_peak_rss_mib():6.1f} MiB"
    )
    with scratch("bench-crypto-") as folder:
        path = folder / "blob"
        with path.open("wb") as out:
            _encrypt(make_writer(out), block, mib)
        with path.open("rb") as src:
            seconds = _decrypt(make_reader(src), mib)
    print(
        f"{name:<24} decrypt {mib / seconds:8.1f} MiB/s  "
        f"{'(from file)':<20} peak RSS {_peak_rss_mib():6.1f} MiB"
    )


def main() -> None:
    """Parse the size, run both formats and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="payload size in MiB (default 256)")
    mib = parse(parser, {"mib": 1}).mib
    print(f"command: {sys.executable} {' '.join(sys.argv)}")
    print(
        f"python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{backend.openssl_version_text()}, {platform.machine()}, {os.cpu_count()} CPUs"
    )
    block = os.urandom(MIB)
    print(f"payload: {mib} MiB, 1 MiB of random bytes repeated")
    print(f"baseline peak RSS {_peak_rss_mib():.1f} MiB")

    identity, recipient = generate_identity()
    _run(
        "age (ChaCha20-Poly1305)",
        lambda out: Encryptor(out, [recipient]),
        lambda src: Decryptor(src, [identity]),
        block,
        mib,
    )
    keyring = Keyring.parse(generate_staging_key("bench"))
    _run(
        "seal (AES-256-GCM)",
        lambda out: SealWriter(out, keyring),
        lambda src: SealReader(src, keyring),
        block,
        mib,
    )


if __name__ == "__main__":
    main()
