"""The decision engine: pure Python, no Django, nothing of ours outside it.

``reference`` parses image references exactly as Docker does, ``classify`` puts a Docker Hub
repository into an image type, ``decide`` applies an organization's policy to the immutable
``snapshots`` of it, and ``scanners`` finds every image build files pull. The CLI, the decision
API, the token service and the console share it; it is tested without a database.
"""
