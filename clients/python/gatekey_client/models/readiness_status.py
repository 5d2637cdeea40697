from enum import StrEnum


class ReadinessStatus(StrEnum):
    DEGRADED = "degraded"
    NOT_READY = "not_ready"
    READY = "ready"

    def __str__(self) -> str:
        return str(self.value)
