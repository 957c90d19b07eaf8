"""Each test counts its own requests and failures: the limits' cache keys get a namespace per
test, so no test inherits another's counts."""

from __future__ import annotations

import uuid

import pytest
from pytest_django.fixtures import Settings


@pytest.fixture(autouse=True)
def own_limits(settings: Settings) -> None:
    settings.MERCHANT_THROTTLE_NAMESPACE = f"merchant-limits-test-{uuid.uuid4().hex}"
