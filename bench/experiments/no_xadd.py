"""Experiment: the app with the event XADD replaced by a no-op (what the round trip costs).

``PYTHONPATH=bench/experiments .venv/bin/python bench/run.py --server granian
--app no_xadd:application --soak 0 --no-drain --no-chart``. Never serve this: events are lost.
"""

from typing import Any

import policies.events as events
from imageaccess.wsgi import application

__all__ = ["application"]


class _NoRedis:
    def xadd(self, *args: Any, **kwargs: Any) -> bytes:
        return b"0-1"


_client = _NoRedis()
events.get_redis = lambda: _client  # type: ignore[assignment,return-value]
