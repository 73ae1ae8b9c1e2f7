"""The whole transfer path with the blobs in an S3-compatible object store instead of the disk."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import Cluster
from dossiers import PDF, dossier, multipart
from object_store import s3_server, s3_settings
from support import bearer, signed_receipt

from mdph_bridge.services.admin import create_demo
from mdph_bridge.storage_s3 import PART_BYTES, S3Storage

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).parent / "mdph-bridge")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Dedicated servers, the blobs in a bucket of a moto server, a worker and a beat."""
    with s3_server() as endpoint:
        # moto dates every multipart upload in 2010: a quick orphan sweep would abort live ones.
        settings = s3_settings(endpoint, "mdph-blobs") | {"ORPHAN_AGE_SECONDS": 3600}
        cluster = Cluster(tmp_path_factory.mktemp("s3"), settings)
        try:
            cluster.beat.start()
            cluster.start(cluster.worker)
            yield cluster
        finally:
            cluster.close()


def test_59_sends_to_62_through_the_object_store(cluster: Cluster, tmp_path: Path) -> None:
    storage = cluster.hub.extensions["mdph_bridge"].storage
    assert isinstance(storage, S3Storage)
    with cluster.hub.app_context():
        demo = create_demo(cluster.hub.extensions["mdph_bridge"].sessions(), tmp_path / "keys")
        cluster.hub.extensions["mdph_bridge"].sessions.remove()
    client = cluster.hub.test_client()
    # Bigger than an upload part, so that both the upload and the package go up in parts.
    document = PDF + os.urandom(PART_BYTES + 3 * 1024 * 1024)
    files = {"justificatif.pdf": document}
    response = client.post(
        "/api/v1/transfers",
        **multipart(dossier(files=files), files),
        headers=bearer(demo["59"]["jetons"]["caseworker"]),
    )
    assert response.status_code == 202, response.get_json()
    transfer_id = response.get_json()["id"]
    assert storage.list_starting(f"staging/{transfer_id}.") != []  # sealed at rest in the bucket

    receiver = bearer(demo["62"]["jetons"]["receiver"])
    base = f"/api/v1/inbound/{transfer_id}"
    deadline = time.monotonic() + 60
    sender = bearer(demo["59"]["jetons"]["caseworker"])
    outbound = f"/api/v1/transfers/{transfer_id}"
    while (state := client.get(outbound, headers=sender).get_json()["etat"]) != "ready":
        assert time.monotonic() < deadline, f"transfer still {state}"
        time.sleep(0.1)

    package = tmp_path / "paquet.age"
    with client.get(f"{base}/package", headers=receiver) as download:
        assert download.status_code == 200
        package.write_bytes(download.data)
    identity = demo["62"]["cles"]["receiver"]["identity_file"]
    subprocess.run(
        [CLI, "client", "decrypt", "-i", identity, "-o", str(tmp_path / "out"), str(package)],
        check=True,
        cwd=tmp_path,
    )
    assert (tmp_path / "out" / "pieces" / "01-justificatif.pdf").read_bytes() == document

    manifest = client.get(f"{base}/manifest", headers=receiver).get_json()
    signed = signed_receipt(manifest, demo["62"]["cles"]["signing"])
    assert client.post(f"{base}/receipt", json=signed, headers=receiver).status_code == 200
    # Only the package is left in the bucket: the staging payload and the upload are gone.
    assert storage.list("staging") == []
    assert storage.list("incoming") == []
    (stored,) = storage.list("packages")
    assert stored.startswith(f"packages/{transfer_id}.")
