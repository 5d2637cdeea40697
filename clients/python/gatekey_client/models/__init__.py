"""Contains all the data models used in inputs/outputs"""

from .api_list import ApiList
from .api_policy import ApiPolicy
from .api_summary import ApiSummary
from .audit_action import AuditAction
from .audit_event import AuditEvent
from .audit_page import AuditPage
from .catalog_details import CatalogDetails
from .catalog_details_skipped_by_reason import CatalogDetailsSkippedByReason
from .check_state import CheckState
from .credential import Credential
from .credential_failure import CredentialFailure
from .credential_page import CredentialPage
from .decision import Decision
from .dependency_check import DependencyCheck
from .effective_state import EffectiveState
from .failure_code import FailureCode
from .health import Health
from .identity import Identity
from .mint_credential_request import MintCredentialRequest
from .minted_credential import MintedCredential
from .policy_document import PolicyDocument
from .policy_view import PolicyView
from .problem import Problem
from .rate_limit import RateLimit
from .readiness import Readiness
from .readiness_status import ReadinessStatus
from .refused_file import RefusedFile
from .scope_policy import ScopePolicy
from .scope_summary import ScopeSummary
from .skipped_entity import SkippedEntity
from .unavailable_scope import UnavailableScope

__all__ = (
    "ApiList",
    "ApiPolicy",
    "ApiSummary",
    "AuditAction",
    "AuditEvent",
    "AuditPage",
    "CatalogDetails",
    "CatalogDetailsSkippedByReason",
    "CheckState",
    "Credential",
    "CredentialFailure",
    "CredentialPage",
    "Decision",
    "DependencyCheck",
    "EffectiveState",
    "FailureCode",
    "Health",
    "Identity",
    "MintCredentialRequest",
    "MintedCredential",
    "PolicyDocument",
    "PolicyView",
    "Problem",
    "RateLimit",
    "Readiness",
    "ReadinessStatus",
    "RefusedFile",
    "ScopePolicy",
    "ScopeSummary",
    "SkippedEntity",
    "UnavailableScope",
)
