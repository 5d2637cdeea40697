"""Contains all the data models used in inputs/outputs"""

from .api_list import ApiList
from .api_policy import ApiPolicy
from .api_summary import ApiSummary
from .audit_action import AuditAction
from .audit_event import AuditEvent
from .audit_page import AuditPage
from .bulk_revoke_preview import BulkRevokePreview
from .bulk_revoke_request import BulkRevokeRequest
from .catalog_details import CatalogDetails
from .catalog_details_skipped_by_reason import CatalogDetailsSkippedByReason
from .check_state import CheckState
from .credential import Credential
from .credential_failure import CredentialFailure
from .credential_page import CredentialPage
from .credential_timeline import CredentialTimeline
from .credential_usage import CredentialUsage
from .decision import Decision
from .dependency_check import DependencyCheck
from .effective_state import EffectiveState
from .failure_code import FailureCode
from .health import Health
from .identity import Identity
from .job_state import JobState
from .latencies import Latencies
from .mint_credential_request import MintCredentialRequest
from .minted_credential import MintedCredential
from .operator import Operator
from .policy_document import PolicyDocument
from .policy_view import PolicyView
from .problem import Problem
from .rate_limit import RateLimit
from .readiness import Readiness
from .readiness_status import ReadinessStatus
from .refused_file import RefusedFile
from .revocation_failure import RevocationFailure
from .revocation_filter import RevocationFilter
from .revocation_job_status import RevocationJobStatus
from .scope_policy import ScopePolicy
from .scope_summary import ScopeSummary
from .skipped_entity import SkippedEntity
from .timeline_event_type_0 import TimelineEventType0
from .timeline_event_type_0_kind import TimelineEventType0Kind
from .timeline_event_type_1 import TimelineEventType1
from .timeline_event_type_1_kind import TimelineEventType1Kind
from .unavailable_scope import UnavailableScope
from .usage_brief import UsageBrief
from .usage_call import UsageCall
from .usage_summary import UsageSummary

__all__ = (
    "ApiList",
    "ApiPolicy",
    "ApiSummary",
    "AuditAction",
    "AuditEvent",
    "AuditPage",
    "BulkRevokePreview",
    "BulkRevokeRequest",
    "CatalogDetails",
    "CatalogDetailsSkippedByReason",
    "CheckState",
    "Credential",
    "CredentialFailure",
    "CredentialPage",
    "CredentialTimeline",
    "CredentialUsage",
    "Decision",
    "DependencyCheck",
    "EffectiveState",
    "FailureCode",
    "Health",
    "Identity",
    "JobState",
    "Latencies",
    "MintCredentialRequest",
    "MintedCredential",
    "Operator",
    "PolicyDocument",
    "PolicyView",
    "Problem",
    "RateLimit",
    "Readiness",
    "ReadinessStatus",
    "RefusedFile",
    "RevocationFailure",
    "RevocationFilter",
    "RevocationJobStatus",
    "ScopePolicy",
    "ScopeSummary",
    "SkippedEntity",
    "TimelineEventType0",
    "TimelineEventType0Kind",
    "TimelineEventType1",
    "TimelineEventType1Kind",
    "UnavailableScope",
    "UsageBrief",
    "UsageCall",
    "UsageSummary",
)
