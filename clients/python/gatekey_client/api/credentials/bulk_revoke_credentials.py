from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.bulk_revoke_preview import BulkRevokePreview
from ...models.bulk_revoke_request import BulkRevokeRequest
from ...models.problem import Problem
from ...models.revocation_job_status import RevocationJobStatus
from ...types import Response


def _get_kwargs(
    *,
    body: BulkRevokeRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/credentials/revocations",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> BulkRevokePreview | RevocationJobStatus | Problem | None:
    if response.status_code == 200:

        def _parse_response_200(
            data: object,
        ) -> BulkRevokePreview | RevocationJobStatus:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_bulk_revoke_answer_type_0 = (
                    BulkRevokePreview.from_dict(data)
                )

                return componentsschemas_bulk_revoke_answer_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_bulk_revoke_answer_type_1 = RevocationJobStatus.from_dict(
                data
            )

            return componentsschemas_bulk_revoke_answer_type_1

        response_200 = _parse_response_200(response.json())

        return response_200

    if response.status_code == 202:

        def _parse_response_202(
            data: object,
        ) -> BulkRevokePreview | RevocationJobStatus:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_bulk_revoke_answer_type_0 = (
                    BulkRevokePreview.from_dict(data)
                )

                return componentsschemas_bulk_revoke_answer_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_bulk_revoke_answer_type_1 = RevocationJobStatus.from_dict(
                data
            )

            return componentsschemas_bulk_revoke_answer_type_1

        response_202 = _parse_response_202(response.json())

        return response_202

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[BulkRevokePreview | RevocationJobStatus | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: BulkRevokeRequest,
) -> Response[BulkRevokePreview | RevocationJobStatus | Problem]:
    """Revoke every credential matching a filter (admins), as one audited job.

     A real run records the job before anything is revoked and answers 202 at once; any replica
    then works through the matching `active` credentials with bounded parallelism against Kong
    and resumes the job if the one running it dies. Credentials minted for the filter while the
    job runs are revoked too; the job ends when none is left. Each revoked credential gets a
    `revoke` audit event with the job's `job_id`, the job a `bulk_revoke` event with the
    operator, filter, reason and totals when it ends.

    Args:
        body (BulkRevokeRequest): What to revoke, and why. Example: {'filter': {'issuer':
            'https://idp.example.com', 'subject': 'user:default/jane'}, 'reason': 'laptop stolen,
            INC-4711'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BulkRevokePreview | RevocationJobStatus | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: BulkRevokeRequest,
) -> BulkRevokePreview | RevocationJobStatus | Problem | None:
    """Revoke every credential matching a filter (admins), as one audited job.

     A real run records the job before anything is revoked and answers 202 at once; any replica
    then works through the matching `active` credentials with bounded parallelism against Kong
    and resumes the job if the one running it dies. Credentials minted for the filter while the
    job runs are revoked too; the job ends when none is left. Each revoked credential gets a
    `revoke` audit event with the job's `job_id`, the job a `bulk_revoke` event with the
    operator, filter, reason and totals when it ends.

    Args:
        body (BulkRevokeRequest): What to revoke, and why. Example: {'filter': {'issuer':
            'https://idp.example.com', 'subject': 'user:default/jane'}, 'reason': 'laptop stolen,
            INC-4711'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BulkRevokePreview | RevocationJobStatus | Problem
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: BulkRevokeRequest,
) -> Response[BulkRevokePreview | RevocationJobStatus | Problem]:
    """Revoke every credential matching a filter (admins), as one audited job.

     A real run records the job before anything is revoked and answers 202 at once; any replica
    then works through the matching `active` credentials with bounded parallelism against Kong
    and resumes the job if the one running it dies. Credentials minted for the filter while the
    job runs are revoked too; the job ends when none is left. Each revoked credential gets a
    `revoke` audit event with the job's `job_id`, the job a `bulk_revoke` event with the
    operator, filter, reason and totals when it ends.

    Args:
        body (BulkRevokeRequest): What to revoke, and why. Example: {'filter': {'issuer':
            'https://idp.example.com', 'subject': 'user:default/jane'}, 'reason': 'laptop stolen,
            INC-4711'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BulkRevokePreview | RevocationJobStatus | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: BulkRevokeRequest,
) -> BulkRevokePreview | RevocationJobStatus | Problem | None:
    """Revoke every credential matching a filter (admins), as one audited job.

     A real run records the job before anything is revoked and answers 202 at once; any replica
    then works through the matching `active` credentials with bounded parallelism against Kong
    and resumes the job if the one running it dies. Credentials minted for the filter while the
    job runs are revoked too; the job ends when none is left. Each revoked credential gets a
    `revoke` audit event with the job's `job_id`, the job a `bulk_revoke` event with the
    operator, filter, reason and totals when it ends.

    Args:
        body (BulkRevokeRequest): What to revoke, and why. Example: {'filter': {'issuer':
            'https://idp.example.com', 'subject': 'user:default/jane'}, 'reason': 'laptop stolen,
            INC-4711'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BulkRevokePreview | RevocationJobStatus | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
