"""Interop of our age implementation with the reference `age` command-line tool."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mdph_bridge.domain.age import Decryptor, encrypt_bytes, generate_identity, recipient_of

pytestmark = pytest.mark.integration

SIZES = [0, 1, 64 * 1024, 64 * 1024 + 1, 1024 * 1024 + 7]


def _tool(name: str) -> str:
    """Locate an age binary, failing (not skipping) so a missing tool cannot hide a regression."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` not found: install the Debian package `age` (apt-get install age)",
            pytrace=False,
        )
    return path


def _run(*args: str | Path, stdin: bytes = b"") -> bytes:
    """Run a command and return its stdout, showing its stderr if it fails."""
    done = subprocess.run(
        [str(a) for a in args], input=stdin, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def _identity_file(tmp_path: Path, identity: str) -> Path:
    """Write an identity in the key-file format `age -i` reads."""
    path = tmp_path / "identity.txt"
    path.write_text(f"# created by mdph_bridge tests\n{identity}\n")
    return path


def _decrypt_with_us(blob: bytes, identity: str) -> bytes:
    """Decrypt through the streaming reader with a small buffer, as the worker would."""
    out = bytearray()
    with Decryptor(io.BytesIO(blob), [identity]) as dec:
        while chunk := dec.read(10_000):
            out += chunk
    return bytes(out)


@pytest.mark.parametrize("size", SIZES)
def test_age_decrypts_what_we_encrypt(tmp_path: Path, size: int) -> None:
    age = _tool("age")
    identity, recipient = generate_identity()
    data = os.urandom(size)
    encrypted = tmp_path / "data.age"
    encrypted.write_bytes(encrypt_bytes(data, [recipient]))
    assert _run(age, "-d", "-i", _identity_file(tmp_path, identity), encrypted) == data


def test_age_decrypts_a_multi_recipient_file(tmp_path: Path) -> None:
    age = _tool("age")
    pairs = [generate_identity() for _ in range(3)]
    data = os.urandom(200_000)
    encrypted = tmp_path / "data.age"
    encrypted.write_bytes(encrypt_bytes(data, [recipient for _, recipient in pairs]))
    for identity, _ in pairs:
        assert _run(age, "-d", "-i", _identity_file(tmp_path, identity), encrypted) == data


def test_age_rejects_our_file_when_tampered(tmp_path: Path) -> None:
    age = _tool("age")
    identity, recipient = generate_identity()
    blob = bytearray(encrypt_bytes(os.urandom(1000), [recipient]))
    blob[-5] ^= 1
    encrypted = tmp_path / "data.age"
    encrypted.write_bytes(bytes(blob))
    done = subprocess.run(
        [age, "-d", "-i", str(_identity_file(tmp_path, identity)), str(encrypted)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0


@pytest.mark.parametrize("size", SIZES)
def test_we_decrypt_what_age_encrypts(size: int) -> None:
    age = _tool("age")
    identity, recipient = generate_identity()
    other_identity, other_recipient = generate_identity()
    data = os.urandom(size)
    blob = _run(age, "-r", recipient, "-r", other_recipient, stdin=data)
    assert _decrypt_with_us(blob, identity) == data
    assert _decrypt_with_us(blob, other_identity) == data


def test_we_use_keys_made_by_age_keygen(tmp_path: Path) -> None:
    age, keygen = _tool("age"), _tool("age-keygen")
    key_file = tmp_path / "key.txt"
    _run(keygen, "-o", key_file)
    identity = next(
        line for line in key_file.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-1")
    )
    recipient = _run(keygen, "-y", key_file).decode().strip()
    assert recipient_of(identity) == recipient
    data = os.urandom(300_000)
    assert _decrypt_with_us(_run(age, "-r", recipient, stdin=data), identity) == data
    assert _run(age, "-d", "-i", key_file, stdin=encrypt_bytes(data, [recipient])) == data


def test_age_keygen_derives_our_recipient(tmp_path: Path) -> None:
    keygen = _tool("age-keygen")
    identity, recipient = generate_identity()
    assert _run(keygen, "-y", _identity_file(tmp_path, identity)).decode().strip() == recipient
