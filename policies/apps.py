from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    """Image access policies, the publisher catalog, decisions and their enforcers."""

    name = "policies"
    verbose_name = "Image access"

    def ready(self) -> None:
        from policies import checks, signals  # noqa: F401  (checks register themselves)

        signals.connect()
