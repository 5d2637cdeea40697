from enum import StrEnum


class AuditAction(StrEnum):
    AUTHENTICATE = "authenticate"
    BULK_REVOKE = "bulk_revoke"
    EXPIRE = "expire"
    LIST_CREDENTIALS = "list_credentials"
    MINT = "mint"
    POLICY_LOAD = "policy_load"
    READ_AUDIT = "read_audit"
    READ_CREDENTIAL = "read_credential"
    READ_POLICY = "read_policy"
    RECONCILE = "reconcile"
    REVOKE = "revoke"

    def __str__(self) -> str:
        return str(self.value)
