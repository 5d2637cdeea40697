from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.job_state import JobState
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.operator import Operator
    from ..models.revocation_failure import RevocationFailure
    from ..models.revocation_filter import RevocationFilter


T = TypeVar("T", bound="RevocationJobStatus")


@_attrs_define
class RevocationJobStatus:
    """A bulk revocation job and where it stands.

    Attributes:
        id (str):  Example: 01JC2M4ZK7Q6V4D8W3X5Y9T0AB.
        state (JobState): Where a job stands.
        filter_ (RevocationFilter): Which credentials a job revokes: the `active` records matching every field that is
            set. A
            caller is (issuer, subject): a subject alone matches that string at every issuer.
        reason (str):
        operator (Operator): Who started a job.
        created_at (datetime.datetime):
        revoked (int): Credentials revoked by this job.
        failed (int): Credentials the job could not revoke after its retries.
        remaining (int): Matching credentials not handled yet (0 once `done`).
        failures (list[RevocationFailure]): The first 100 failures, with their reasons.
        ended_at (datetime.datetime | None | Unset):
    """

    id: str
    state: JobState
    filter_: RevocationFilter
    reason: str
    operator: Operator
    created_at: datetime.datetime
    revoked: int
    failed: int
    remaining: int
    failures: list[RevocationFailure]
    ended_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        state = self.state.value

        filter_ = self.filter_.to_dict()

        reason = self.reason

        operator = self.operator.to_dict()

        created_at = self.created_at.isoformat()

        revoked = self.revoked

        failed = self.failed

        remaining = self.remaining

        failures = []
        for failures_item_data in self.failures:
            failures_item = failures_item_data.to_dict()
            failures.append(failures_item)

        ended_at: None | str | Unset
        if isinstance(self.ended_at, Unset):
            ended_at = UNSET
        elif isinstance(self.ended_at, datetime.datetime):
            ended_at = self.ended_at.isoformat()
        else:
            ended_at = self.ended_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "state": state,
                "filter": filter_,
                "reason": reason,
                "operator": operator,
                "created_at": created_at,
                "revoked": revoked,
                "failed": failed,
                "remaining": remaining,
                "failures": failures,
            }
        )
        if ended_at is not UNSET:
            field_dict["ended_at"] = ended_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.operator import Operator
        from ..models.revocation_failure import RevocationFailure
        from ..models.revocation_filter import RevocationFilter

        d = dict(src_dict)
        id = d.pop("id")

        state = JobState(d.pop("state"))

        filter_ = RevocationFilter.from_dict(d.pop("filter"))

        reason = d.pop("reason")

        operator = Operator.from_dict(d.pop("operator"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        revoked = d.pop("revoked")

        failed = d.pop("failed")

        remaining = d.pop("remaining")

        failures = []
        _failures = d.pop("failures")
        for failures_item_data in _failures:
            failures_item = RevocationFailure.from_dict(failures_item_data)

            failures.append(failures_item)

        def _parse_ended_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                ended_at_type_0 = datetime.datetime.fromisoformat(data)

                return ended_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        ended_at = _parse_ended_at(d.pop("ended_at", UNSET))

        revocation_job_status = cls(
            id=id,
            state=state,
            filter_=filter_,
            reason=reason,
            operator=operator,
            created_at=created_at,
            revoked=revoked,
            failed=failed,
            remaining=remaining,
            failures=failures,
            ended_at=ended_at,
        )

        revocation_job_status.additional_properties = d
        return revocation_job_status

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
