"""Experiment: the decision path without the lean handler (full middleware on every path,
DRF's dispatch and serializer for decisions, redis-py's pure-Python reply parser).

``PYTHONPATH=bench/experiments .venv/bin/python bench/run.py --server granian
--app full_stack:application --soak 0 --no-drain --no-chart``.
"""

from redis.connection import _RESP2Parser

from imageaccess import wsgi
from imageaccess.redis_client import get_redis
from policies.enforcers.decision_api import DecisionView

DecisionView._lean_dispatch = lambda self, request: None  # type: ignore[method-assign]
_client = get_redis()
if _client is not None:
    _client.connection_pool.connection_kwargs["parser_class"] = _RESP2Parser
    _client.connection_pool.disconnect()
application = wsgi.django_application
