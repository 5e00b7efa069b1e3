"""Decision events: every answer an enforcer gets becomes an event.

``event_rows`` builds the rows and inserts them idempotently; ``stream_writer`` appends them to
the Redis stream on the request path without waiting (or, during an outage, to the database in
batches); ``stream_drain`` moves the stream into PostgreSQL (a Celery task); ``rollups`` folds
events into daily counts and purges old ones; ``usage_reports`` is what the Usage page, the
event list and My access read; ``events_api`` serves ``/api/v1/orgs/<slug>/events``;
``tasks`` holds the Celery tasks.
"""
