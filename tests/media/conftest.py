from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from obzvon.media import MediaClock


@pytest.fixture
async def clock() -> AsyncIterator[MediaClock]:
    c = MediaClock()
    yield c
    await c.close()
