"""Receive each transfer into its own verified folder, acknowledge it, hand it to the MDPH.

Every step can be interrupted: a transfer's folder appears under its final name only by one
rename of a complete, checked folder; it is listed in the index once, before its receipt is
sent; the cursor moves only once that transfer is acknowledged or set aside; leftovers of an
interrupted run carry a temporary prefix and are removed by the next run.
"""

from __future__ import annotations

import hmac
import json
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import filelock

from mdph_bridge.client.checkpoints import keep_latest
from mdph_bridge.client.envelope import label, unpack
from mdph_bridge.client.files import Index, sync_folder, sync_tree, write_json
from mdph_bridge.client.handoff import Handoff
from mdph_bridge.client.hub import Hub, HubError, PullError, RefusedError, UnreachableError
from mdph_bridge.client.keys import Keys
from mdph_bridge.client.quarantine import FOLDER, Quarantine
from mdph_bridge.domain.keyids import key_id
from mdph_bridge.domain.manifest import receipt
from mdph_bridge.domain.signing import ALGORITHM, digest, sign, verify

STATE = "etat-reception.json"
INDEX = "transferts-recus.jsonl"
LOCK = ".verrou-reception"
TEMP_PREFIX = ".partiel-"
MANIFEST = "manifeste.json"
MEDICAL = "medical"
# Names the client adds beside the administrative content; the envelope may not bring them.
RESERVED = frozenset({MANIFEST, MEDICAL})
NOTHING_TO_RECEIVE = frozenset({"returned", "cancelled"})
ACKNOWLEDGED = frozenset({"acknowledged", "completed"})
# Waits after a failed round: doubled each time from BACKOFF_BASE, at most --max-backoff, whose
# default is half the polling interval's: back from an outage, the hub is seen within 30 s.
BACKOFF_BASE = 2.0
MAX_BACKOFF = 30

Echo = Callable[[str], None]


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


class Progress:
    """The state file: polling cursor, and folders still to hand to the MDPH's software."""

    def __init__(self, out: Path) -> None:
        self.path = out / STATE
        try:
            document = json.loads(self.path.read_text())
            self.cursor = document["curseur"]
            self.pending = set(document.get("a_transmettre", []))
        except FileNotFoundError:
            self.cursor, self.pending = "", set()
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.cursor = None
        if not isinstance(self.cursor, str):
            raise PullError(
                f"fichier d'état {self.path} illisible ; le supprimer fait tout reprendre depuis "
                "le début (les transferts déjà reçus ne sont pas réécrits)."
            )

    def save(self) -> None:
        """Replace the file atomically: a crash leaves the old state or the new one."""
        document = {"curseur": self.cursor, "a_transmettre": sorted(self.pending)}
        write_json(self.path, document, TEMP_PREFIX)


@contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold OUT for this run, so removing leftovers never removes a concurrent run's work."""
    lock = filelock.FileLock(out / LOCK, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise PullError(f"une autre réception utilise déjà {out}.") from exc
    try:
        quarantined = out.glob(f"{FOLDER}/*/{TEMP_PREFIX}*")
        for leftover in [*out.glob(f"{TEMP_PREFIX}*"), *quarantined]:
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        yield
    finally:
        lock.release()


class Receiver:
    """Receives one département's transfers into OUT with one token and its keys."""

    def __init__(
        self,
        hub: Hub,
        keys: Keys,
        trusted: dict[str, str],
        out: Path,
        echo: Echo,
        handoff: Handoff | None = None,
    ) -> None:
        self.hub = hub
        self.keys = keys
        self.trusted = trusted
        self.out = out
        self.echo = echo
        self.handoff = handoff
        self.progress = Progress(out)
        try:
            self.index = Index(out / INDEX)
        except (ValueError, KeyError, TypeError) as exc:
            raise PullError(f"index {out / INDEX} illisible.") from exc
        self.quarantine = Quarantine(out, TEMP_PREFIX)

    def pull(self) -> int:
        """Handle every transfer available now, in order, moving the cursor after each one."""
        self.report_failures()
        self.hand_off()
        count = 0
        while True:
            query = urlencode({"cursor": self.progress.cursor, "limit": 1})
            page = self.hub.json(f"/api/v1/inbound?{query}")
            try:
                items, next_cursor = page["transferts"], str(page["cursor"])
                item = items[0] if items else None
                transfer_id = str(uuid.UUID(item["id"])) if item else ""
            except (KeyError, TypeError, ValueError) as exc:
                raise PullError("liste des transferts de la plateforme illisible.") from exc
            if item is None:
                return count
            self._guarded(transfer_id, item, retry=False)
            self.progress.cursor = next_cursor
            self.progress.save()
            self.hand_off()
            count += 1

    def retry(self, transfer_id: str) -> None:
        """Try again a transfer set aside (say, once the missing key was added)."""
        item = self.hub.json(f"/api/v1/inbound/{transfer_id}")
        if not self._guarded(transfer_id, item, retry=True):
            raise PullError(f"transfert {transfer_id} : toujours en quarantaine.")
        self.quarantine.release(transfer_id)
        self.hand_off()

    def _guarded(self, transfer_id: str, item: dict[str, Any], retry: bool) -> bool:
        """Receive one transfer, or set it aside; say which. Other problems stop the round."""
        try:
            self._receive(transfer_id, item, retry)
        except RefusedError as exc:
            self._set_aside(transfer_id, exc)
            return False
        except PullError as exc:
            raise PullError(f"transfert {transfer_id} : {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            message = f"transfert {transfer_id} : réponse inattendue de la plateforme."
            raise PullError(message) from exc
        except OSError as exc:  # its text would name the files, which may be personal data
            where = f"lecture ou écriture impossible dans {self.out}"
            raise PullError(f"transfert {transfer_id} : {where} ({exc.strerror}).") from exc
        return True

    def _receive(self, transfer_id: str, item: dict[str, Any], retry: bool) -> None:
        """Make sure the transfer is in OUT and acknowledged, whatever a previous run left."""
        state = item["etat"]
        if state in NOTHING_TO_RECEIVE:
            self.echo(f"Transfert {transfer_id} : {item['etat_libelle']}, rien à recevoir.")
            return
        folder = self.out / transfer_id
        if folder.is_dir():
            manifest = json.loads((folder / MANIFEST).read_bytes())["manifeste"]
            self.echo(f"Transfert {transfer_id} : déjà reçu dans {folder}.")
        elif self.quarantine.holds(transfer_id) and not retry:
            self.echo(f"Transfert {transfer_id} : déjà en quarantaine.")
            return
        else:
            manifest = self._fetch(transfer_id, item["mdph_destination"], folder)
        self._list(transfer_id, folder)
        if state not in ACKNOWLEDGED:
            self._acknowledge(transfer_id, manifest)

    def _set_aside(self, transfer_id: str, refusal: RefusedError) -> None:
        """Put the transfer in quarantine with its reason, and tell the hub."""
        self.quarantine.set_aside(transfer_id, refusal.code, str(refusal))
        where = self.quarantine.root / transfer_id
        self.echo(f"Transfert {transfer_id} : mis en quarantaine dans {where} : {refusal}")
        self.report_failures()

    def report_failures(self) -> None:
        """Tell the hub of each failure not yet reported; an unreachable hub is told later."""
        for transfer_id in self.quarantine.unreported():
            code = self.quarantine.code(transfer_id)
            url = f"/api/v1/inbound/{transfer_id}/reception-failure"
            try:
                self.hub.json(url, {"code": code})
            except UnreachableError:
                self.echo(f"Transfert {transfer_id} : échec à signaler plus tard (plateforme).")
                return
            except HubError as exc:  # e.g. returned meanwhile: nothing more to say
                self.echo(f"Transfert {transfer_id} : échec non signalé : {exc}")
            else:
                self.echo(f"Transfert {transfer_id} : échec de réception signalé ({code}).")
            self.quarantine.mark_reported(transfer_id)

    def _list(self, transfer_id: str, folder: Path) -> None:
        """Add the folder to the index once; its hand-off is due before it is listed."""
        if transfer_id in self.index.ids:
            return
        if self.handoff:
            self.progress.pending.add(transfer_id)
            self.progress.save()
        self.index.append(
            {
                "transfert": transfer_id,
                "dossier": transfer_id,
                "recu_le": datetime.now(UTC).isoformat(timespec="seconds"),
                "volet_medical": (folder / MEDICAL).is_dir(),
            }
        )

    def hand_off(self) -> None:
        """Run the MDPH's command for each complete folder not handed yet; retried if it fails."""
        if not self.handoff:
            return
        for transfer_id in sorted(self.progress.pending):
            problem = self.handoff.run(self.out / transfer_id)
            if problem:
                self.echo(f"Transfert {transfer_id} : transmission non faite, {problem} ; reprise.")
                continue
            self.progress.pending.discard(transfer_id)
            self.progress.save()
            self.echo(f"Transfert {transfer_id} : transmis au logiciel de la MDPH.")

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
        identities = self.keys.opening(destination, "receiver", admin)
        if not identities:
            raise RefusedError(
                "cle_absente",
                f"aucune clé de {self.keys.folder} ne fait partie des destinataires de "
                f"l'enveloppe administrative ({', '.join(admin['cles'])}).",
            )
        work = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=self.out))
        try:
            content = work / transfer_id
            content.mkdir()
            self._open(f"{base}/package", work, admin, identities, content, "dossier.json")
            with_medical = medical is not None and self._medical(
                transfer_id, destination, work, medical, content / MEDICAL
            )
            (content / MANIFEST).write_bytes(raw)
            sync_tree(content)
            content.rename(folder)
            sync_folder(self.out)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        extra = " avec son volet médical" if with_medical else ""
        self.echo(f"Transfert {transfer_id} reçu dans {folder}{extra}.")
        return manifest

    def _medical(
        self, transfer_id: str, destination: str, work: Path, part: dict[str, Any], dest: Path
    ) -> bool:
        """Add the medical content when this token may fetch it and one of our keys opens it."""
        identities = self.keys.opening(destination, "doctor", part)
        if not identities:
            self.echo(f"Transfert {transfer_id} : aucune clé médecin, volet médical non reçu.")
            return False
        try:
            url = f"/api/v1/inbound/{transfer_id}/medical-package"
            self._open(url, work, part, identities, dest, "medical.json")
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
        identities: list[str],
        dest: Path,
        required: str,
    ) -> None:
        """Download an envelope, check it against the signed manifest, and extract it."""
        envelope = work / f"{part['nom']}.age"
        expected = part["taille_chiffree"]
        size, sha256 = self.hub.download(path, envelope, expected)
        if size != expected:
            raise RefusedError(
                "paquet_altere",
                f"l'enveloppe {label(part)} n'a pas la taille annoncée par le manifeste signé "
                "(tronquée ou altérée).",
            )
        if not hmac.compare_digest(sha256, part["sha256_chiffre"]):
            raise RefusedError(
                "paquet_altere",
                f"l'empreinte SHA-256 de l'enveloppe {label(part)} diffère du manifeste signé "
                "(enveloppe altérée).",
            )
        unpack(envelope, identities, dest, part, required, RESERVED)
        envelope.unlink()

    def _acknowledge(self, transfer_id: str, manifest: dict[str, Any]) -> None:
        """Post the signed receipt with the first of our signing keys the hub accepts."""
        body = receipt(transfer_id, digest(manifest), datetime.now(UTC))
        base = f"/api/v1/inbound/{transfer_id}"
        destination = manifest["mdph_destination"]
        for position, (secret, public) in enumerate(self.keys.signing):
            signed = {
                "recu": body,
                "cle": key_id(destination, "signing", public),
                "signature": sign(secret, body),
            }
            try:
                self.hub.json(f"{base}/receipt", signed)
                break
            except HubError as exc:
                last = position == len(self.keys.signing) - 1
                if exc.status == 422 and "recu.cle" in str(exc) and not last:
                    continue  # a key retired on the hub: try the next one
                if exc.status != 409 or self.hub.json(base)["etat"] not in ACKNOWLEDGED:
                    raise
                break
        self.echo(f"Transfert {transfer_id} : réception confirmée à la plateforme.")


def backoff(failures: int, ceiling: float) -> float:
    """Seconds to wait after `failures` failed rounds: exponential, with full jitter."""
    return max(1.0, random.uniform(0, min(ceiling, BACKOFF_BASE * 2**failures)))  # noqa: S311


def run(
    hub: Hub,
    keys: Keys,
    out: Path,
    pinned: Path | None,
    echo: Echo,
    *,
    once: bool = False,
    interval: int = 60,
    max_backoff: int = MAX_BACKOFF,
    handoff: Handoff | None = None,
    retry: str | None = None,
) -> None:
    """Poll and receive until stopped (or once); a failed round is retried after a back-off."""
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _exclusive(out):
        failures = 0
        while True:
            try:
                trusted = hub_keys(hub, pinned)
                receiver = Receiver(hub, keys, trusted, out, echo, handoff)
                if retry:
                    receiver.retry(retry)
                    echo(f"Transfert {retry} : reçu après nouvel essai.")
                    return
                count = receiver.pull()
                keep_latest(hub, trusted, out, echo)  # the hub's audit log only grows
            except PullError as exc:
                if once or retry:
                    raise
                failures += 1
                wait = backoff(failures, max_backoff)
                echo(f"Erreur : {exc} Nouvel essai dans {wait:.0f} s.")
                time.sleep(wait)
                continue
            failures = 0
            if once or count:
                echo(f"{count} transfert(s) traité(s)." if count else "Aucun nouveau transfert.")
            if once:
                return
            time.sleep(interval)
