from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="MintCredentialRequest")


@_attrs_define
class MintCredentialRequest:
    """What the caller asks for.

    Example:
        {'scopes': ['read'], 'ttl_seconds': 600, 'purpose': 'try the orders API'}

    Attributes:
        scopes (list[str]): Scopes to grant; each must be a scope of the API (else 422 `unknown_scope`) open to one
            of the caller's groups (else 403 `scope_not_allowed`). Example: ['read'].
        ttl_seconds (int | None | Unset): Lifetime in seconds; the API's default when omitted. Beyond the API's
            `min_ttl_seconds`..`max_ttl_seconds` answers 422 `ttl_below_min` / `ttl_above_max`. Example: 600.
        purpose (None | str | Unset): Why the credential is needed (shown in listings and the audit trail). Example: try
            the orders API.
    """

    scopes: list[str]
    ttl_seconds: int | None | Unset = UNSET
    purpose: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        scopes = self.scopes

        ttl_seconds: int | None | Unset
        if isinstance(self.ttl_seconds, Unset):
            ttl_seconds = UNSET
        else:
            ttl_seconds = self.ttl_seconds

        purpose: None | str | Unset
        if isinstance(self.purpose, Unset):
            purpose = UNSET
        else:
            purpose = self.purpose

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "scopes": scopes,
            }
        )
        if ttl_seconds is not UNSET:
            field_dict["ttl_seconds"] = ttl_seconds
        if purpose is not UNSET:
            field_dict["purpose"] = purpose

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        scopes = cast(list[str], d.pop("scopes"))

        def _parse_ttl_seconds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        ttl_seconds = _parse_ttl_seconds(d.pop("ttl_seconds", UNSET))

        def _parse_purpose(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        purpose = _parse_purpose(d.pop("purpose", UNSET))

        mint_credential_request = cls(
            scopes=scopes,
            ttl_seconds=ttl_seconds,
            purpose=purpose,
        )

        return mint_credential_request
