from enum import StrEnum


class TimelineEventType0Kind(StrEnum):
    AUDIT = "audit"

    def __str__(self) -> str:
        return str(self.value)
