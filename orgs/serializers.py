"""Serializers for the organizations API."""

from __future__ import annotations

from rest_framework import serializers


class MyOrganizationSerializer(serializers.Serializer):
    """One of the caller's organizations with the caller's role in it."""

    slug = serializers.CharField()
    name = serializers.CharField()
    role = serializers.CharField()
    plan = serializers.CharField()


class MeSerializer(serializers.Serializer):
    """Who the caller is and where they belong."""

    username = serializers.CharField()
    email = serializers.EmailField()
    organizations = MyOrganizationSerializer(many=True)
    token = serializers.DictField(allow_null=True)
