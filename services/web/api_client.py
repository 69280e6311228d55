"""The web UI's only way to the data: the public HTTP API (`/v1`), over httpx.

    ApiError                 the API answered with a problem document (4xx, 5xx)
    └── ApiUnavailable       the API could not be reached or timed out (no answer)

Every call carries the browser's session key, the browser's address (`X-Forwarded-For`,
so the API's per-address limits count people, not the web server; the API believes it
only from `PRICEALERT_TRUSTED_PROXIES`) and the request id (one id across both logs).
"""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

import httpx


class ApiError(Exception):
    """A problem document from the API (RFC 9457), or a stand-in for one."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status}: {problem.get('detail')}")
        self.status = status
        self.problem = problem

    @property
    def code(self) -> str:
        return str(self.problem.get("code", ""))

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "")

    def field_errors(self) -> dict[str, str]:
        """Invalid input per body field: `{"threshold": "JPY has no minor unit: ..."}`."""
        errors: dict[str, str] = {}
        for error in self.problem.get("errors") or []:
            if isinstance(error, dict) and error.get("name"):
                errors.setdefault(str(error["name"]), str(error.get("reason", "")))
        if not errors and self.problem.get("field"):
            errors[str(self.problem["field"])] = self.detail
        return errors


class ApiUnavailable(ApiError):
    """No answer from the API."""


class RequestOptions(TypedDict, total=False):
    """What a request may carry besides its method and path (see `ApiClient.raw`)."""

    key: str | None
    body: Any
    params: dict[str, Any] | None
    client_address: str | None
    request_id: str | None
    accept_language: str | None


class ApiClient:
    def __init__(
        self, base_url: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": "pricealert-web"},
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Any:
        """One API request; the JSON answer (None for 204), or `ApiError`."""
        response = await self.raw(method, path, **options)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def raw(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        body: Any = None,
        params: dict[str, Any] | None = None,
        client_address: str | None = None,
        request_id: str | None = None,
        accept_language: str | None = None,
    ) -> httpx.Response:
        """One API request, the response itself when it succeeded (the chart's SVG)."""
        headers: dict[str, str] = {}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if client_address:
            headers["X-Forwarded-For"] = client_address
        if request_id:
            headers["X-Request-ID"] = request_id
        if accept_language:
            headers["Accept-Language"] = accept_language
        try:
            response = await self.http.request(
                method, path, json=body, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ApiUnavailable(
                503,
                {"code": "api_unavailable", "detail": f"{type(exc).__name__}", "status": 503},
            ) from exc
        if response.is_success:
            return response
        try:
            problem = response.json()
            if not isinstance(problem, dict):
                raise ValueError("not an object")
        except ValueError:
            problem = {"code": "api_error", "detail": response.reason_phrase}
        if response.status_code == 429 and "Retry-After" in response.headers:
            problem.setdefault("retry_after", response.headers["Retry-After"])
        raise ApiError(response.status_code, problem)
