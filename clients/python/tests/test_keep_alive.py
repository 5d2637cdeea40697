"""Answers given before Gatekey reads a request body keep pooled connections usable: about 200
requests over one pooled session, alternating refusals of requests with bodies (401 without or
with a refused token, 404 for an unknown route, 405 for a method the route does not serve; bodies
small and at the body limit) with ordinary requests, see no connection error. A CI job retrying
with a refreshed token over its pool meets exactly this."""

import os
from collections.abc import Iterator

import httpx
import requests

GATEKEY_URL = os.environ["GATEKEY_URL"]
# `http.body_limit_bytes` of the stack scripts/clients.sh starts (the default).
BODY_LIMIT = 64 * 1024
MINT = "/v1/apis/orders/credentials"


def mint_body(size: int) -> bytes:
    """A JSON mint body padded with spaces to `size` bytes."""
    return b'{"scopes": ["read"]}'.ljust(size)


def rounds() -> Iterator[tuple[str, str, dict[str, str], bytes, int]]:
    """(method, path, headers, body, expected status) for 200 requests."""
    json = {"content-type": "application/json"}
    for number in range(200):
        body = mint_body(BODY_LIMIT if number % 3 == 0 else 64)
        yield [
            ("POST", MINT, json, body, 401),
            ("GET", "/healthz", {}, b"", 200),
            ("POST", MINT, {**json, "authorization": "Bearer refused"}, body, 401),
            ("POST", "/v1/nothing-here", json, body, 404),
            ("PUT", MINT, json, body, 405),
        ][number % 5]


def test_a_requests_session_sees_no_connection_error() -> None:
    errors = []
    with requests.Session() as session:
        for number, (method, path, headers, body, expected) in enumerate(rounds()):
            try:
                response = session.request(
                    method, f"{GATEKEY_URL}{path}", headers=headers, data=body, timeout=10
                )
            except requests.ConnectionError as error:
                errors.append(f"{number} {method} {path}: {error}")
                continue
            assert response.status_code == expected, (number, method, path, response.text)
    assert errors == []


def test_an_httpx_client_sees_no_connection_error() -> None:
    errors = []
    with httpx.Client(base_url=GATEKEY_URL, timeout=10) as client:
        for number, (method, path, headers, body, expected) in enumerate(rounds()):
            try:
                response = client.request(method, path, headers=headers, content=body)
            except httpx.TransportError as error:
                errors.append(f"{number} {method} {path}: {error!r}")
                continue
            assert response.status_code == expected, (number, method, path, response.text)
    assert errors == []
