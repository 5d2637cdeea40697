from enum import StrEnum


class FailureCode(StrEnum):
    ABANDONED = "abandoned"
    CLIENT_GONE = "client_gone"
    INTERNAL = "internal"
    KONG_REFUSED = "kong_refused"
    KONG_UNAVAILABLE = "kong_unavailable"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    TIMEOUT = "timeout"
    UNSPECIFIED = "unspecified"

    def __str__(self) -> str:
        return str(self.value)
