"""Commands an MDPH runs on its own machine: pull, decrypt, check a receipt offline."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import click

from mdph_bridge.cli.base import main


@main.group()
def client() -> None:
    """Receiving-side tools, run on the MDPH's own machine."""


@client.command("decrypt")
@click.option(
    "--identity", "-i", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.argument(
    "package", metavar="PAQUET", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def client_decrypt(identity: Path, out: Path, package: Path) -> None:
    """Decrypt a downloaded package with the MDPH's private key and unpack it into OUT."""
    from mdph_bridge.domain.age import AgeError, Decryptor

    identities = [
        line for line in identity.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")
    ]
    out.mkdir(parents=True, exist_ok=True)
    try:
        with (
            package.open("rb") as src,
            tarfile.open(fileobj=Decryptor(src, identities), mode="r|") as tar,
        ):
            tar.extractall(out, filter="data")
    except AgeError as exc:
        raise click.ClickException(f"Déchiffrement impossible : {exc}") from exc
    click.echo(f"Dossier déchiffré dans {out}")


@main.group()
def inbound() -> None:
    """Receive the département's transfers, on the MDPH's own machine."""


@inbound.command(
    "pull",
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def inbound_pull(args: tuple[str, ...]) -> None:
    """Receive the département's transfers: the `mdph-reception` client (see its --help)."""
    from mdph_bridge.client.cli import main as client

    raise SystemExit(client(args, prog="mdph-bridge inbound pull"))


@main.group()
def receipt() -> None:
    """Check, offline, what the receiving MDPH acknowledged."""


@receipt.command("verify")
@click.argument(
    "receipt_file", metavar="RECU", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--manifest",
    "manifest_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Le manifeste signé (GET …/transfers/ID/manifest).",
)
@click.option(
    "--hub-keys",
    "hub_keys_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Les clés publiques de la plateforme (GET /api/v1/keys), vérifiées par ailleurs.",
)
def receipt_verify(receipt_file: Path, manifest_file: Path, hub_keys_file: Path) -> None:
    """Prove offline what the receiving MDPH acknowledged: both signatures, and their binding."""
    try:
        lines = verify_receipt(
            json.loads(receipt_file.read_text()),
            json.loads(manifest_file.read_text()),
            json.loads(hub_keys_file.read_text()),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise click.ClickException(f"Vérification impossible : {exc}") from exc
    for line in lines:
        click.echo(line)


def verify_receipt(
    signed: dict[str, Any], manifest: dict[str, Any], hub_keys: dict[str, Any]
) -> list[str]:
    """Check the hub signed the manifest, and the destination's key signed a receipt of it."""
    from mdph_bridge.domain.keyids import key_id
    from mdph_bridge.domain.signing import digest, verify

    body = manifest["manifeste"]
    keys = {k["id"]: k["cle_publique"] for k in hub_keys["cles"]}
    block = manifest["signature"]
    if not verify(keys.get(block["cle"], ""), block["valeur"], body):
        raise ValueError("la signature de la plateforme sur le manifeste est invalide")
    expected = key_id(body["mdph_destination"], "signing", signed["cle_publique"])
    if signed["cle"] != expected:
        raise ValueError("la clé du reçu n'est pas une clé de signature de la MDPH d'accueil")
    if not verify(signed["cle_publique"], signed["signature"], signed["recu"]):
        raise ValueError("la signature du reçu est invalide")
    if signed["recu"]["transfert"] != body["transfert"]:
        raise ValueError("le reçu porte sur un autre transfert")
    if signed["recu"]["sha256_manifeste"] != digest(body):
        raise ValueError("le reçu ne porte pas sur ce manifeste")
    parts = ", ".join(f"{p['nom']} ({p['sha256_chiffre']})" for p in body["parties"])
    return [
        f"Manifeste signé par la plateforme (clé {block['cle']}) : signature valide.",
        f"Reçu signé par la MDPH {body['mdph_destination']} (clé {signed['cle']}) "
        f"le {signed['recu']['date']} : signature valide.",
        f"Le reçu porte sur : {parts}.",
    ]
