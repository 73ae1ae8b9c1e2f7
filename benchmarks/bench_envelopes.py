"""Memory and throughput of the age envelopes: flat peak RSS with size, and speed beside `age`.

Run from the project root: .venv/bin/python benchmarks/bench_envelopes.py
(options: --sizes 1,16,256,1024 in MiB, --mib 200 for the comparison, --repeat 5).

Part A runs the real packaging path (`build_package` into a `LocalStorage` on disk, with its
SHA-256 and fsync) in a fresh subprocess per size, then decrypts the stored envelope in another
fresh subprocess, and reports each subprocess's peak RSS (getrusage ru_maxrss) and throughput.
The payload is one archive entry that repeats a 1 MiB random block, so the generator itself
holds 1 MiB whatever the size.

Part B encrypts and decrypts one 200 MiB file on disk with our Encryptor/Decryptor (file to
file, in this process) and with the `age` tool (subprocess, wall time including its start), in
alternating order, and prints the medians. Every temporary file lives under `.bench/` (or
`MDPH_BENCH_SCRATCH`) and is removed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import cryptography
from arguments import parse
from cryptography.hazmat.backends.openssl.backend import backend
from scratch import scratch

from mdph_bridge.domain.age import Decryptor, Encryptor, generate_identity
from mdph_bridge.services.packaging import Entry, build_package
from mdph_bridge.storage import LocalStorage

MIB = 1024 * 1024
MB = 1_000_000
FLAT_MARGIN_MIB = 30.0
ENVELOPE_KEY = "bench/envelope.age"


# --- helpers shared by parent and children ------------------------------------------------------


def _peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RepeatedSource(io.RawIOBase):
    """A readable of `size` bytes that repeats one 1 MiB random block and never holds more."""

    def __init__(self, size: int, block: bytes) -> None:
        super().__init__()
        self._left = size
        self._block = block
        self._pos = 0

    def readable(self) -> bool:
        """Let tarfile read from it."""
        return True

    def read(self, size: int = -1) -> bytes:
        """Return up to `size` bytes (the block itself when a whole block is asked for)."""
        if size < 0:
            raise ValueError("RepeatedSource refuses read() without a size: it may be huge")
        size = min(size, self._left, len(self._block) - self._pos)
        if size <= 0:
            return b""
        if self._pos == 0 and size == len(self._block):
            piece = self._block
        else:
            piece = self._block[self._pos : self._pos + size]
        self._pos = (self._pos + size) % len(self._block)
        self._left -= size
        return piece

    def readinto(self, b: bytearray | memoryview) -> int:
        """Copy the next bytes into `b` (for io wrappers)."""
        piece = self.read(len(b))
        memoryview(b)[: len(piece)] = piece
        return len(piece)


def _drain(reader: io.RawIOBase, out: BinaryIO | None = None) -> int:
    """Read a stream to its end into a reused 1 MiB buffer, optionally copy it, count the bytes."""
    buffer = bytearray(MIB)
    view = memoryview(buffer)
    total = 0
    while count := reader.readinto(buffer):
        if out is not None:
            out.write(view[:count])
        total += count
    return total


# --- part A children (each runs in a fresh interpreter) -----------------------------------------


def _child_package(folder: Path, size: int, recipient: str) -> dict[str, float]:
    """Build one package of `size` plaintext bytes into storage under `folder`."""
    baseline = _peak_rss_mib()
    block = os.urandom(MIB)
    storage = LocalStorage(folder)
    entry = Entry("piece.bin", size, lambda: RepeatedSource(size, block))
    start = time.perf_counter()
    package = build_package(storage, ENVELOPE_KEY, {"bench-key": recipient}, [entry])
    seconds = time.perf_counter() - start
    return {
        "baseline": baseline,
        "peak": _peak_rss_mib(),
        "seconds": seconds,
        "envelope": package.size,
    }


def _child_decrypt(folder: Path, size: int, identity: str) -> dict[str, float]:
    """Decrypt the stored envelope, discarding the plaintext."""
    baseline = _peak_rss_mib()
    storage = LocalStorage(folder)
    start = time.perf_counter()
    with storage.open(ENVELOPE_KEY) as src, Decryptor(src, [identity]) as dec:
        plain = _drain(dec)
    seconds = time.perf_counter() - start
    if plain < size:
        raise SystemExit(f"decrypted {plain} bytes, fewer than the {size} packaged")
    return {"baseline": baseline, "peak": _peak_rss_mib(), "seconds": seconds, "plain": plain}


def _run_child(mode: str, folder: Path, size: int, key: str) -> dict[str, float]:
    """Run one measurement in a fresh interpreter and return what it reports."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and script, fixed arguments
        [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            mode,
            "--dir",
            str(folder),
            "--bytes",
            str(size),
        ],
        input=key.encode(),  # the key travels on stdin, not on a command line others can read
        capture_output=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} child for {size} bytes failed:\n{done.stderr.decode()}")
    return json.loads(done.stdout)


# --- part A -------------------------------------------------------------------------------------


def part_a(sizes_mib: list[int], root: Path) -> None:
    """Package and decrypt each size in fresh subprocesses; check peak RSS does not grow."""
    print("\n== A. memory of the packaging path (fresh subprocess per size and per side) ==")
    print(
        "build_package: tar stream -> age Encryptor -> SHA-256 -> LocalStorage (fsync);"
        " decrypt: Decryptor over the stored file, output discarded"
    )
    identity, recipient = generate_identity()
    header = (
        f"{'size':>9} | {'package peak RSS':>16} {'(import)':>9} {'MB/s':>7} |"
        f" {'decrypt peak RSS':>16} {'(import)':>9} {'MB/s':>7}"
    )
    print(header)
    print("-" * len(header))
    peaks: dict[str, list[float]] = {"package": [], "decrypt": []}
    for mib in sizes_mib:
        size = mib * MIB
        folder = root / f"storage-{mib}"
        pack = _run_child("package", folder, size, recipient)
        dec = _run_child("decrypt", folder, size, identity)
        shutil.rmtree(folder)
        peaks["package"].append(pack["peak"])
        peaks["decrypt"].append(dec["peak"])
        print(
            f"{mib:>5} MiB | {pack['peak']:>12.1f} MiB {pack['baseline']:>5.1f} MiB"
            f" {size / pack['seconds'] / MB:>7.0f} |"
            f" {dec['peak']:>12.1f} MiB {dec['baseline']:>5.1f} MiB"
            f" {size / dec['seconds'] / MB:>7.0f}"
        )
    print("(import) = the subprocess's peak RSS after its imports, before any work")
    for side, values in peaks.items():
        growth = max(values) - values[0]
        verdict = "FLAT" if growth <= FLAT_MARGIN_MIB else "GROWS"
        print(
            f"verdict {side}: peak RSS {values[0]:.1f} MiB at {sizes_mib[0]} MiB,"
            f" max {max(values):.1f} MiB, growth {growth:+.1f} MiB"
            f" (goal <= +{FLAT_MARGIN_MIB:.0f} MiB) -> {verdict}"
        )


# --- part B -------------------------------------------------------------------------------------


def _timed(action: Callable[[], None]) -> float:
    """Wall time of one action, in seconds."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _age(*args: str | Path) -> None:
    """Run the `age` tool, failing loudly on a non-zero exit."""
    done = subprocess.run(  # noqa: S603 - fixed `age` arguments built by this script
        ["age", *map(str, args)],  # noqa: S607 - the Debian `age` tool found on PATH is the point
        capture_output=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"age {args} failed: {done.stderr.decode(errors='replace')}")


def _sha256_file(path: Path) -> str:
    """Digest a file in 1 MiB reads (outside the timed sections)."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def part_b(mib: int, repeat: int, root: Path) -> None:
    """Time our streams and the age tool on the same file, alternating, and compare medians."""
    print(f"\n== B. throughput beside the `age` tool, same {mib} MiB input file on disk ==")
    size = mib * MIB
    identity, recipient = generate_identity()
    key_file = root / "identity.txt"
    key_file.write_text(f"{identity}\n")
    key_file.chmod(0o600)
    plain = root / "input.bin"
    with plain.open("wb") as out:
        for _ in range(mib):
            out.write(os.urandom(MIB))
    expected = _sha256_file(plain)
    ours_age, tool_age = root / "ours.age", root / "tool.age"
    ours_out, tool_out = root / "ours.out", root / "tool.out"
    storage = LocalStorage(root / "storage")

    def ours_encrypt(buffering: int) -> Callable[[], None]:
        def action() -> None:
            with (
                plain.open("rb") as src,
                ours_age.open("wb", buffering=buffering) as out,
                Encryptor(out, [recipient]) as enc,
            ):
                buffer = bytearray(MIB)
                view = memoryview(buffer)
                while count := src.readinto(buffer):
                    enc.write(view[:count])

        return action

    def tool_encrypt() -> None:
        _age("-r", recipient, "-o", tool_age, plain)

    def ours_decrypt() -> None:
        with (
            ours_age.open("rb") as src,
            ours_out.open("wb") as out,
            Decryptor(src, [identity]) as dec,
        ):
            _drain(dec, out)

    def tool_decrypt() -> None:
        _age("-d", "-i", key_file, "-o", tool_out, ours_age)

    def ours_package() -> None:
        storage.delete(ENVELOPE_KEY)
        entry = Entry("input.bin", size, lambda: plain.open("rb"))
        build_package(storage, ENVELOPE_KEY, {"bench-key": recipient}, [entry])

    # name -> (what, label, action, file the action creates, removed before each run)
    measures: dict[str, tuple[str, str, Callable[[], None], Path | None]] = {
        "ours_enc": ("encrypt", "ours: Encryptor -> open(out, 'wb')", ours_encrypt(-1), ours_age),
        "ours_enc_1m": (
            "encrypt",
            "ours: Encryptor -> open(out, 'wb', buffering=1 MiB)",
            ours_encrypt(MIB),
            ours_age,
        ),
        "tool_enc": ("encrypt", "age -r <recipient> -o out in", tool_encrypt, tool_age),
        "ours_dec": ("decrypt", "ours: Decryptor, 1 MiB readinto -> file", ours_decrypt, ours_out),
        "tool_dec": ("decrypt", "age -d -i <key> -o out in", tool_decrypt, tool_out),
        "package": ("package", "ours: build_package (tar+age+SHA-256+fsync)", ours_package, None),
    }
    groups = [["ours_enc", "ours_enc_1m", "tool_enc"], ["ours_dec", "tool_dec"], ["package"]]
    runs: dict[str, list[float]] = {name: [] for name in measures}
    for i in range(repeat):
        for group in groups:
            shift = i % len(group)
            for name in group[shift:] + group[:shift]:
                _, _, action, output = measures[name]
                if output is not None:
                    output.unlink(missing_ok=True)
                runs[name].append(_timed(action))

    # Correctness outside the timings: each side decrypts the other's envelope to the input.
    ours_out.unlink()
    with (
        tool_age.open("rb") as src,
        ours_out.open("wb") as out,
        Decryptor(src, [identity]) as dec,
    ):
        _drain(dec, out)
    if not _sha256_file(ours_out) == _sha256_file(tool_out) == expected:
        raise SystemExit("a decrypted output differs from the input")

    def rate(name: str) -> float:
        return size / statistics.median(runs[name]) / MB

    print(
        f"medians of {repeat} runs (range in brackets), rotating which side goes first;"
        " MB = 10^6 bytes; ours in this process, age as a subprocess (its start-up included)"
    )
    for name, (what, label, _, _) in measures.items():
        rates = sorted(size / s / MB for s in runs[name])
        print(f"{what:<8} {label:<52} {rate(name):>6.0f} MB/s  ({rates[0]:.0f}-{rates[-1]:.0f})")
    comparisons = [
        ("encrypt, default buffer", "ours_enc", "tool_enc", True),
        ("encrypt, 1 MiB buffer", "ours_enc_1m", "tool_enc", True),
        ("decrypt", "ours_dec", "tool_dec", True),
        ("build_package / age encrypt", "package", "tool_enc", False),
    ]
    for what, ours, tool, is_goal in comparisons:
        ratio = rate(ours) / rate(tool)
        if is_goal:
            verdict = f"goal >= 1.00: {'met' if ratio >= 1.0 else 'NOT met'}"
        else:
            verdict = "information: the production path, with tar, hash and fsync"
        print(f"ratio ours/age {what:<28} {ratio:5.2f}  ({verdict})")
    print("outputs checked: both envelopes decrypt to the input (SHA-256), each by the other side")


# --- main ---------------------------------------------------------------------------------------


def _cpu_model() -> str:
    """The CPU model name the kernel reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _age_version() -> str:
    """`age --version`, or why it is missing."""
    if shutil.which("age") is None:
        raise SystemExit("the `age` tool is required: apt-get install age")
    done = subprocess.run(
        ["age", "--version"],  # noqa: S607 - fixed command, found on PATH on purpose
        capture_output=True,
        check=False,
        timeout=30,
    )
    return done.stdout.decode().strip() or done.stderr.decode().strip()


def main() -> None:
    """Parse the options, run part A then part B, print everything."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,16,256,1024", help="part A sizes in MiB")
    parser.add_argument("--mib", type=int, default=200, help="part B input size in MiB")
    parser.add_argument("--repeat", type=int, default=5, help="part B runs per measurement")
    parser.add_argument("--child", choices=["package", "decrypt"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bytes", type=int, help=argparse.SUPPRESS)
    args = parse(parser, {"sizes": "1", "mib": 1, "repeat": 1})

    if args.child:
        key = sys.stdin.read().strip()
        child = _child_package if args.child == "package" else _child_decrypt
        print(json.dumps(child(args.dir, args.bytes, key)))
        return

    started = time.perf_counter()
    print(f"command: cd {shlex.quote(os.getcwd())} && {shlex.join([sys.executable, *sys.argv])}")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"cpu: {_cpu_model()}, {os.cpu_count()} cores ({affinity} usable), {platform.machine()}")
    print(
        f"python {platform.python_version()}, cryptography {cryptography.__version__}"
        f" ({backend.openssl_version_text()}), age {_age_version()}"
    )
    with scratch("bench_envelopes_") as root:
        print(f"scratch: {root} (removed at the end)")
        part_a([int(s) for s in args.sizes.split(",")], root)
        part_b(args.mib, args.repeat, root)
    print(f"\ntotal time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
