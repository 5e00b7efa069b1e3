"""The Docker Engine authorization plugin: dockerd asks it before every API call.

``docker_api_calls`` reads an authorization request and names the images it would pull or
run (pure, no network); ``daemon_decisions`` asks the decision API about them, in batches,
with a short cache; ``plugin_server`` speaks the plugin protocol on a unix socket or TCP.
``imageaccess authz serve`` (:mod:`policies.enforcers.cli.authz`) runs it.

No Django: the plugin runs on any Linux host where the package is installed, like the CLI.
"""
