"""Why a receiving MDPH could not receive a transfer: fixed codes, no free text to the hub."""

from __future__ import annotations

# The key of a timeline event's detail that holds the code.
FAILURE = "echec_reception"
# Code -> French label shown to the sender, the supervisors and in the client's quarantine.
FAILURES: dict[str, str] = {
    "cle_absente": "aucune clé de la MDPH d'accueil ne permet d'ouvrir le paquet",
    "paquet_altere": "paquet altéré ou tronqué (différent du manifeste signé)",
    "dechiffrement": "paquet impossible à déchiffrer",
    "contenu_different": "contenu déchiffré différent du manifeste signé",
    "archive_refusee": "archive illisible ou refusée",
    "piece_alteree": "pièce différente de l'empreinte déclarée par la MDPH d'origine",
}
