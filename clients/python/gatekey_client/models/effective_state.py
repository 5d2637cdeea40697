from enum import StrEnum


class EffectiveState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    FAILED = "failed"
    PENDING = "pending"
    REVOKED = "revoked"

    def __str__(self) -> str:
        return str(self.value)
