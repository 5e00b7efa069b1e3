"""The decision engine: pure Python, no Django.

``reference`` parses image references exactly as Docker does, ``classify`` puts a Docker Hub
repository into an image type, and ``decide`` applies an organization's policy. The API, the
registry token service and the CLI share it; it is tested without a database.
"""
