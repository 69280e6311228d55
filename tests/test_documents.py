"""Plan 8.1's documents: one file each, linked from the README, with the plan's owner and review.

The plan's tables are read from `monitoring/ops-plan.ja.md` itself, so a row added or
changed there fails here until its document follows. Plan 7.1's procedure links
(`./procedures/….md`, relative to the plan) must resolve, each page naming the task's
owner and frequency. The architecture diagram the README renders is the one in
`docs/architecture.md`, and it shows every service, queue and store and the production
monitoring and logging path.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pricealert.queues import ALL_QUEUES
from pricealert.supervised import SERVICES

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "monitoring" / "ops-plan.ja.md"
README = ROOT / "README.md"
BEGIN, END = "<!-- architecture diagram: begin -->", "<!-- architecture diagram: end -->"


def _table(section: str) -> list[list[str]]:
    """The body rows of the first table under a `### <section>` heading of the plan."""
    text = PLAN.read_text(encoding="utf-8")
    start = text.index(f"### {section}")
    rows = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return [row for row in rows[1:] if not set(row[0]) <= {"-", " "}]


DOCUMENTS = _table("8.1 運用ドキュメント一覧")  # name, purpose, review period, owner
PROCEDURES = _table("7.1 定期メンテナンス計画")  # task, frequency, owner, [title](link)


def _readme_link(name: str) -> Path:
    """The file the README's *Documents* table gives for a plan 8.1 document."""
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| {name} "):
            links = re.findall(r"\]\(([^)]+\.md)\)", line.split("|")[2])
            assert len(links) == 1, line
            return ROOT / str(links[0])
    raise AssertionError(f"the README's Documents table has no row for {name}")


def test_the_plan_lists_six_documents_and_six_procedures() -> None:
    assert len(DOCUMENTS) == 6
    assert len(PROCEDURES) == 6


@pytest.mark.parametrize(("name", "purpose", "period", "owner"), DOCUMENTS)
def test_each_document_exists_is_linked_and_names_its_owner_and_review(
    name: str, purpose: str, period: str, owner: str
) -> None:
    path = _readme_link(name)
    assert path.is_file(), path
    lines = path.read_text(encoding="utf-8").splitlines()
    assert f"- **Plan 8.1:** {name} — {purpose}" in lines
    assert any(line.startswith(f"- **Owner:** {owner}") for line in lines), (path, owner)
    assert any(line.startswith(f"- **Review:** {period}") for line in lines), (path, period)
    assert any(re.match(r"- \*\*Last reviewed:\*\* \d{4}-\d{2}-\d{2}$", line) for line in lines)


def test_every_document_has_its_own_file() -> None:
    files = [_readme_link(name) for name, *_ in DOCUMENTS]
    assert len(set(files)) == len(files)


@pytest.mark.parametrize(("task", "frequency", "owner", "link"), PROCEDURES)
def test_each_plan_7_1_procedure_link_resolves_to_its_page(
    task: str, frequency: str, owner: str, link: str
) -> None:
    target = re.fullmatch(r"\[[^]]+\]\((\./procedures/[a-z_]+\.md)\)", link)
    assert target, link
    page = (PLAN.parent / target.group(1)).resolve()
    lines = page.read_text(encoding="utf-8").splitlines()
    assert f"- **Plan 7.1:** {task}" in lines
    assert f"- **Owner:** {owner}" in lines
    assert any(line.startswith(f"- **Frequency:** {frequency}") for line in lines)


def _diagram(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    return text[text.index(BEGIN) : text.index(END)]


def test_the_readme_renders_the_architecture_diagram_of_its_document() -> None:
    assert _diagram(README) == _diagram(ROOT / "docs" / "architecture.md")
    assert "```mermaid\ngraph" in _diagram(README)


@pytest.mark.parametrize(
    "shown",
    [
        *(f"[{service}<br/>" for service in SERVICES),
        *(f"queue {queue}" for queue in ALL_QUEUES),
        "PostgreSQL",
        "Redis",
        # the production monitoring and logging path
        "Prometheus agent",
        "rules + Alertmanager",
        "Grafana",
        "paging topics",
        "CloudWatch alarms",
        "FireLens",
        "OpenSearch",
        "/metrics, collector SG only",
    ],
)
def test_the_architecture_diagram_shows(shown: str) -> None:
    assert shown in _diagram(README)


@pytest.mark.parametrize(
    "page", sorted([*(ROOT / "docs").glob("*.md"), *(ROOT / "monitoring/procedures").glob("*.md")])
)
def test_relative_links_in_documents_resolve(page: Path) -> None:
    for target in re.findall(r"\]\((\.{1,2}/[^)#]+)\)", page.read_text(encoding="utf-8")):
        assert (page.parent / target).exists(), (page.name, target)
