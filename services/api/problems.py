"""Errors as ``application/problem+json`` (RFC 9457): one exception, its handlers, its OpenAPI shape.

A route raises :class:`Problem`; FastAPI's own errors (a parameter of the wrong type, an unknown
path) are turned into the same shape, naming the parameter for a 422.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

MEDIA_TYPE = "application/problem+json"


class ProblemBody(BaseModel):
    """An RFC 9457 problem: ``type`` (a URN naming the kind), ``title``, ``status``, ``detail``;
    ``parameter`` names the query or path parameter at fault (422)."""

    type: str = Field(examples=["urn:tgpipe:problem:not-archived"])
    title: str
    status: int
    detail: str
    parameter: str | None = None


class Problem(Exception):
    """An error answer: HTTP ``status``, a short ``kind`` (the type URN's last part), ``detail``."""

    def __init__(self, status: int, kind: str, detail: str, *, parameter: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail, self.parameter, self.headers = status, kind, detail, parameter, headers

    def response(self) -> JSONResponse:
        """The ``application/problem+json`` response."""
        body = ProblemBody(type=f"urn:tgpipe:problem:{self.kind}", title=self.kind.replace("-", " "),
                           status=self.status, detail=self.detail, parameter=self.parameter)
        return JSONResponse(body.model_dump(exclude_none=True), status_code=self.status, media_type=MEDIA_TYPE,
                            headers=self.headers)


def bad_parameter(parameter: str, detail: str) -> Problem:
    """A 422 problem naming ``parameter``."""
    return Problem(422, "invalid-parameter", f"{parameter}: {detail}", parameter=parameter)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem answers with these statuses."""
    return {status: {"model": ProblemBody, "content": {MEDIA_TYPE: {}}, "description": "a problem (RFC 9457)"}
            for status in statuses}


def as_problem(exc: Exception) -> Problem:
    """The problem an error of a request is: a :class:`Problem` itself, a validation error (422 naming
    the first parameter at fault), a Starlette HTTP error (its status)."""
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0]
        location = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "header", "body")]
        name = location[0] if location else "request"
        return bad_parameter(name, str(first.get("msg", "invalid")))
    if isinstance(exc, HTTPException):
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return Problem(exc.status_code, kind, str(exc.detail), headers=exc.headers)
    assert isinstance(exc, Problem)
    return exc


#: Renders a problem for a request another way (the web viewer's HTML pages), or ``None``: JSON.
Renderer = Callable[[Request, Problem], Response | None]


def install(app: FastAPI, renderer: Renderer | None = None) -> None:
    """Answer every error of ``app`` as a problem: as ``renderer`` renders it, else as JSON."""

    async def handle(request: Request, exc: Exception) -> Response:
        problem = as_problem(exc)
        return (renderer(request, problem) if renderer is not None else None) or problem.response()

    for kind in (Problem, RequestValidationError, HTTPException):
        app.add_exception_handler(kind, handle)
