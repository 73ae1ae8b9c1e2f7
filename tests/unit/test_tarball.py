"""The package's tar is byte for byte what `tarfile` writes in PAX format, for any name and size."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from mdph_bridge.domain.tarball import TarWriter

pytestmark = pytest.mark.unit
NAMES = [
    "dossier.json",
    "pieces/0-justificatif.pdf",
    "rapport_harmonisation.html",
    "n" * 100,  # the longest name a ustar header holds
    "n" * 101,  # a PAX record
    "pieces/1-attestation-mutuelle-réévaluée.pdf",  # not ASCII: a PAX record
]
SIZES = [0, 1, 511, 512, 513, 10_240, 64 * 1024, 64 * 1024 + 1, 1024 * 1024 + 700]


def with_tarfile(files: list[tuple[str, bytes]]) -> bytes:
    """The archive as the packaging wrote it with `tarfile` before."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.copybufsize = 1024 * 1024
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def with_writer(files: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    tar = TarWriter(out)
    for name, data in files:
        tar.add(name, len(data), io.BytesIO(data))
    tar.close()
    return out.getvalue()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", NAMES)
def test_one_entry_is_written_as_tarfile_writes_it(name: str, size: int) -> None:
    files = [(name, os.urandom(size))]

    assert with_writer(files) == with_tarfile(files)


@pytest.mark.parametrize("count", [0, 1, 4, 19, 21])
def test_entries_and_the_archive_end_are_written_as_tarfile_writes_them(count: int) -> None:
    files = [(NAMES[i % len(NAMES)], os.urandom(i * 97)) for i in range(count)]

    assert with_writer(files) == with_tarfile(files)


def test_a_source_shorter_than_its_size_fails_as_tarfile_does() -> None:
    with pytest.raises(OSError, match="unexpected end of data"):
        TarWriter(io.BytesIO()).add("dossier.json", 10, io.BytesIO(b"short"))
