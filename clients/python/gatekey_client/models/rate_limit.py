from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="RateLimit")


@_attrs_define
class RateLimit:
    """Requests allowed per window for one credential (Kong `rate-limiting`, counted where the
    service configuration's `kong.rate_limiting.policy` says).

        Attributes:
            second (int | None | Unset):
            minute (int | None | Unset):
            hour (int | None | Unset):
            day (int | None | Unset):
    """

    second: int | None | Unset = UNSET
    minute: int | None | Unset = UNSET
    hour: int | None | Unset = UNSET
    day: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        second: int | None | Unset
        if isinstance(self.second, Unset):
            second = UNSET
        else:
            second = self.second

        minute: int | None | Unset
        if isinstance(self.minute, Unset):
            minute = UNSET
        else:
            minute = self.minute

        hour: int | None | Unset
        if isinstance(self.hour, Unset):
            hour = UNSET
        else:
            hour = self.hour

        day: int | None | Unset
        if isinstance(self.day, Unset):
            day = UNSET
        else:
            day = self.day

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if second is not UNSET:
            field_dict["second"] = second
        if minute is not UNSET:
            field_dict["minute"] = minute
        if hour is not UNSET:
            field_dict["hour"] = hour
        if day is not UNSET:
            field_dict["day"] = day

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_second(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        second = _parse_second(d.pop("second", UNSET))

        def _parse_minute(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        minute = _parse_minute(d.pop("minute", UNSET))

        def _parse_hour(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        hour = _parse_hour(d.pop("hour", UNSET))

        def _parse_day(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        day = _parse_day(d.pop("day", UNSET))

        rate_limit = cls(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
        )

        return rate_limit
