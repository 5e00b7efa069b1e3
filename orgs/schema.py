"""OpenAPI description of our authentication, for drf-spectacular."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PersonalAccessTokenScheme(OpenApiAuthenticationExtension):
    """Describes PAT authentication: Bearer, or Basic ``username:token`` as docker login does."""

    target_class = "orgs.authentication.PersonalAccessTokenAuthentication"
    name = ["personalAccessToken", "basicWithToken"]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "dckr_pat_...",
                "description": "A personal access token: `Authorization: Bearer dckr_pat_...`",
            },
            {
                "type": "http",
                "scheme": "basic",
                "description": "Username and personal access token as the password.",
            },
        ]
