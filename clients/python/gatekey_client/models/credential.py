from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.effective_state import EffectiveState
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.credential_failure import CredentialFailure
    from ..models.usage_brief import UsageBrief


T = TypeVar("T", bound="Credential")


@_attrs_define
class Credential:
    """A credential's record. The key itself is never stored and never shown again.

    Attributes:
        id (str):
        api_id (str):
        subject (str):
        issuer (str):
        scopes (list[str]):
        state (EffectiveState): The state shown to people: the stored state, except that an active credential past its
            expiry is reported as `expired` (Kong no longer accepts its key).
        ttl_seconds (int):
        issued_at (datetime.datetime):
        expires_at (datetime.datetime):
        usage (UsageBrief): A credential's use at a glance, for listings: how often, how often refused or failed, when
            last. The full counters and the latest calls are at `/v1/credentials/{id}/usage`.
        purpose (None | str | Unset):
        key_fingerprint (None | str | Unset): `sha256:<hex>` of the key, to match a key someone holds against its
            record.
        revoked_at (datetime.datetime | None | Unset):
        revoked_by (None | str | Unset):
        failure (CredentialFailure | None | Unset):
        policy_revision (None | str | Unset): The revision (`sha256:…`) of the policy that granted it (`GET /v1/policy`,
            and the
            `policy_load` audit events); absent on credentials minted before revisions existed.
    """

    id: str
    api_id: str
    subject: str
    issuer: str
    scopes: list[str]
    state: EffectiveState
    ttl_seconds: int
    issued_at: datetime.datetime
    expires_at: datetime.datetime
    usage: UsageBrief
    purpose: None | str | Unset = UNSET
    key_fingerprint: None | str | Unset = UNSET
    revoked_at: datetime.datetime | None | Unset = UNSET
    revoked_by: None | str | Unset = UNSET
    failure: CredentialFailure | None | Unset = UNSET
    policy_revision: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.credential_failure import CredentialFailure

        id = self.id

        api_id = self.api_id

        subject = self.subject

        issuer = self.issuer

        scopes = self.scopes

        state = self.state.value

        ttl_seconds = self.ttl_seconds

        issued_at = self.issued_at.isoformat()

        expires_at = self.expires_at.isoformat()

        usage = self.usage.to_dict()

        purpose: None | str | Unset
        if isinstance(self.purpose, Unset):
            purpose = UNSET
        else:
            purpose = self.purpose

        key_fingerprint: None | str | Unset
        if isinstance(self.key_fingerprint, Unset):
            key_fingerprint = UNSET
        else:
            key_fingerprint = self.key_fingerprint

        revoked_at: None | str | Unset
        if isinstance(self.revoked_at, Unset):
            revoked_at = UNSET
        elif isinstance(self.revoked_at, datetime.datetime):
            revoked_at = self.revoked_at.isoformat()
        else:
            revoked_at = self.revoked_at

        revoked_by: None | str | Unset
        if isinstance(self.revoked_by, Unset):
            revoked_by = UNSET
        else:
            revoked_by = self.revoked_by

        failure: dict[str, Any] | None | Unset
        if isinstance(self.failure, Unset):
            failure = UNSET
        elif isinstance(self.failure, CredentialFailure):
            failure = self.failure.to_dict()
        else:
            failure = self.failure

        policy_revision: None | str | Unset
        if isinstance(self.policy_revision, Unset):
            policy_revision = UNSET
        else:
            policy_revision = self.policy_revision

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "api_id": api_id,
                "subject": subject,
                "issuer": issuer,
                "scopes": scopes,
                "state": state,
                "ttl_seconds": ttl_seconds,
                "issued_at": issued_at,
                "expires_at": expires_at,
                "usage": usage,
            }
        )
        if purpose is not UNSET:
            field_dict["purpose"] = purpose
        if key_fingerprint is not UNSET:
            field_dict["key_fingerprint"] = key_fingerprint
        if revoked_at is not UNSET:
            field_dict["revoked_at"] = revoked_at
        if revoked_by is not UNSET:
            field_dict["revoked_by"] = revoked_by
        if failure is not UNSET:
            field_dict["failure"] = failure
        if policy_revision is not UNSET:
            field_dict["policy_revision"] = policy_revision

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.credential_failure import CredentialFailure
        from ..models.usage_brief import UsageBrief

        d = dict(src_dict)
        id = d.pop("id")

        api_id = d.pop("api_id")

        subject = d.pop("subject")

        issuer = d.pop("issuer")

        scopes = cast(list[str], d.pop("scopes"))

        state = EffectiveState(d.pop("state"))

        ttl_seconds = d.pop("ttl_seconds")

        issued_at = datetime.datetime.fromisoformat(d.pop("issued_at"))

        expires_at = datetime.datetime.fromisoformat(d.pop("expires_at"))

        usage = UsageBrief.from_dict(d.pop("usage"))

        def _parse_purpose(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        purpose = _parse_purpose(d.pop("purpose", UNSET))

        def _parse_key_fingerprint(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        key_fingerprint = _parse_key_fingerprint(d.pop("key_fingerprint", UNSET))

        def _parse_revoked_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                revoked_at_type_0 = datetime.datetime.fromisoformat(data)

                return revoked_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        revoked_at = _parse_revoked_at(d.pop("revoked_at", UNSET))

        def _parse_revoked_by(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        revoked_by = _parse_revoked_by(d.pop("revoked_by", UNSET))

        def _parse_failure(data: object) -> CredentialFailure | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                failure_type_1 = CredentialFailure.from_dict(data)

                return failure_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CredentialFailure | None | Unset, data)

        failure = _parse_failure(d.pop("failure", UNSET))

        def _parse_policy_revision(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        policy_revision = _parse_policy_revision(d.pop("policy_revision", UNSET))

        credential = cls(
            id=id,
            api_id=api_id,
            subject=subject,
            issuer=issuer,
            scopes=scopes,
            state=state,
            ttl_seconds=ttl_seconds,
            issued_at=issued_at,
            expires_at=expires_at,
            usage=usage,
            purpose=purpose,
            key_fingerprint=key_fingerprint,
            revoked_at=revoked_at,
            revoked_by=revoked_by,
            failure=failure,
            policy_revision=policy_revision,
        )

        credential.additional_properties = d
        return credential

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
