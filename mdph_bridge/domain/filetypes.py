"""Accepted document types, recognised by their first bytes, never by name or declared type."""

from __future__ import annotations

# PDF (ISO 32000 header), PNG (its 8-byte signature), JPEG (SOI + a marker).
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
SNIFF_BYTES = max(len(magic) for magic, _ in SIGNATURES)
# The extension a document gets in a package comes from its detected type, never from its sender:
# a PDF named "certificat.hta" would otherwise run as a script on the receiving workstation.
EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


def detect_mime(head: bytes) -> str | None:
    """Name the accepted type a file's first bytes announce; None refuses the file."""
    return next((mime for magic, mime in SIGNATURES if head.startswith(magic)), None)
