from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.audit_action import AuditAction
from ..models.decision import Decision
from ..types import UNSET, Unset

T = TypeVar("T", bound="AuditEvent")


@_attrs_define
class AuditEvent:
    """One decision or lifecycle step. Never holds a key or a token.

    Attributes:
        id (str): The id of an audit event: a ULID, so events sort by the time they were created. Example:
            01JC2M4ZK7Q6V4D8W3X5Y9T0AB.
        at (datetime.datetime): When it happened.
        action (AuditAction): What was attempted or what happened.
        decision (Decision): What Gatekey decided.
        reason (str): Machine-readable reason, e.g. `granted`, `scope_not_allowed`, `ttl_above_max`.
        scopes (list[str]): Scopes asked for or granted.
        detail (None | str | Unset): Human-readable detail.
        subject (None | str | Unset): The caller's subject, when the caller was identified.
        issuer (None | str | Unset):
        api_id (None | str | Unset):
        issuance_id (None | str | Unset):
        request_id (None | str | Unset):
        client_addr (None | str | Unset):
        count (int | Unset): How many decisions the event stands for: 1; for a summary of denials beyond the audit
            budget of a time window (`at` is the window's start), how many it counts; for a
            `bulk_revoke` event, how many credentials the job revoked (0 when it revoked none). Default: 1.
        job_id (None | str | Unset): The bulk revocation job the event belongs to: its `bulk_revoke` event and the
            `revoke`
            event of each credential it revoked.
        owner_issuer (None | str | Unset): Whose credential the event concerns when the caller acted on someone else's
            (a revoked
            credential's owner, the identity a bulk revocation named), so that "who revoked jane's
            keys, and why?" is one query on `owner_subject`.
        owner_subject (None | str | Unset):
        policy_revision (None | str | Unset): The digest (`sha256:…`) of the policy in force: the one that made the
            decision, for a
            mint the one that granted or refused it. `None` in events written before policies had
            revisions. For a `policy_load` event, the revision loaded.
    """

    id: str
    at: datetime.datetime
    action: AuditAction
    decision: Decision
    reason: str
    scopes: list[str]
    detail: None | str | Unset = UNSET
    subject: None | str | Unset = UNSET
    issuer: None | str | Unset = UNSET
    api_id: None | str | Unset = UNSET
    issuance_id: None | str | Unset = UNSET
    request_id: None | str | Unset = UNSET
    client_addr: None | str | Unset = UNSET
    count: int | Unset = 1
    job_id: None | str | Unset = UNSET
    owner_issuer: None | str | Unset = UNSET
    owner_subject: None | str | Unset = UNSET
    policy_revision: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        at = self.at.isoformat()

        action = self.action.value

        decision = self.decision.value

        reason = self.reason

        scopes = self.scopes

        detail: None | str | Unset
        if isinstance(self.detail, Unset):
            detail = UNSET
        else:
            detail = self.detail

        subject: None | str | Unset
        if isinstance(self.subject, Unset):
            subject = UNSET
        else:
            subject = self.subject

        issuer: None | str | Unset
        if isinstance(self.issuer, Unset):
            issuer = UNSET
        else:
            issuer = self.issuer

        api_id: None | str | Unset
        if isinstance(self.api_id, Unset):
            api_id = UNSET
        else:
            api_id = self.api_id

        issuance_id: None | str | Unset
        if isinstance(self.issuance_id, Unset):
            issuance_id = UNSET
        else:
            issuance_id = self.issuance_id

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id

        client_addr: None | str | Unset
        if isinstance(self.client_addr, Unset):
            client_addr = UNSET
        else:
            client_addr = self.client_addr

        count = self.count

        job_id: None | str | Unset
        if isinstance(self.job_id, Unset):
            job_id = UNSET
        else:
            job_id = self.job_id

        owner_issuer: None | str | Unset
        if isinstance(self.owner_issuer, Unset):
            owner_issuer = UNSET
        else:
            owner_issuer = self.owner_issuer

        owner_subject: None | str | Unset
        if isinstance(self.owner_subject, Unset):
            owner_subject = UNSET
        else:
            owner_subject = self.owner_subject

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
                "at": at,
                "action": action,
                "decision": decision,
                "reason": reason,
                "scopes": scopes,
            }
        )
        if detail is not UNSET:
            field_dict["detail"] = detail
        if subject is not UNSET:
            field_dict["subject"] = subject
        if issuer is not UNSET:
            field_dict["issuer"] = issuer
        if api_id is not UNSET:
            field_dict["api_id"] = api_id
        if issuance_id is not UNSET:
            field_dict["issuance_id"] = issuance_id
        if request_id is not UNSET:
            field_dict["request_id"] = request_id
        if client_addr is not UNSET:
            field_dict["client_addr"] = client_addr
        if count is not UNSET:
            field_dict["count"] = count
        if job_id is not UNSET:
            field_dict["job_id"] = job_id
        if owner_issuer is not UNSET:
            field_dict["owner_issuer"] = owner_issuer
        if owner_subject is not UNSET:
            field_dict["owner_subject"] = owner_subject
        if policy_revision is not UNSET:
            field_dict["policy_revision"] = policy_revision

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        id = d.pop("id")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        action = AuditAction(d.pop("action"))

        decision = Decision(d.pop("decision"))

        reason = d.pop("reason")

        scopes = cast(list[str], d.pop("scopes"))

        def _parse_detail(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        detail = _parse_detail(d.pop("detail", UNSET))

        def _parse_subject(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        subject = _parse_subject(d.pop("subject", UNSET))

        def _parse_issuer(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        issuer = _parse_issuer(d.pop("issuer", UNSET))

        def _parse_api_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        api_id = _parse_api_id(d.pop("api_id", UNSET))

        def _parse_issuance_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        issuance_id = _parse_issuance_id(d.pop("issuance_id", UNSET))

        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))

        def _parse_client_addr(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        client_addr = _parse_client_addr(d.pop("client_addr", UNSET))

        count = d.pop("count", UNSET)

        def _parse_job_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        job_id = _parse_job_id(d.pop("job_id", UNSET))

        def _parse_owner_issuer(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        owner_issuer = _parse_owner_issuer(d.pop("owner_issuer", UNSET))

        def _parse_owner_subject(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        owner_subject = _parse_owner_subject(d.pop("owner_subject", UNSET))

        def _parse_policy_revision(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        policy_revision = _parse_policy_revision(d.pop("policy_revision", UNSET))

        audit_event = cls(
            id=id,
            at=at,
            action=action,
            decision=decision,
            reason=reason,
            scopes=scopes,
            detail=detail,
            subject=subject,
            issuer=issuer,
            api_id=api_id,
            issuance_id=issuance_id,
            request_id=request_id,
            client_addr=client_addr,
            count=count,
            job_id=job_id,
            owner_issuer=owner_issuer,
            owner_subject=owner_subject,
            policy_revision=policy_revision,
        )

        audit_event.additional_properties = d
        return audit_event

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
