"""SMS through Amazon SNS: one short message (one GSM segment when it can be) to an E.164 number.

The daily SMS cap is the evaluator's (it never creates an SMS notification past
`User.daily_sms_cap`); this module only sends.
"""

from __future__ import annotations

import re
from typing import Final

from services.notifier.channels import Delivery, PermanentFailure
from services.notifier.channels.aws import call, sns_client
from services.notifier.message import render, short_text
from services.notifier.settings import NotifierSettings

E164: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")


class SmsSender:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self._sns = sns_client(region=settings.aws_region, endpoint_url=settings.sns_endpoint_url)

    async def send(self, delivery: Delivery) -> None:
        """Publish the text to the number."""
        if not E164.match(delivery.target):
            raise PermanentFailure(f"not an E.164 phone number: {delivery.target!r}")
        text = short_text(render(delivery.payload, self.settings.public_base_url))
        await call(
            self._sns.publish,
            PhoneNumber=delivery.target,
            Message=text,
            MessageAttributes={
                # Transactional: delivered first, even to numbers on "do not disturb" lists.
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
            },
        )
