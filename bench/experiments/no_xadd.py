"""Experiment: the app with the event XADD replaced by a no-op (what sending it costs).

``PYTHONPATH=bench/experiments .venv/bin/python bench/run.py --server granian
--app no_xadd:application --soak 0 --no-drain --no-chart``. Never serve this: events are lost.
"""

from typing import Any

from imageaccess.wsgi import application
from policies.events import stream_writer

__all__ = ["application"]


def _discard(*args: Any, **kwargs: Any) -> None:
    return None


stream_writer.deferred_stream.append = _discard  # type: ignore[method-assign]
