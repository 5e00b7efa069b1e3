"""Enforcers: the thin adapters that ask the engine on a pull.

``decision_api`` (``POST /api/v1/decisions``), ``token_service`` (``/v2/token``, the Docker
Registry v2 token service a registry mirror sends every client to), ``daemon_plugin`` (the Docker
Engine authorization plugin) and ``cli`` (the ``imageaccess`` console script: ``ref``, ``scan``,
``check``, ``authz``). The CLI and the daemon plugin import no Django.
"""
