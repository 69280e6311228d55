"""The pages a problem document's `type` points at: `GET /problems` and `/problems/{code}`.

Written from `problems.problem_types()`, so every error class has its page; HTML for
people (the default), Markdown for `Accept: text/markdown` (or `?format=markdown`).
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from pricealert.errors import NotFound
from services.api.problems import ProblemType, problem_types, type_uri

router = APIRouter(prefix="/problems", tags=["problems"])

_MEMBERS: tuple[tuple[str, str], ...] = (
    ("type", "This page's URL."),
    ("title", "A short summary of the kind of problem."),
    ("status", "The HTTP status code."),
    ("detail", "What went wrong with this request, for a person."),
    ("code", "The stable machine-readable name of the problem: branch on this."),
)
_INVALID_MEMBERS: tuple[tuple[str, str], ...] = (
    ("field", "The first invalid parameter's name."),
    (
        "errors",
        "Every invalid parameter: `in` (body, query, path or header), `name` (dotted path), "
        "`pointer` (JSON pointer into the body, for body parameters), `rule` (the rule it "
        "broke, a stable name) and `reason` (for a person).",
    ),
)
_CONTENT = {
    "text/html": {"schema": {"type": "string"}},
    "text/markdown": {"schema": {"type": "string"}},
}
Format = Literal["html", "markdown"]


def _members(kind: ProblemType) -> tuple[tuple[str, str], ...]:
    if kind.status in (400, 422):
        return _MEMBERS + _INVALID_MEMBERS
    if kind.code == "conflict":
        return (*_MEMBERS, ("existing_id, existing_url", "The object it conflicts with."))
    return _MEMBERS


def problem_markdown(kind: ProblemType, url: str) -> str:
    """The page about one problem type, as Markdown."""
    rows = "\n".join(f"| `{name}` | {meaning} |" for name, meaning in _members(kind))
    return (
        f"# {kind.title}\n\n"
        f"`{kind.code}` · HTTP {kind.status} · <{url}>\n\n"
        f"{kind.description}\n\n"
        "## The problem document\n\n"
        "Sent as `application/problem+json` (RFC 9457):\n\n"
        "| member | meaning |\n| --- | --- |\n"
        f"{rows}\n"
    )


def _inline(text: str) -> str:
    """Escape, then the one Markdown device the descriptions use: `code`."""
    parts = escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html_page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · PriceAlert API</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44em;margin:2em auto;"
        "padding:0 1em;color:#111}code{background:#f3f4f6;padding:0 .2em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.3em .6em;"
        "text-align:left;vertical-align:top}</style></head>"
        f"<body>{body}</body></html>"
    )


def problem_html(kind: ProblemType, url: str) -> str:
    """The page about one problem type, as HTML."""
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{_inline(meaning)}</td></tr>"
        for name, meaning in _members(kind)
    )
    paragraphs = "".join(f"<p>{_inline(p)}</p>" for p in kind.description.split("\n\n"))
    return _html_page(
        kind.title,
        f"<h1>{escape(kind.title)}</h1>"
        f"<p><code>{escape(kind.code)}</code> · HTTP {kind.status} · "
        f'<a href="{escape(url)}">{escape(url)}</a></p>{paragraphs}'
        "<h2>The problem document</h2><p>Sent as <code>application/problem+json</code> "
        "(RFC 9457):</p><table><tr><th>member</th><th>meaning</th></tr>"
        f"{rows}</table>"
        '<p><a href="../problems">Every problem type</a></p>',
    )


def _wants_markdown(request: Request, requested: Format | None) -> bool:
    if requested is not None:
        return requested == "markdown"
    accept = request.headers.get("accept", "")
    markdown, html = accept.find("text/markdown"), accept.find("text/html")
    return markdown >= 0 and (html < 0 or markdown < html)


def _render(request: Request, requested: Format | None, markdown: str, html: str) -> Response:
    if _wants_markdown(request, requested):
        return Response(markdown, media_type="text/markdown; charset=utf-8")
    return HTMLResponse(html)


FormatQuery = Annotated[
    Format | None, Query(alias="format", description="Instead of the Accept header.")
]


@router.get(
    "",
    response_class=Response,
    responses={200: {"content": _CONTENT, "description": "Every problem type, linked."}},
)
async def list_problem_types(request: Request, format_: FormatQuery = None) -> Response:
    """Every kind of problem the API answers with, each linking to its page."""
    kinds = sorted(problem_types().values(), key=lambda k: (k.status, k.code))
    markdown = "# Problem types\n\n" + "".join(
        f"- [{k.title}]({type_uri(k.code, request.scope)}) — `{k.code}`, HTTP {k.status}\n"
        for k in kinds
    )
    items = "".join(
        f'<li><a href="{escape(type_uri(k.code, request.scope))}">{escape(k.title)}</a> — '
        f"<code>{escape(k.code)}</code>, HTTP {k.status}</li>"
        for k in kinds
    )
    html = _html_page("Problem types", f"<h1>Problem types</h1><ul>{items}</ul>")
    return _render(request, format_, markdown, html)


@router.get(
    "/{code}",
    response_class=Response,
    responses={
        200: {"content": _CONTENT, "description": "What this problem means and what to do."},
        404: {"description": "No such problem type."},
    },
)
async def problem_page(
    request: Request,
    code: Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9_]+$")],
    format_: FormatQuery = None,
) -> Response:
    """The human-readable page of one problem type: every problem document's `type`."""
    kind = problem_types().get(code)
    if kind is None:
        raise NotFound(f"no problem type {code!r}")
    url = type_uri(code, request.scope)
    return _render(request, format_, problem_markdown(kind, url), problem_html(kind, url))
