from django.apps import AppConfig


class OrgsConfig(AppConfig):
    """Organizations, memberships, invitations, teams, tokens and the activity log."""

    name = "orgs"
    verbose_name = "Organizations"

    def ready(self) -> None:
        from orgs import schema  # noqa: F401  (registers the OpenAPI auth extension)
