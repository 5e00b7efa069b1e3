"""Organizations REST API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from imageaccess.api import request_user
from orgs.models import Membership, PersonalAccessToken
from orgs.permissions import OwnerTwoFactorComplete
from orgs.serializers import MeSerializer


class MeView(APIView):
    """``GET /api/v1/me``: the caller's username and organizations with roles."""

    permission_classes = [IsAuthenticated, OwnerTwoFactorComplete]

    @extend_schema(responses=MeSerializer, summary="Who am I")
    def get(self, request: Request) -> Response:
        user = request_user(request)
        memberships = Membership.objects.filter(user=user).select_related("org")
        token = request.auth if isinstance(request.auth, PersonalAccessToken) else None
        data = {
            "username": user.get_username(),
            "email": getattr(user, "email", ""),
            "organizations": [
                {"slug": m.org.slug, "name": m.org.name, "role": m.role, "plan": m.org.plan}
                for m in memberships
            ],
            "token": (
                {"name": token.name, "scope": token.scope, "display": token.display}
                if token
                else None
            ),
        }
        return Response(MeSerializer(data).data)
