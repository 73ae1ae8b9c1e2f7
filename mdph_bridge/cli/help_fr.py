"""The French help and value names of `mdph-bridge` (the docstrings say why, in English)."""

from __future__ import annotations

import click

# click names an option's value by its type, in English (--days INTEGER): the French names.
TYPE_METAVARS = {"text": "TEXTE", "integer": "ENTIER", "float": "NOMBRE", "filename": "FICHIER"}
# By command path under `mdph-bridge` ("" for the group itself); an option by "path --name".
HELP = {
    "": "mdph_bridge : transférer les dossiers MDPH d'un département à l'autre.",
    "accounts": "Gérer les comptes des agents des MDPH (les pages) ; les jetons sont pour les "
    "logiciels.",
    "accounts create": "Créer un compte ; sans --password-stdin, un mot de passe initial est "
    "généré et affiché.",
    "accounts password": "Changer le mot de passe (généré sauf --password-stdin) ; déverrouille "
    "le compte et ferme ses sessions.",
    "accounts disable": "Désactiver un compte tout de suite : plus de connexion, sessions fermées.",
    "accounts enable": "Réactiver un compte désactivé, ou déverrouiller un compte verrouillé.",
    "accounts list": "Lister les comptes : identifiant, rôle, départements, état.",
    "departements": "Gérer les départements raccordés à la plateforme.",
    "departements add": "Raccorder un département (code comme 59, 2A, 974).",
    "departements list": "Lister les départements raccordés.",
    "keys": "Gérer les clés publiques des départements.",
    "keys generate": "Créer une paire de clés sur la machine de la MDPH ; afficher la clé "
    "publique à enregistrer.",
    "keys register": "Enregistrer la clé publique d'un département (la clé privée ne quitte "
    "jamais la MDPH).",
    "keys register --valid-from": "Début de validité, UTC ; défaut : maintenant.",
    "keys register --valid-until": "Fin de validité, UTC ; défaut : aucune.",
    "keys list": "Lister les clés d'un département et leur validité.",
    "keys revoke": "Révoquer une clé : plus aucun paquet n'est chiffré pour elle.",
    "keys expiring": "Lister les clés dont la validité finit dans les --days jours : en "
    "enregistrer de nouvelles avant.",
    "staging": "Gérer les clés de scellement de la plateforme.",
    "staging reseal": "Resceller les contenus en attente et les brouillons avec la première clé, "
    "avant de retirer une ancienne.",
    "tokens": "Gérer les jetons d'API.",
    "tokens issue": "Émettre un jeton ; il est affiché une seule fois, seule son empreinte est "
    "gardée.",
    "tokens issue --label": "Qui ou quel logiciel utilise le jeton.",
    "tokens issue --days": "Validité en jours (MDPH_BRIDGE_TOKEN_VALID_DAYS).",
    "tokens list": "Lister les jetons d'un département : rôle, libellé, expiration, révocation, "
    "dernier usage.",
    "tokens revoke": "Révoquer un jeton tout de suite.",
    "transfers": "Agir sur les transferts.",
    "transfers retry": "Redonner des essais à un transfert en échec, une fois la cause réglée.",
    "audit": "Vérifier et exporter le journal d'audit (qui a lu ou modifié quoi, et quand).",
    "audit verify": "Vérifier la chaîne avec les points de contrôle signés ; nommer la première "
    "entrée absente ou modifiée.",
    "audit checkpoint": "Afficher le dernier point de contrôle signé, à garder hors de la "
    "plateforme (puis verify --checkpoint).",
    "audit export": "Exporter les entrées d'une période en CSV ou en lignes JSON (identifiants "
    "seuls, aucune donnée personnelle).",
    "audit purge": "Supprimer les entrées plus anciennes que la durée de conservation "
    "(MDPH_BRIDGE_AUDIT_RETENTION_DAYS).",
    "dossier": "Vérifier des fichiers de dossier (format v1) avant de les envoyer.",
    "dossier check": "Vérifier FICHIER avec les règles de la plateforme ; afficher chaque "
    "problème (code de sortie 1 s'il y en a).",
    "dossier schema": "Afficher le schéma JSON du format v1, tel que publié dans "
    "docs/dossier-v1.schema.json.",
    "error-codes": "Afficher la table des codes d'erreur stables (Markdown), telle que publiée "
    "dans docs/ERREURS.md.",
    "history": "Transferts d'avant la plateforme, pour comparer les délais avant et après.",
    "history import": "Importer FICHIER (CSV, colonnes dans le README) ; rien n'est importé si "
    "une ligne est fausse.",
    "client": "Outils de réception, sur la machine de la MDPH.",
    "client decrypt": "Déchiffrer un paquet téléchargé avec la clé privée de la MDPH et le "
    "décompresser dans OUT.",
    "inbound": "Recevoir les transferts du département, sur la machine de la MDPH.",
    "inbound pull": "Recevoir les transferts du département : le client mdph-reception (voir "
    "son --help).",
    "receipt": "Vérifier, hors ligne, ce que la MDPH d'accueil a accusé reçu.",
    "receipt verify": "Prouver hors ligne ce que la MDPH d'accueil a accusé reçu : les deux "
    "signatures, et leur lien.",
    "rules": "Vérifier, comparer et essayer les règles des départements "
    "(mdph_bridge/rules/*.toml).",
    "rules check": "Valider chaque fichier de règles ; lister les versions et valeurs de chaque "
    "département à confirmer.",
    "rules diff": "Montrer ce qui diffère entre les règles de deux départements en vigueur à une "
    "date.",
    "rules explain": "Appliquer localement la correspondance des droits à un dossier et afficher "
    "le rapport.",
    "init-env": "Écrire un .env (ignoré par git) avec de nouveaux secrets locaux s'il n'y en a "
    "pas.",
    "migrate": "Mettre le schéma de la base à la dernière version.",
    "worker": "Lancer un groupe de workers : small (petits transferts et nettoyages) ou large "
    "(gros transferts) ; les autres options vont à Celery.",
    "demo": "Créer les départements de démonstration 59 et 62 avec leurs clés ; afficher un "
    "jeton et un compte par rôle.",
    "demo --json": "Afficher le résultat en JSON.",
    "serve": "Lancer le web, les workers et le beat pour les services configurés (par défaut "
    "intégré : aucun serveur à installer).",
}


def french_help(command: click.Command, path: str = "") -> None:
    """Give each command and option its French help and value names, in place of click's English."""
    command.help = HELP.get(path, command.help)
    command.short_help = None  # click shortens the help above for the list of commands
    for param in command.params:
        if isinstance(param, click.Option):
            param.help = HELP.get(f"{path} {param.opts[0]}".strip(), param.help)
            param.metavar = param.metavar or TYPE_METAVARS.get(param.type.name)
    if isinstance(command, click.Group):
        command.subcommand_metavar = "COMMANDE [ARGUMENTS]..."
        for name, sub in command.commands.items():
            french_help(sub, f"{path} {name}".strip())
