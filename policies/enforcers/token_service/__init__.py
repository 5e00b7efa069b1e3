"""The registry token service (``/v2/token``): Docker Registry v2 token authentication.

``token_endpoint`` answers the registry's clients and decides their pulls with the decision
service; ``jwt_tokens`` parses scopes and writes the bearer tokens; ``keys`` makes and reads
signing keys and certificates; ``signing`` loads the configured key. ``jwt_tokens`` and
``keys`` import no Django: callers pass keys and names explicitly.
"""
