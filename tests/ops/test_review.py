"""The quarterly review (plan 9.3) from a real Prometheus holding a quarter of history."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from matplotlib import image

from pricealert_ops import incident
from pricealert_ops.monitoring.slo import error_ratio_record, threshold_record
from pricealert_ops.review import quarter_review, render, write_review
from pricealert_ops.storage import BackupStore, open_store

from .servers import backfilled_prometheus

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
START = NOW - timedelta(days=91)
HOURS = 91 * 24
#: Average running tasks per service over the quarter: api 2, scraper 3, evaluator 1, notifier 1.
TASKS = {"api": 2, "scraper": 3, "evaluator": 1, "notifier": 1}
ERROR_RATIOS = {"api-availability": 0.002, "api-success": 0.0002, "price-collection-success": 0.01}
THRESHOLDS = {"api-mean-latency": 0.15, "alert-delay": 30.0}


def _openmetrics() -> str:
    families: dict[str, list[str]] = {}

    def sample(family: str, labels: str, value: float, at: datetime) -> None:
        families.setdefault(family, []).append(f"{family}{{{labels}}} {value} {at.timestamp():.0f}")

    for hour in range(HOURS + 1):
        at = START + timedelta(hours=hour)
        growth = 1 + hour / HOURS  # everything doubles over the quarter
        # Counters: requests at 10/s growing to 20/s; CPU 0.5 growing to 1 core.
        requests = 36_000 * (hour + hour * (hour - 1) / (2 * HOURS))  # ∑ 10/s × growth
        sample("http_requests_total", 'job="api",status="200"', requests, at)
        sample("process_cpu_seconds_total", 'job="scraper"', 0.5 * 3600 * hour * growth, at)
        sample("pricealert_queue_length", 'queue="pricealert:scrape"', 40 * growth, at)
        sample("pricealert_watched_products", 'job="api"', 1000 * growth, at)
        for job, count in TASKS.items():
            for task in range(count):
                sample("up", f'job="{job}",instance="{job}-{task}"', 1, at)
        for slo, ratio in ERROR_RATIOS.items():
            sample(error_ratio_record("5m"), f'slo="{slo}"', ratio, at)
        for slo, value in THRESHOLDS.items():
            sample(threshold_record("5m"), f'slo="{slo}"', value, at)
    lines = []
    for family, samples in families.items():
        kind = "counter" if family.endswith("_total") else "gauge"
        name = family.removesuffix("_total") if kind == "counter" else family
        lines.append(f"# TYPE {name} {kind}")
        lines += samples
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        pytest.fail("needs prometheus and promtool: apt-get install -y prometheus", pytrace=False)
    with backfilled_prometheus(tmp_path_factory.mktemp("prom-quarter"), _openmetrics()) as url:
        yield url


@pytest.fixture
def incidents(tmp_path: Path) -> BackupStore:
    store = open_store((tmp_path / "incidents").as_uri())
    old = incident.open_incident(
        store, "last year's outage", "P1", "aiko", now=START - timedelta(days=30)
    )
    incident.close_incident(store, old.id, "fixed", "aiko", now=START - timedelta(days=29))
    opened_at = NOW - timedelta(days=20)
    closed = incident.open_incident(
        store, "scrapes blocked by one shop", "P2", "aiko", now=opened_at
    )
    _, skeleton = incident.close_incident(
        store, closed.id, "selector moved", "ken", now=opened_at + timedelta(minutes=90)
    )
    written = skeleton.replace(
        "_Why it happened (five whys), not who._",
        "The shop moved its price into a web component our selector did not reach.",
    ).replace("| | | | |", "| alert on a shop's no_price ratio | ken | 2027-01-15 | OPS-12 |")
    store.upload(incident.postmortem_key(closed.id), io.BytesIO(written.encode()))
    incident.open_incident(store, "notifier slow", "P3", "ken", now=NOW - timedelta(days=2))
    return store


def test_the_quarter_review_reports_slos_incidents_trends_costs_and_automation(
    prometheus_url: str, incidents: BackupStore, tmp_path: Path
) -> None:
    out = tmp_path / "review"

    review = quarter_review(prometheus_url, MONITORING, incidents, out, now=NOW)
    markdown = render(review)
    path = write_review(review, out)

    rows = {line.split(" | ")[0].lstrip("| "): line for line in markdown.splitlines()}
    assert rows["api-availability"].endswith("| 99.800 % | SLO missed |")
    assert rows["api-success"].endswith("| 99.980 % | met |")
    assert rows["price-collection-success"].endswith("| 99.000 % | met |")
    assert "average 0.150" in rows["api-mean-latency"]
    # Incidents of the quarter only, with the postmortem's cause and action item.
    assert [i.incident.title for i in review.incidents] == [
        "scrapes blocked by one shop",
        "notifier slow",
    ]
    assert "| P2 | 1 | 90 min |" in markdown
    assert "| P3 | 1 | open |" in markdown
    assert "cause: The shop moved its price into a web component" in markdown
    assert "- alert on a shop's no_price ratio (from INC-" in markdown
    # Trends: doubled over the quarter, and forecast to keep growing.
    trends = {t.name: t for t in review.trends}
    assert trends["watched-products"].last == pytest.approx(2000, rel=0.01)
    assert trends["watched-products"].forecast_90d == pytest.approx(3000, rel=0.1)
    assert trends["api-requests"].last == pytest.approx(20, rel=0.05)
    for trend in review.trends:
        assert trend.chart is not None, trend
        height, width, _ = image.imread(out / trend.chart).shape
        assert width > 400
        assert height > 200
    # Cost drivers: task-hours by service.
    assert review.task_hours == pytest.approx(
        {job: count * HOURS for job, count in TASKS.items()}, rel=0.02
    )
    assert "| scraper | 6,552 | 43 % |" in markdown
    assert path.name.startswith(f"review-{NOW:%Y}-Q")
    assert path.read_text() == markdown
