"""Stable error codes with their French messages, and their rendering as `erreurs` lists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# code -> French message template. The single place codes are defined; docs/ERREURS.md is
# generated from it (`mdph-bridge error-codes`).
CATALOGUE: dict[str, str] = {
    # Structure of the payload
    "champ.obligatoire": "Ce champ est obligatoire.",
    "champ.inconnu": "Ce champ n'existe pas dans le format : vérifiez son orthographe.",
    "champ.nul": "Ce champ ne peut pas être vide (null).",
    "champ.texte": "Une chaîne de caractères est attendue.",
    "champ.entier": "Un nombre entier est attendu.",
    "champ.booleen": "Une valeur vrai/faux (true ou false) est attendue.",
    "champ.date": "Une date au format AAAA-MM-JJ est attendue.",
    "champ.liste": "Une liste est attendue.",
    "champ.objet": "Un objet (entre accolades) est attendu.",
    "champ.longueur": "La longueur doit être comprise entre {min} et {max} caractères.",
    "champ.borne": "La valeur doit être comprise entre {min} et {max}.",
    "champ.choix": "Valeur non autorisée. Valeurs possibles : {choix}.",
    "champ.invalide": "Valeur invalide.",
    "champ.caracteres": "Le texte contient un caractère de contrôle ou invalide (par exemple nul).",
    # Dossier format v1
    "format.version": "La version du format doit être « 1 ».",
    "departement.code": "Code département inconnu : attendu 01 à 19, 2A, 2B, 21 à 95 ou 971 à 976.",
    "transfert.origine": "La MDPH d'origine doit être la vôtre ({departement}).",
    "transfert.destination_identique": "La MDPH de destination doit être différente de l'origine.",
    "transfert.destination_inconnue": (
        "Le département {departement} n'est pas raccordé à la plateforme."
    ),
    "transfert.destination_sans_cle": (
        "Le département {departement} n'a pas de clé de réception valide : "
        "le transfert ne peut pas lui être adressé pour le moment."
    ),
    "transfert.destination_sans_cle_medicale": (
        "Le département {departement} n'a pas de clé valide pour ses médecins : "
        "les pièces médicales ne peuvent pas lui être adressées pour le moment."
    ),
    "transfert.date_demenagement": (
        "La date de déménagement ne peut pas dépasser de plus de 30 jours la date du jour."
    ),
    "piece.sha256": "Empreinte SHA-256 attendue : 64 caractères hexadécimaux en minuscules.",
    "piece.medicale": "Une pièce de type « {type} » est toujours médicale (medical: true).",
    "piece.nom_double": "Deux pièces portent le même nom de fichier « {nom} ».",
    "piece.fichier_manquant": "Aucun fichier n'a été envoyé pour la pièce « {nom} ».",
    "piece.fichier_non_declare": (
        "Le fichier « {nom} » a été envoyé mais n'est pas déclaré dans « pieces »."
    ),
    "piece.fichier_double": "Le fichier « {nom} » a été envoyé plusieurs fois.",
    "piece.empreinte_differente": (
        "Le contenu du fichier ne correspond pas à l'empreinte SHA-256 déclarée."
    ),
    "piece.trop_grande": "Le fichier dépasse la taille maximale autorisée de {max} Mo.",
    # Request
    "requete.dossier_absent": "La partie « dossier » (le fichier JSON du dossier) est absente.",
    "requete.dossier_json": "La partie « dossier » n'est pas un JSON valide en UTF-8.",
    "requete.dossier_trop_grand": "La partie « dossier » dépasse {max} Mo.",
    "requete.json": "Le corps de la requête n'est pas un JSON valide en UTF-8.",
    "requete.multipart": "La requête doit être envoyée en multipart/form-data.",
    "requete.trop_grande": (
        "L'envoi dépasse les limites : {max} Mo au total, {parties} fichiers au plus, "
        "4 Mo pour la partie « dossier »."
    ),
    "requete.cle_idempotence": (
        "L'en-tête Idempotency-Key doit faire 1 à 128 caractères ASCII visibles, sans espace."
    ),
    "requete.cle_idempotence_reutilisee": (
        "Cette clé d'idempotence a déjà servi pour un autre dossier : "
        "utilisez une nouvelle clé pour un nouvel envoi."
    ),
    "requete.curseur": "Curseur de pagination invalide : reprenez celui renvoyé par la plateforme.",
    # Authentication and access
    "auth.jeton_absent": "Authentification requise : en-tête « Authorization: Bearer <jeton> ».",
    "auth.jeton_invalide": "Jeton d'accès inconnu ou révoqué.",
    "auth.role": "Votre rôle ne permet pas cette action.",
    # Transfers
    "transfert.introuvable": "Transfert introuvable.",
    "transfert.etat": "Action impossible dans l'état actuel du transfert : « {etat} ».",
    "transfert.destination_modifiee": (
        "Une correction ne peut pas changer de MDPH de destination : annulez ce transfert "
        "et créez-en un nouveau."
    ),
    "transfert.sha256_paquet": "L'empreinte SHA-256 ne correspond pas au paquet transmis.",
    "transfert.numero_different": (
        "Le transfert a déjà été intégré sous un autre numéro de dossier."
    ),
    "transfert.motif_different": "Le transfert a déjà été renvoyé avec un autre motif.",
    # Processing (recorded on the transfer by the worker)
    "traitement.echec": (
        "Le traitement a échoué après plusieurs tentatives : un administrateur doit intervenir."
    ),
    # Generic HTTP
    "http.introuvable": "Adresse introuvable.",
    "http.methode": "Méthode HTTP non autorisée pour cette adresse.",
    "http.erreur": "La requête n'a pas pu être traitée.",
    "service.indisponible": (
        "Service momentanément indisponible : réessayez dans quelques instants."
    ),
    "erreur.interne": (
        "Erreur interne : réessayez plus tard ; si elle persiste, prévenez l'administrateur "
        "de la plateforme."
    ),
}


class Problem(str):
    """A French message that remembers its stable error code (marshmallow keeps it as is)."""

    code: str

    def __new__(cls, code: str, message: str) -> Problem:
        obj = super().__new__(cls, message)
        obj.code = code
        return obj

    def format(self, *args: Any, **kwargs: Any) -> Problem:
        """Keep the code when marshmallow formats the message."""
        return Problem(self.code, str.format(self, *args, **kwargs))


def problem(code: str, **params: Any) -> Problem:
    """Build the problem of `code` with its French message filled in."""
    return Problem(code, CATALOGUE[code].format(**params))


def error(chemin: str, code: str, **params: Any) -> dict[str, str]:
    """Build one item of an `erreurs` list."""
    return {"chemin": chemin, "code": code, "message": CATALOGUE[code].format(**params)}


def flatten(messages: Mapping[str | int, Any] | list[Any], path: str = "") -> list[dict[str, str]]:
    """Turn marshmallow's nested error messages into a flat `erreurs` list with field paths."""
    if isinstance(messages, list):
        items: list[dict[str, str]] = []
        for message in messages:
            items.extend(
                flatten(message, path) if isinstance(message, dict) else [_item(path, message)]
            )
        return items
    items = []
    for key, value in messages.items():
        if key == "_schema":
            sub = path
        elif isinstance(key, int):
            sub = f"{path}[{key}]"
        else:
            sub = f"{path}.{key}" if path else str(key)
        items.extend(flatten(value, sub) if isinstance(value, dict | list) else [_item(sub, value)])
    return items


def _item(path: str, message: Any) -> dict[str, str]:
    code = message.code if isinstance(message, Problem) else "champ.invalide"
    return {"chemin": path, "code": code, "message": str(message)}


def markdown_table() -> str:
    """Render the catalogue as the Markdown table of docs/ERREURS.md."""
    lines = [
        "# Codes d'erreur",
        "",
        "Généré par `mdph-bridge error-codes` depuis `schemas/errors.py` : "
        "ne pas modifier à la main.",
        "",
        "| code | message |",
        "| --- | --- |",
    ]
    lines += [f"| `{code}` | {message} |" for code, message in CATALOGUE.items()]
    return "\n".join(lines) + "\n"
