"""SQLAlchemy models; importing this package registers every table on `Base.metadata`."""

from mdph_bridge.models.account import Account, AccountDepartement
from mdph_bridge.models.alert import TransferAlert
from mdph_bridge.models.audit import AuditChain, AuditCheckpoint, AuditEntry, AuditPending
from mdph_bridge.models.base import Base, utcnow
from mdph_bridge.models.counter import LimitCounter
from mdph_bridge.models.departement import Departement, DepartementKey
from mdph_bridge.models.draft import Draft
from mdph_bridge.models.history import HistoricalTransfer
from mdph_bridge.models.rollup import ContinuityRollup, MetricRollup, RollupVersion
from mdph_bridge.models.token import ApiToken
from mdph_bridge.models.transfer import Transfer, TransferDocument, TransferEvent

__all__ = [
    "Account",
    "AccountDepartement",
    "ApiToken",
    "AuditChain",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditPending",
    "Base",
    "ContinuityRollup",
    "Departement",
    "DepartementKey",
    "Draft",
    "HistoricalTransfer",
    "LimitCounter",
    "MetricRollup",
    "RollupVersion",
    "Transfer",
    "TransferAlert",
    "TransferDocument",
    "TransferEvent",
    "utcnow",
]
