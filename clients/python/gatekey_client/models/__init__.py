"""Contains all the data models used in inputs/outputs"""

from .api_list import ApiList
from .api_summary import ApiSummary
from .audit_action import AuditAction
from .audit_event import AuditEvent
from .audit_page import AuditPage
from .catalog_details import CatalogDetails
from .credential import Credential
from .credential_page import CredentialPage
from .decision import Decision
from .dependency_check import DependencyCheck
from .effective_state import EffectiveState
from .health import Health
from .identity import Identity
from .mint_credential_request import MintCredentialRequest
from .minted_credential import MintedCredential
from .problem import Problem
from .rate_limit import RateLimit
from .readiness import Readiness
from .scope_summary import ScopeSummary

__all__ = (
    "ApiList",
    "ApiSummary",
    "AuditAction",
    "AuditEvent",
    "AuditPage",
    "CatalogDetails",
    "Credential",
    "CredentialPage",
    "Decision",
    "DependencyCheck",
    "EffectiveState",
    "Health",
    "Identity",
    "MintCredentialRequest",
    "MintedCredential",
    "Problem",
    "RateLimit",
    "Readiness",
    "ScopeSummary",
)
