"""API payloads: query arguments, request bodies and documented responses."""

from __future__ import annotations

from marshmallow import Schema, fields

from mdph_bridge.domain.reception import FAILURES
from mdph_bridge.domain.states import State
from schemas.base import WireSchema, between, length, matches, one_of

RETURN_REASONS = (
    "domicile_secours_non_acquis",
    "hors_competence",
    "dossier_incomplet",
    "doublon",
    "autre",
)


class OutboundQuerySchema(WireSchema):
    """Filters and pagination of the outbound list."""

    etat = fields.String(validate=one_of(s.value for s in State))
    page = fields.Integer(load_default=1, validate=between(1, 1_000_000))
    par_page = fields.Integer(load_default=50, validate=between(1, 200))


class InboundQuerySchema(WireSchema):
    """Polling position and page size of the inbound feed."""

    cursor = fields.String(load_default=None, validate=length(0, 100))
    limit = fields.Integer(load_default=100, validate=between(1, 500))


UUID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class RecuSchema(WireSchema):
    """What the receiving MDPH signs; kept as sent, so the signature can be checked again later."""

    transfert = fields.String(required=True, validate=matches(UUID_PATTERN, "recu.transfert"))
    sha256_manifeste = fields.String(
        required=True, validate=matches(r"[0-9a-f]{64}", "recu.manifeste")
    )
    date = fields.String(required=True, validate=length(1, 40))


class ReceiptSchema(WireSchema):
    """A receipt signed with the receiving département's registered Ed25519 key."""

    recu = fields.Nested(RecuSchema, required=True)
    cle = fields.String(required=True, validate=length(1, 64))
    signature = fields.String(required=True, validate=length(1, 200))


class SignedReceiptSchema(ReceiptSchema):
    """A receipt as the sender fetches it, with the public key to verify it offline."""

    algorithme = fields.String()
    cle_publique = fields.String()


class SignedManifestSchema(Schema):
    """The manifest of a transfer's packages and the hub's signature of it."""

    manifeste = fields.Dict()
    signature = fields.Dict()


class CompletionSchema(WireSchema):
    """Integration of the file by the receiving MDPH."""

    numero_dossier_destination = fields.String(required=True, validate=length(1, 40))


class ReturnSchema(WireSchema):
    """Refusal of a transfer by the receiving MDPH, with its reason."""

    motif = fields.String(required=True, validate=one_of(RETURN_REASONS))
    commentaire = fields.String(load_default="", validate=length(0, 1000))


class ReceptionFailureSchema(WireSchema):
    """Why the receiving client could not receive a transfer: one code of a fixed list."""

    code = fields.String(required=True, validate=one_of(FAILURES))


class ErreurSchema(Schema):
    """One problem: where, stable code, French message."""

    chemin = fields.String()
    code = fields.String()
    message = fields.String()


class ErreursSchema(Schema):
    """Every error response: the list of problems."""

    erreurs = fields.List(fields.Nested(ErreurSchema))


class EvenementSchema(Schema):
    """One step of the timeline."""

    date = fields.DateTime()
    de = fields.String(allow_none=True)
    vers = fields.String()
    acteur = fields.String()
    detail = fields.Dict(allow_none=True)


class PaquetSchema(Schema):
    """An encrypted package: size, SHA-256 of the ciphertext, key ids it is encrypted to."""

    taille = fields.Integer()
    sha256 = fields.String()
    cles = fields.List(fields.String())
    lien = fields.String()


class AlerteSchema(Schema):
    """Something the receiving MDPH must do, and by when (stable `code`; details in the report)."""

    code = fields.String()
    chemin = fields.String()
    date_limite = fields.String(metadata={"format": "date"})
    libelle = fields.String()


class HarmonisationSchema(Schema):
    """Summary of the rights mapping (the full report travels in the encrypted package)."""

    version_rapport = fields.Integer()
    versions_regles = fields.List(fields.String())
    resultats = fields.Dict(keys=fields.String(), values=fields.Integer())
    bascule_payeur = fields.String(allow_none=True, metadata={"format": "date"})
    alertes = fields.List(fields.Nested(AlerteSchema))


class EtapesSchema(Schema):
    """Days spent in each step of the clock (null: step not reached)."""

    soumis_pret = fields.Float(allow_none=True)
    pret_telecharge = fields.Float(allow_none=True)
    telecharge_accuse = fields.Float(allow_none=True)
    accuse_termine = fields.Float(allow_none=True)
    attente_expediteur = fields.Float(allow_none=True)


class HorlogeSchema(Schema):
    """The fifteen-day clock of a transfer: age, pauses shown apart, who must act."""

    niveau = fields.String()
    niveau_libelle = fields.String()
    age_jours = fields.Float()
    attente_expediteur_jours = fields.Float()
    renvoye_jours = fields.Float()
    cote_a_agir = fields.String(allow_none=True)
    arrete_le = fields.DateTime(allow_none=True)
    etapes = fields.Nested(EtapesSchema)


class TransferSchema(Schema):
    """A transfer's metadata; never any personal data."""

    id = fields.UUID()
    etat = fields.String()
    etat_libelle = fields.String()
    mdph_origine = fields.String()
    mdph_destination = fields.String()
    numero_dossier_origine = fields.String()
    motif = fields.String()
    soumis_le = fields.DateTime()
    echeance = fields.DateTime()
    a_risque_le = fields.DateTime()
    niveau = fields.String()
    pret_le = fields.DateTime(allow_none=True)
    numero_dossier_destination = fields.String(allow_none=True)
    motif_retour = fields.Dict(allow_none=True)
    avertissements = fields.List(fields.Nested(ErreurSchema))
    harmonisation = fields.Nested(HarmonisationSchema, allow_none=True)
    lien = fields.String()


class TransferDetailSchema(TransferSchema):
    """A transfer with its timeline, clock, problems to fix and packages."""

    horloge = fields.Nested(HorlogeSchema)
    evenements = fields.List(fields.Nested(EvenementSchema))
    erreurs = fields.List(fields.Nested(ErreurSchema))
    paquet = fields.Nested(PaquetSchema, allow_none=True)
    paquet_medical = fields.Nested(PaquetSchema, allow_none=True)


class InboundTransferSchema(TransferSchema):
    """A transfer as its receiver sees it: metadata and packages."""

    horloge = fields.Nested(HorlogeSchema)
    paquet = fields.Nested(PaquetSchema, allow_none=True)
    paquet_medical = fields.Nested(PaquetSchema, allow_none=True)


class EtapeSuivieSchema(Schema):
    """One step of the timeline as a supervisor sees it (codes only in its detail)."""

    date = fields.DateTime()
    de = fields.String(allow_none=True)
    vers = fields.String()
    acteur = fields.String()
    detail = fields.Dict(allow_none=True)


class SupervisedTransferSchema(Schema):
    """A transfer as a supervisor sees it: codes, dates, clock and timeline, no file number."""

    id = fields.UUID()
    mdph_origine = fields.String()
    mdph_destination = fields.String()
    etat = fields.String()
    etat_libelle = fields.String()
    soumis_le = fields.DateTime()
    a_risque_le = fields.DateTime()
    echeance = fields.DateTime()
    horloge = fields.Nested(HorlogeSchema)
    evenements = fields.List(fields.Nested(EtapeSuivieSchema))


class OutboundPageSchema(Schema):
    """A page of outbound transfers."""

    transferts = fields.List(fields.Nested(TransferSchema))
    total = fields.Integer()
    page = fields.Integer()
    par_page = fields.Integer()


class InboundPageSchema(Schema):
    """Inbound transfers after the given cursor, and the cursor to poll from next."""

    transferts = fields.List(fields.Nested(InboundTransferSchema))
    cursor = fields.String()


class HubKeySchema(Schema):
    """One of the hub's public Ed25519 keys that sign manifests."""

    id = fields.String(required=True)
    algorithme = fields.String(required=True)
    cle_publique = fields.String(required=True)


class HubKeysSchema(Schema):
    """The hub's public signing keys; pin them out of band."""

    cles = fields.List(fields.Nested(HubKeySchema), required=True)
