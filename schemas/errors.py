"""Stable error codes with their French messages, and their rendering as `erreurs` lists."""

from __future__ import annotations

import string
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
    "champ.caracteres_invisibles": (
        "Le texte contient un caractère invisible qui change le sens de lecture ou un caractère "
        "de contrôle (souvent venu d'un copier-coller) : retapez ce champ."
    ),
    # Dossier format v1
    "format.version": "La version du format doit être « 1 » ou « 1.1 ».",
    "departement.code": (
        "Code département inconnu : attendu 01 à 19, 2A, 2B, 21 à 95, 971 à 974 ou 976."
    ),
    "departement.collectivite_outre_mer": (
        "Le code {numero} désigne {collectivite}, collectivité d'outre-mer et non département : "
        "les droits des personnes handicapées y sont instruits par la collectivité (sa maison "
        "territoriale), qui n'est pas raccordée à la plateforme. Adressez-lui le dossier "
        "directement, hors plateforme."
    ),
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
    "piece.total_trop_grand": (
        "Les pièces jointes dépassent ensemble la taille maximale autorisée de {max} Mo "
        "par transfert."
    ),
    "piece.type_non_autorise": (
        "Le fichier « {nom} » n'est pas d'un type accepté : seuls les PDF, JPEG et PNG le sont. "
        "Le type est reconnu d'après le contenu du fichier, pas d'après son nom."
    ),
    "piece.nom_invalide": (
        "Le nom de fichier doit être un simple nom, sans chemin : ni « / », ni « \\ », "
        "ni « . » ou « .. » à lui seul ; sans caractère de contrôle ou invisible ; "
        "de 255 octets au plus (un caractère accentué en compte deux)."
    ),
    # Dossier format v1: beneficiary, rights, requests
    "champ.nombre": "Un nombre est attendu (par exemple 12 ou 12.5), sans guillemets.",
    "champ.liste_vide": "La liste doit contenir au moins un élément.",
    "personne.nom": (
        "Un nom ou un prénom ne peut contenir que des lettres (accents compris), des espaces, "
        "des traits d'union et des apostrophes."
    ),
    "beneficiaire.nir_format": (
        "Le NIR doit compter 15 caractères sans espace : sexe (1 ou 2 ; 3, 4, 7 ou 8 pour un "
        "numéro provisoire), année et mois de naissance, lieu de naissance (2A ou 2B pour la "
        "Corse), numéro d'ordre et clé."
    ),
    "beneficiaire.nir_cle": (
        "La clé du NIR (ses deux derniers chiffres) ne correspond pas au reste du numéro : "
        "vérifiez la saisie."
    ),
    "beneficiaire.nir_sexe": (
        "Le premier chiffre du NIR ne correspond pas au sexe indiqué ({sexe}) : 1 (ou 3, 7) pour "
        "un homme, 2 (ou 4, 8) pour une femme. Vérifiez le NIR ou le sexe."
    ),
    "beneficiaire.nir_annee": (
        "L'année de naissance inscrite dans le NIR ({nir}) ne correspond pas à la date de "
        "naissance ({annee}). Vérifiez le NIR ou la date de naissance."
    ),
    "beneficiaire.nir_mois": (
        "Le mois de naissance inscrit dans le NIR ({nir}) ne correspond pas à la date de "
        "naissance ({mois}). Vérifiez le NIR ou la date de naissance."
    ),
    "beneficiaire.date_naissance": (
        "La date de naissance doit être comprise entre le 01/01/1900 et aujourd'hui."
    ),
    "beneficiaire.code_insee": (
        "Code INSEE de la commune de naissance attendu : 5 caractères, par exemple 59350 ou "
        "2A004, ou 99 suivi du code du pays pour une naissance à l'étranger."
    ),
    "beneficiaire.nir_lieu_naissance": (
        "Le lieu de naissance inscrit dans le NIR ({nir}) ne correspond pas au code INSEE de la "
        "commune de naissance ({insee}) : l'un des deux est mal saisi."
    ),
    "lieu_de_vie.finess_obligatoire": (
        "Le numéro FINESS de l'établissement où vit la personne est obligatoire."
    ),
    "lieu_de_vie.finess_interdit": (
        "Un numéro FINESS ne se donne que pour un établissement ou un hôpital."
    ),
    "lieu_de_vie.incoherent": (
        "Le champ « etablissement_accueil_finess » doit être vide ou égal au FINESS du lieu de vie."
    ),
    "adresse.code_postal": (
        "Code postal invalide : 5 chiffres d'une commune d'un département français (par exemple "
        "62000)."
    ),
    "adresse.collectivite_outre_mer": (
        "Le code postal {code_postal} est à {collectivite} ({numero}), collectivité d'outre-mer "
        "et non département : la plateforme ne transmet pas de dossier à sa maison "
        "territoriale. Adressez le dossier directement à la collectivité, hors plateforme."
    ),
    "adresse.departement": (
        "Le code postal {code_postal} est dans le département {departement}, pas dans celui de "
        "la MDPH de destination ({destination}) : vérifiez la nouvelle adresse ou la MDPH de "
        "destination."
    ),
    "finess.format": (
        "Numéro FINESS attendu : 9 caractères, les deux premiers étant le département (2A ou 2B "
        "pour la Corse, 97 ou 98 outre-mer)."
    ),
    "finess.cle": (
        "La clé du numéro FINESS (son dernier chiffre) ne correspond pas au reste du numéro : "
        "vérifiez la saisie."
    ),
    "transfert.demenagement_avant_naissance": (
        "La date de déménagement ne peut pas précéder la date de naissance."
    ),
    "representant.obligatoire": (
        "Un représentant légal est obligatoire, car la personne est mineure à la date du "
        "déménagement ou un jugement de protection est joint : ajoutez-le dans "
        "« representants_legaux »."
    ),
    "representant.jugement": (
        "La référence du jugement est obligatoire pour un tuteur ou un curateur."
    ),
    "droit.type_inconnu": (
        "Code de droit inconnu de la nomenclature TRE_R420 (par exemple 1.1 pour l'AAH, 5.1 pour "
        "l'aide humaine de la PCH, 6.1 pour l'AEEH de base)."
    ),
    "droit.type_categorie": (
        "Le type {type} n'appartient pas à la catégorie {categorie}. Types possibles : {types}."
    ),
    "droit.identifiant_double": (
        "L'identifiant « {identifiant} » est déjà celui d'un autre droit du dossier."
    ),
    "droit.date_decision": (
        "La décision de la CDAPH ne peut pas être postérieure de plus de 6 mois à l'ouverture "
        "du droit : elle devait dater au plus tard du {date_max}."
    ),
    "droit.date_echeance": "La date d'échéance doit être postérieure à la date d'ouverture.",
    "droit.echeance_obligatoire": (
        "La date d'échéance est obligatoire, sauf pour un droit attribué sans limitation de "
        "durée (sans_limitation_duree à true)."
    ),
    "droit.echeance_interdite": (
        "Un droit sans limitation de durée n'a pas de date d'échéance : mettez date_echeance à "
        "null, ou sans_limitation_duree à false."
    ),
    "droit.sans_limitation": (
        "Ce droit ne peut pas être attribué sans limitation de durée : seuls l'AAH, la CMI "
        "invalidité et l'AEEH de base avec un taux d'au moins 80 %, la RQTH et la PCH le peuvent."
    ),
    "droit.duree_max": (
        "La durée dépasse le maximum légal pour ce droit ({limite}) : l'échéance doit être au "
        "plus tard le {date_max}."
    ),
    "droit.payeur": "Ce droit est versé par : {payeurs}. Corrigez le payeur.",
    "droit.statut_echu": (
        "Un droit échu doit avoir une date d'échéance antérieure au déménagement ; "
        "s'il a pris fin plus tôt, indiquez cette date comme échéance."
    ),
    "droit.trop_ancien": (
        "Ce droit a pris fin plus de 12 mois avant le déménagement : retirez-le du dossier."
    ),
    "droit.taux_obligatoire": (
        "Le taux d'incapacité est obligatoire pour l'AAH, l'AEEH et la CMI invalidité ou priorité."
    ),
    "droit.taux_incoherent": (
        "Le taux d'incapacité « {taux} » ne permet pas ce droit ({type}). "
        "Taux possibles : {taux_possibles}."
    ),
    "droit.pch_obligatoire": (
        "Le bloc « pch » (heures, montant, département payeur) est obligatoire pour une PCH "
        "(catégorie 5)."
    ),
    "droit.pch_heures_obligatoires": (
        "L'aide humaine de la PCH se décrit en heures par mois (« heures_mensuelles ») avec son "
        "montant mensuel (« montant_mensuel »)."
    ),
    "droit.pch_versements_interdits": (
        "Seuls les éléments de PCH versés en une fois (aides techniques, aménagement du "
        "logement ou du véhicule, charges exceptionnelles) ont des versements ponctuels."
    ),
    "droit.pch_interdit": (
        "Le bloc « pch » ne concerne que la PCH (catégorie 5) : mettez-le à null pour ce droit."
    ),
    "droit.aeeh_complement": (
        "Le type {type} est le complément {numero} de l'AEEH : indiquez aeeh_complement = {numero}."
    ),
    "droit.aeeh_complement_interdit": (
        "Le champ aeeh_complement ne concerne que les compléments d'AEEH (types 6.2 à 6.7) : "
        "mettez-le à null pour ce droit."
    ),
    "droit.aeeh_age": (
        "L'AEEH ne peut être ouverte qu'avant les 20 ans de l'enfant, soit avant le {date_limite}."
    ),
    "droit.aah_age": (
        "L'AAH ne peut pas être ouverte avant les 16 ans de la personne, soit avant le "
        "{date_limite}."
    ),
    "droit.creton": (
        "Cette orientation vers un établissement pour enfants se poursuit après les 20 ans de la "
        "personne (le {date_limite}) : indiquez creton à true (amendement Creton) ou corrigez "
        "l'échéance."
    ),
    "droit.cumul_aeeh_pch": (
        "Ce droit est actif en même temps que le droit « {autre} » : un complément d'AEEH et "
        "l'aide humaine de la PCH ne peuvent pas se cumuler (la famille choisit l'un ou "
        "l'autre). Corrigez les dates ou le statut."
    ),
    "droit.cumul_actp_pch": (
        "Ce droit est actif en même temps que le droit « {autre} » : l'allocation compensatrice "
        "(ACTP ou ACFP) et la PCH ne peuvent pas se cumuler (la personne choisit l'une ou "
        "l'autre). Corrigez les dates ou le statut."
    ),
    "date.future": "Cette date est dans le futur : vérifiez-la.",
    "droit.avant_naissance": "Cette date est antérieure à la naissance de la personne.",
    "demande.date_depot": (
        "La date de dépôt doit être comprise entre la date de naissance et aujourd'hui."
    ),
    "demande.certificat_ancien": (
        "Le certificat médical avait plus de 12 mois au dépôt de la demande : il devait dater "
        "du {date_min} ou après."
    ),
    "avertissement.droit_echeance_proche": (
        "Ce droit arrive à échéance le {date}, moins de 6 mois après le déménagement : son "
        "renouvellement sera à traiter par la MDPH de destination."
    ),
    "avertissement.droit_echu": (
        "Ce droit est échu (ou prend fin avant le déménagement) : la MDPH de destination le "
        "reçoit pour information, pas comme un droit en cours."
    ),
    "avertissement.demande_rejet_implicite": (
        "Cette demande, déposée le {date}, attend une décision depuis plus de 4 mois : le silence "
        "vaut rejet (article R241-33 du CASF). Informez la personne de ses voies de recours."
    ),
    "avertissement.nir_non_certifie": (
        "Le NIR n'est pas certifié alors qu'un droit est versé par la CAF ou la MSA : faites-le "
        "certifier pour que la caisse retrouve la personne sans interrompre les paiements."
    ),
    # Request
    "requete.dossier_absent": "La partie « dossier » (le fichier JSON du dossier) est absente.",
    "requete.dossier_json": "La partie « dossier » n'est pas un JSON valide en UTF-8.",
    "requete.dossier_trop_grand": "La partie « dossier » dépasse {max} Mo.",
    "requete.json": "Le corps de la requête n'est pas un JSON valide en UTF-8.",
    "requete.json_trop_grand": "Le corps JSON de la requête dépasse {max} Ko.",
    "requete.json_profondeur": (
        "Le corps JSON de la requête imbrique plus de {max} niveaux de listes ou d'objets."
    ),
    "requete.multipart": "La requête doit être envoyée en multipart/form-data.",
    "requete.multipart_invalide": (
        "Le corps multipart/form-data est mal formé : frontière absente ou inattendue, lignes "
        "non terminées par CRLF, partie sans en-tête « Content-Disposition: form-data » ou sans "
        "nom, corps interrompu, ou en-tête de partie au-delà de {entetes} lignes ou de {taille} "
        "Ko au total."
    ),
    "requete.delai_depasse": (
        "L'envoi s'est interrompu : le reste de la requête n'est pas arrivé à temps. Renvoyez-la."
    ),
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
    "auth.jeton_invalide": "Jeton d'accès inconnu, expiré ou révoqué.",
    "auth.trop_d_echecs": (
        "Trop d'essais de jeton refusés depuis votre poste : réessayez dans {secondes} secondes."
    ),
    "auth.role": "Votre rôle ne permet pas cette action.",
    "compte.trop_d_essais": (
        "Trop d'essais de connexion refusés depuis votre poste : réessayez dans {secondes} "
        "secondes."
    ),
    # Accounts and pages (agents signed in)
    "compte.identifiants": "Identifiant ou mot de passe incorrect.",
    "compte.formulaire_expire": (
        "Le formulaire a expiré ou ne vient pas de cette plateforme : rechargez la page et "
        "recommencez."
    ),
    "compte.session_expiree": "Votre session a pris fin : connectez-vous à nouveau.",
    # Transfers
    "transfert.introuvable": "Transfert introuvable.",
    "transfert.etat": "Action impossible dans l'état actuel du transfert : « {etat} ».",
    "transfert.destination_modifiee": (
        "Une correction ne peut pas changer de MDPH de destination : annulez ce transfert "
        "et créez-en un nouveau."
    ),
    "recu.transfert": "Le reçu doit porter l'identifiant de ce transfert.",
    "recu.manifeste": (
        "Le reçu doit porter l'empreinte SHA-256 du manifeste de ce transfert "
        "(téléchargez le manifeste et vérifiez-le)."
    ),
    "recu.date": (
        "La date du reçu doit être une date et heure ISO 8601 avec fuseau, proche de maintenant."
    ),
    "recu.cle": (
        "Clé de signature inconnue, révoquée, expirée ou d'un autre département : "
        "signez avec la clé de signature enregistrée pour votre MDPH."
    ),
    "recu.signature": "La signature du reçu ne correspond pas à son contenu et à la clé indiquée.",
    "transfert.recu_absent": "La MDPH d'accueil n'a pas encore accusé réception de ce transfert.",
    "transfert.recu_agent": (
        "La réception a été confirmée par un agent de la MDPH d'accueil sur la plateforme, "
        "sans reçu signé par la clé du département."
    ),
    "transfert.sha256_paquet": "L'empreinte SHA-256 ne correspond pas au paquet transmis.",
    "transfert.numero_different": (
        "Le transfert a déjà été intégré sous un autre numéro de dossier."
    ),
    "transfert.motif_different": "Le transfert a déjà été renvoyé avec un autre motif.",
    # Extra-legal aids in a dossier (checked against the origin's rule set)
    "aide.inconnue": (
        "Aide extra-légale « {aide} » inconnue des règles du département {departement} : "
        "codes possibles : {codes}."
    ),
    "aide.identifiant_double": "Deux aides extra-légales portent l'identifiant « {identifiant} ».",
    "aide.dates": "La date d'échéance doit être postérieure à la date d'ouverture.",
    # Rule files of the départements (mdph_bridge/rules/*.toml)
    "regles.date": "Une date sans guillemets au format AAAA-MM-JJ est attendue.",
    "regles.montant": "Un montant positif en euros est attendu (par exemple 22.00).",
    "regles.portee": 'Le fichier doit porter « departement » ou « portee = "national" ».',
    "regles.nom_fichier": "Le fichier {fichier} doit décrire le département {attendu}.",
    "regles.ordre": "Les versions doivent être dans l'ordre de leurs dates d'effet, sans doublon.",
    "regles.incomplet": "La première version doit donner une valeur à « {champ} ».",
    "regles.plancher": (
        "Le tarif prestataire ({tarif} €) est sous le plancher national en vigueur au "
        "{date} ({plancher} €)."
    ),
    "regles.aide_double": "Deux aides extra-légales portent le code « {aide} ».",
    "regles.national_absent": "Le fichier des tarifs nationaux (national.toml) est absent.",
    "regles.lecture": "Fichier illisible : {detail}.",
    # Processing (recorded on the transfer by the worker)
    "traitement.echec": (
        "Le traitement a échoué après plusieurs tentatives : un administrateur doit intervenir."
    ),
    # Dossier form on the pages (what was typed cannot be read as the format's value)
    "formulaire.date": "Une date au format JJ/MM/AAAA est attendue, par exemple 14/03/1985.",
    "formulaire.nombre": "Un nombre est attendu, par exemple 12 ou 12,5.",
    "formulaire.entier": "Un nombre entier est attendu, par exemple 2.",
    "formulaire.fichier_illisible": (
        "Le fichier choisi n'est pas un dossier au format JSON v1 lisible : "
        "vérifiez qu'il s'agit bien du fichier exporté de votre logiciel métier."
    ),
    "formulaire.fichier_absent": "Joignez le fichier de cette pièce (PDF, JPEG ou PNG).",
    "brouillon.introuvable": "Brouillon introuvable : il a peut-être été envoyé ou supprimé.",
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

    def __reduce__(self) -> tuple[type[Problem], tuple[str, str]]:
        """Keep the code when marshmallow deep-copies fields (and when pickled)."""
        return Problem, (self.code, str(self))

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
            # marshmallow's bucket of object-level errors; an unknown key literally named
            # `_schema` lands there too, and belongs at its own path.
            unknown = [m for m in value if getattr(m, "code", None) == "champ.inconnu"]
            items.extend(_item(f"{path}._schema" if path else "_schema", m) for m in unknown)
            value = [m for m in value if m not in unknown]
            sub = path
        elif isinstance(key, int):
            sub = f"{path}[{key}]"
        else:
            sub = f"{path}.{key}" if path else str(key)
        items.extend(flatten(value, sub) if isinstance(value, dict | list) else [_item(sub, value)])
    return items


# Parameters of messages that quote the person's data (a file name may hold a name; dates may be
# a birth date or give it away). The hub keeps such messages masked (`for_storage`).
PERSONAL_PARAMS = frozenset(
    {
        "nom",
        "nir",
        "annee",
        "mois",
        "sexe",
        "code_postal",
        "date",
        "date_min",
        "date_max",
        "date_limite",
    }
)


class _Masked(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "…"


def for_storage(problems: list[dict[str, str]]) -> list[dict[str, str]]:
    """Problems to keep on the hub: a message quoting personal data is kept with it masked."""
    kept = []
    for item in problems:
        template = CATALOGUE.get(item["code"], "")
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        if names & PERSONAL_PARAMS:
            item = {**item, "message": template.format_map(_Masked())}
        kept.append(item)
    return kept


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
