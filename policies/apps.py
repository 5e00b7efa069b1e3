from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    """Image access policies, the publisher catalog, decisions, their events and enforcers."""

    name = "policies"
    verbose_name = "Image access"

    def ready(self) -> None:
        from policies import signals, startup_checks  # noqa: F401  (checks register themselves)

        signals.connect()
