from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def small_chunks(settings: Any) -> None:
    settings.ISSUANCE_CHUNK_SIZE = 40
    settings.PORTAL_BASE_URL = "https://portal.example"
