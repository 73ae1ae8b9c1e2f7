"""`mdph-bridge inbound pull`: receive each transfer into its own verified folder, acknowledge it.

Every step can be interrupted: a transfer's folder appears under its final name only by one
rename of a complete, checked folder; the cursor moves only once that transfer is acknowledged;
leftovers of an interrupted run carry a temporary prefix and are removed by the next run.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from mdph_bridge.client.checkpoints import keep_latest
from mdph_bridge.client.envelope import label, unpack
from mdph_bridge.client.hub import Hub, HubError, PullError
from mdph_bridge.domain.age import AgeError
from mdph_bridge.domain.keyids import key_id
from mdph_bridge.domain.manifest import receipt
from mdph_bridge.domain.signing import ALGORITHM, SECRET_PREFIX, digest, sign, verify
from mdph_bridge.keyfiles import public_key_of, read_secret
from mdph_bridge.storage import fsync_path

STATE = "etat-reception.json"
LOCK = ".verrou-reception"
TEMP_PREFIX = ".partiel-"
MANIFEST = "manifeste.json"
MEDICAL = "medical"
# Names the client adds beside the administrative content; the envelope may not bring them.
RESERVED = frozenset({MANIFEST, MEDICAL})
NOTHING_TO_RECEIVE = frozenset({"returned", "cancelled"})
ACKNOWLEDGED = frozenset({"acknowledged", "completed"})

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Keys:
    """The MDPH's private keys: age identities to decrypt, one Ed25519 key to sign receipts."""

    folder: Path
    identities: dict[str, str]  # age recipient -> identity
    signing: str
    signing_public: str

    def opens(self, destination: str, usage: str, part: dict[str, Any]) -> bool:
        """Tell whether one of our identities is among the keys the envelope was encrypted to."""
        return any(key_id(destination, usage, public) in part["cles"] for public in self.identities)


def load_keys(folder: Path) -> Keys:
    """Read the key files of `folder` as `mdph-bridge keys generate` writes them."""
    identities: dict[str, str] = {}
    signing: list[tuple[str, str]] = []
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".agekey", ".signkey"):
            continue
        try:
            secret = read_secret(path)
            public = public_key_of(secret)
        except (OSError, ValueError, AgeError) as exc:
            raise PullError(f"fichier de clé illisible : {path}.") from exc
        if (path.suffix == ".signkey") != secret.startswith(SECRET_PREFIX):
            raise PullError(f"{path} ne contient pas le type de clé qu'annonce son extension.")
        if path.suffix == ".agekey":
            identities[public] = secret
        else:
            signing.append((secret, public))
    if not identities:
        raise PullError(f"aucune clé de déchiffrement (*.agekey) dans {folder}.")
    if len(signing) != 1:
        raise PullError(
            f"{folder} doit contenir exactement une clé de signature des accusés de réception "
            f"(*.signkey) ; trouvé : {len(signing)}."
        )
    return Keys(folder, identities, *signing[0])


def hub_keys(hub: Hub, pinned: Path | None) -> dict[str, str]:
    """The hub's Ed25519 public keys by id: pinned from a file if given, else as published."""
    try:
        document = json.loads(pinned.read_bytes()) if pinned else hub.json("/api/v1/keys")
        return {
            str(key["id"]): str(key["cle_publique"])
            for key in document["cles"]
            if key["algorithme"] == ALGORITHM
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        where = pinned or f"{hub.url}/api/v1/keys"
        raise PullError(f"clés publiques de la plateforme illisibles ({where}).") from exc


def _sync_tree(root: Path) -> None:
    """Flush every file and folder, so a power cut after the rename cannot leave them empty."""
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(Path(folder))


def read_cursor(out: Path) -> str:
    """Return the persisted polling cursor; none yet means from the beginning."""
    path = out / STATE
    try:
        cursor = json.loads(path.read_text())["curseur"]
    except FileNotFoundError:
        return ""
    except (OSError, ValueError, KeyError, TypeError):
        cursor = None
    if not isinstance(cursor, str):
        raise PullError(
            f"fichier d'état {path} illisible ; le supprimer fait tout reprendre depuis le début "
            "(les transferts déjà reçus ne sont pas réécrits)."
        )
    return cursor


def _write_cursor(out: Path, cursor: str) -> None:
    """Replace the state file atomically: a crash leaves the old cursor or the new one."""
    temp = out / f"{TEMP_PREFIX}{STATE}"
    with temp.open("w") as handle:
        json.dump({"curseur": cursor}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, out / STATE)
    fsync_path(out)


@contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold OUT for this run, so removing leftovers never removes a concurrent run's work."""
    with (out / LOCK).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise PullError(f"une autre réception utilise déjà {out}.") from exc
        for leftover in out.glob(f"{TEMP_PREFIX}*"):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        yield


class Receiver:
    """Receives one département's transfers into OUT with one token and its keys."""

    def __init__(
        self, hub: Hub, keys: Keys, trusted: dict[str, str], out: Path, echo: Echo
    ) -> None:
        self.hub = hub
        self.keys = keys
        self.trusted = trusted
        self.out = out
        self.echo = echo

    def pull(self) -> int:
        """Handle every transfer available now, in order, moving the cursor after each one."""
        cursor = read_cursor(self.out)
        count = 0
        while True:
            page = self.hub.json(f"/api/v1/inbound?{urlencode({'cursor': cursor, 'limit': 1})}")
            try:
                items, next_cursor = page["transferts"], str(page["cursor"])
                item = items[0] if items else None
                transfer_id = str(uuid.UUID(item["id"])) if item else ""
            except (KeyError, TypeError, ValueError) as exc:
                raise PullError("liste des transferts de la plateforme illisible.") from exc
            if item is None:
                return count
            try:
                self._receive(transfer_id, item)
            except PullError as exc:
                raise PullError(f"transfert {transfer_id} : {exc}") from exc
            except (KeyError, TypeError, ValueError) as exc:
                message = f"transfert {transfer_id} : réponse inattendue de la plateforme."
                raise PullError(message) from exc
            except OSError as exc:  # its text would name the files, which may be personal data
                where = f"lecture ou écriture impossible dans {self.out}"
                raise PullError(f"transfert {transfer_id} : {where} ({exc.strerror}).") from exc
            _write_cursor(self.out, next_cursor)
            cursor = next_cursor
            count += 1

    def _receive(self, transfer_id: str, item: dict[str, Any]) -> None:
        """Make sure the transfer is in OUT and acknowledged, whatever a previous run left."""
        state = item["etat"]
        if state in NOTHING_TO_RECEIVE:
            self.echo(f"Transfert {transfer_id} : {item['etat_libelle']}, rien à recevoir.")
            return
        folder = self.out / transfer_id
        if folder.is_dir():
            manifest = json.loads((folder / MANIFEST).read_bytes())["manifeste"]
            self.echo(f"Transfert {transfer_id} : déjà reçu dans {folder}.")
        else:
            manifest = self._fetch(transfer_id, item["mdph_destination"], folder)
        if state not in ACKNOWLEDGED:
            self._acknowledge(transfer_id, manifest)

    def _verified(self, signed: dict[str, Any], transfer_id: str, destination: str) -> Any:
        """Return the manifest body once its signature checks with one of the hub's keys."""
        manifest, signature = signed["manifeste"], signed["signature"]
        public = self.trusted.get(str(signature["cle"]))
        value = signature["valeur"]
        if (
            signature["algorithme"] != ALGORITHM
            or public is None
            or not isinstance(value, str)
            or not verify(public, value, manifest)
        ):
            raise PullError(
                "la signature du manifeste ne correspond à aucune clé de la plateforme : "
                "manifeste refusé."
            )
        if manifest["transfert"] != transfer_id or manifest["mdph_destination"] != destination:
            raise PullError("le manifeste signé porte sur un autre transfert.")
        return manifest

    def _fetch(self, transfer_id: str, destination: str, folder: Path) -> Any:
        """Verify, download and decrypt into a temporary folder, then publish it by one rename."""
        base = f"/api/v1/inbound/{transfer_id}"
        raw = self.hub.raw(f"{base}/manifest")
        manifest = self._verified(json.loads(raw), transfer_id, destination)
        parts = {part["nom"]: part for part in manifest["parties"]}
        admin, medical = parts["dossier"], parts.get("medical")
        if not self.keys.opens(destination, "receiver", admin):
            raise PullError(
                f"aucune clé de {self.keys.folder} ne fait partie des destinataires de "
                f"l'enveloppe administrative ({', '.join(admin['cles'])})."
            )
        work = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=self.out))
        try:
            content = work / transfer_id
            content.mkdir()
            self._open(f"{base}/package", work, admin, content, "dossier.json", RESERVED)
            with_medical = medical is not None and self._medical(
                transfer_id, destination, work, medical, content / MEDICAL
            )
            (content / MANIFEST).write_bytes(raw)
            _sync_tree(content)
            os.rename(content, folder)
            fsync_path(self.out)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        extra = " avec son volet médical" if with_medical else ""
        self.echo(f"Transfert {transfer_id} reçu dans {folder}{extra}.")
        return manifest

    def _medical(
        self, transfer_id: str, destination: str, work: Path, part: dict[str, Any], dest: Path
    ) -> bool:
        """Add the medical content when this token may fetch it and one of our keys opens it."""
        if not self.keys.opens(destination, "doctor", part):
            self.echo(f"Transfert {transfer_id} : aucune clé médecin, volet médical non reçu.")
            return False
        try:
            url = f"/api/v1/inbound/{transfer_id}/medical-package"
            self._open(url, work, part, dest, "medical.json")
        except HubError as exc:
            if exc.status != 403:
                raise
            self.echo(f"Transfert {transfer_id} : volet médical réservé aux médecins, non reçu.")
            return False
        return True

    def _open(
        self,
        path: str,
        work: Path,
        part: dict[str, Any],
        dest: Path,
        required: str,
        reserved: frozenset[str] = frozenset(),
    ) -> None:
        """Download an envelope, check it against the signed manifest, and extract it."""
        envelope = work / f"{part['nom']}.age"
        expected = part["taille_chiffree"]
        size, sha256 = self.hub.download(path, envelope, expected)
        if size != expected:
            raise PullError(
                f"l'enveloppe {label(part)} n'a pas la taille annoncée par le manifeste signé "
                "(tronquée ou altérée)."
            )
        if not hmac.compare_digest(sha256, part["sha256_chiffre"]):
            raise PullError(
                f"l'empreinte SHA-256 de l'enveloppe {label(part)} diffère du manifeste signé "
                "(enveloppe altérée)."
            )
        unpack(envelope, list(self.keys.identities.values()), dest, part, required, reserved)
        envelope.unlink()

    def _acknowledge(self, transfer_id: str, manifest: dict[str, Any]) -> None:
        """Post the signed receipt; a transfer another receipt already acknowledged is done."""
        body = receipt(transfer_id, digest(manifest), datetime.now(UTC))
        signed = {
            "recu": body,
            "cle": key_id(manifest["mdph_destination"], "signing", self.keys.signing_public),
            "signature": sign(self.keys.signing, body),
        }
        base = f"/api/v1/inbound/{transfer_id}"
        try:
            self.hub.json(f"{base}/receipt", signed)
        except HubError as exc:
            if exc.status != 409 or self.hub.json(base)["etat"] not in ACKNOWLEDGED:
                raise
        self.echo(f"Transfert {transfer_id} : réception confirmée à la plateforme.")


def run(
    hub: Hub, keys: Keys, out: Path, pinned: Path | None, once: bool, interval: int, echo: Echo
) -> None:
    """Poll and receive until stopped (or once); any refused transfer stops with PullError."""
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _exclusive(out):
        while True:
            trusted = hub_keys(hub, pinned)
            count = Receiver(hub, keys, trusted, out, echo).pull()
            keep_latest(hub, trusted, out, echo)  # the hub's audit log only grows
            if once or count:
                echo(f"{count} transfert(s) traité(s)." if count else "Aucun nouveau transfert.")
            if once:
                return
            time.sleep(interval)
