"""The two one-row jobs (a notification, a one-time token) share one attempt: an id that is
not a UUID is "invalid" without a send, a retry is arq's `Retry` for the first `job_retries`
tries and the recorded outcome after them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from arq import Retry

from pricealert.queues import DeliverNotification, SendOneTimeToken
from services.notifier.delivery import Attempt
from services.notifier.tasks import deliver_notification, send_one_time_token
from tests.notifier.conftest import notifier_settings

Job = Callable[[dict[str, Any], str], Awaitable[str]]


class _Sender:
    """Answers every attempt with `attempt` and remembers which ids it was asked for."""

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt
        self.asked: list[uuid.UUID] = []

    async def deliver(self, row_id: uuid.UUID) -> Attempt:
        self.asked.append(row_id)
        return self.attempt

    send = deliver


async def _notification(ctx: dict[str, Any], raw_id: str) -> str:
    return await deliver_notification(ctx, DeliverNotification(notification_id=raw_id))


async def _token(ctx: dict[str, Any], raw_id: str) -> str:
    return await send_one_time_token(ctx, SendOneTimeToken(token_id=raw_id))


JOBS = pytest.mark.parametrize("job", [_notification, _token], ids=["notification", "token"])


def _ctx(sender: _Sender, job_try: int) -> dict[str, Any]:
    settings = notifier_settings(job_retries=2)
    return {"notifier": sender, "token_sender": sender, "settings": settings, "job_try": job_try}


@JOBS
async def test_an_id_that_is_not_a_uuid_is_invalid_and_nothing_is_sent(job: Job) -> None:
    sender = _Sender(Attempt("sent"))
    assert await job(_ctx(sender, 1), "not-a-uuid") == "invalid"
    assert sender.asked == []


@JOBS
async def test_the_outcome_of_the_attempt_is_the_jobs(job: Job) -> None:
    sender = _Sender(Attempt("failed", reason="refused"))
    row_id = uuid.uuid4()
    assert await job(_ctx(sender, 1), str(row_id)) == "failed"
    assert sender.asked == [row_id]


@JOBS
async def test_a_retry_is_arqs_retry_within_job_retries_then_left_to_the_sweeper(
    job: Job,
) -> None:
    sender = _Sender(Attempt("retry", retry_in=12.5))
    with pytest.raises(Retry) as caught:
        await job(_ctx(sender, 2), str(uuid.uuid4()))
    assert caught.value.defer_score == 12_500
    assert await job(_ctx(sender, 3), str(uuid.uuid4())) == "retry"
