"""`mdph-reception`: the receiving MDPH's client as a command, help and messages in French."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from mdph_bridge.client import VERSION
from mdph_bridge.client.french import speak_french
from mdph_bridge.client.handoff import Handoff
from mdph_bridge.client.hub import Hub, PullError
from mdph_bridge.client.keys import load_keys
from mdph_bridge.client.pull import MAX_BACKOFF, run

# systemd's LoadCredential= puts the token in $CREDENTIALS_DIRECTORY under this name.
CREDENTIAL = "jeton"
DESCRIPTION = (
    "Reçoit les transferts adressés à la MDPH : télécharge chaque paquet, vérifie la signature "
    "de la plateforme et les empreintes, déchiffre avec les clés de la MDPH, écrit un dossier par "
    "transfert, l'inscrit dans l'index, puis envoie un accusé de réception signé. Un transfert "
    "qui ne passe pas les vérifications est mis en quarantaine, signalé à la plateforme, et les "
    "suivants sont reçus."
)
EPILOG = (
    "Le jeton n'est jamais donné sur la ligne de commande : --token-file, ou la donnée "
    f"d'identification systemd « {CREDENTIAL} » ($CREDENTIALS_DIRECTORY)."
)


class _Parser(argparse.ArgumentParser):
    """Report a wrong command line in one French line (argparse's words from our catalogue)."""

    def error(self, message: str) -> NoReturn:
        """Print the usage and the problem, then exit with status 2."""
        self.print_usage(sys.stderr)
        self.exit(2, f"Erreur : ligne de commande invalide : {message}. Voir --help.\n")


def _positive(text: str) -> int:
    """A whole number of seconds, at least one."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"« {text} » n'est pas un nombre entier positif")
    return value


def _transfer_id(text: str) -> str:
    """A transfer's identifier (UUID)."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"« {text} » n'est pas un identifiant de transfert"
        ) from None


def parser(prog: str) -> argparse.ArgumentParser:
    """The command line of the client, its help and usage errors in French."""
    speak_french()  # before argparse names its headings
    p = _Parser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        add_help=False,
        allow_abbrev=False,  # `--token SECRET` must not pass for `--token-file`
    )
    p.add_argument("-h", "--help", action="help", help="Afficher cette aide et quitter.")
    p.add_argument(
        "--version",
        action="version",
        version=f"mdph-reception {VERSION}",
        help="Afficher la version et quitter.",
    )
    p.add_argument(
        "--url", required=True, metavar="URL", help="Adresse de la plateforme (https://…)."
    )
    p.add_argument(
        "--token-file",
        metavar="FICHIER",
        type=Path,
        help="Fichier contenant le jeton receiver ou doctor du département "
        f"(sinon $CREDENTIALS_DIRECTORY/{CREDENTIAL}).",
    )
    p.add_argument(
        "--keys",
        metavar="DOSSIER",
        required=True,
        type=Path,
        help="Dossier des clés privées de la MDPH (*.agekey, *.signkey ; plusieurs pendant "
        "un renouvellement).",
    )
    p.add_argument(
        "--out",
        metavar="DOSSIER",
        required=True,
        type=Path,
        help="Dossier de réception : un sous-dossier par transfert, l'index, la quarantaine.",
    )
    p.add_argument(
        "--hub-keys",
        metavar="FICHIER",
        type=Path,
        help="Clés publiques de la plateforme à épingler (JSON de /api/v1/keys) ; sinon lues "
        "sur la plateforme.",
    )
    p.add_argument(
        "--once", action="store_true", help="Recevoir ce qui est disponible, puis s'arrêter."
    )
    p.add_argument(
        "--interval",
        metavar="SECONDES",
        type=_positive,
        default=60,
        help="Secondes entre deux interrogations (défaut : 60).",
    )
    p.add_argument(
        "--max-backoff",
        metavar="SECONDES",
        type=_positive,
        default=MAX_BACKOFF,
        help="Attente maximale en secondes entre deux essais quand la plateforme ne répond "
        f"pas (défaut : {MAX_BACKOFF}).",
    )
    p.add_argument(
        "--on-received",
        metavar="COMMANDE",
        help="Commande lancée avec le chemin du dossier de chaque transfert reçu ; en cas "
        "d'échec, relancée au passage suivant.",
    )
    p.add_argument(
        "--on-received-timeout",
        metavar="SECONDES",
        type=_positive,
        default=600,
        help="Secondes accordées à cette commande (défaut : 600).",
    )
    p.add_argument(
        "--retry",
        metavar="ID",
        type=_transfer_id,
        help="Essayer à nouveau un transfert mis en quarantaine, puis s'arrêter.",
    )
    return p


def read_token(path: Path | None) -> str:
    """The token from its file, or from the systemd credential; never from the command line."""
    if path is None:
        credentials = os.environ.get("CREDENTIALS_DIRECTORY")
        if not credentials:
            raise ValueError(
                "jeton absent : --token-file FICHIER, ou la donnée d'identification systemd "
                f"« {CREDENTIAL} »."
            )
        path = Path(credentials) / CREDENTIAL
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"fichier du jeton illisible : {path} ({exc.strerror}).") from exc
    if not token or any(c.isspace() for c in token):
        raise ValueError(f"{path} doit contenir le jeton seul, sur une ligne.")
    return token


def _echo(message: str) -> None:
    """One line per event, flushed at once (the journal may be all an operator reads)."""
    print(message, flush=True)


def main(argv: Sequence[str] | None = None, prog: str = "mdph-reception") -> int:
    """Run the client; 0 when done, 1 on an error it explains, 2 on a wrong command line."""
    args = parser(prog).parse_args(argv)
    try:
        handoff = args.on_received and Handoff(args.on_received, args.on_received_timeout)
        run(
            Hub(args.url, read_token(args.token_file)),
            load_keys(args.keys),
            args.out,
            args.hub_keys,
            _echo,
            once=args.once,
            interval=args.interval,
            max_backoff=args.max_backoff,
            handoff=handoff or None,
            retry=args.retry,
        )
    except (PullError, ValueError) as exc:
        print(f"Erreur : {exc}", file=sys.stderr, flush=True)
        return 1
    except OSError as exc:
        print(f"Erreur : accès impossible à {exc.filename} ({exc.strerror}).", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
