from enum import StrEnum


class TimelineEventType1Kind(StrEnum):
    CALL = "call"

    def __str__(self) -> str:
        return str(self.value)
