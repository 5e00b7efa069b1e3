"""Serializer fields shared by every API: text that is JSON text and nothing else, and a
serializer that refuses keys it does not know."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty


class StringField(serializers.CharField):
    """A JSON string: a number, boolean, array or object is a 400 ``must be a string``.

    DRF's ``CharField`` turns ``5`` into ``"5"`` (so ``5`` would name the repository
    ``library/5``), and it calls ``str()`` on any value before looking at its type, which
    recurses through nested arrays. The type is checked first here. Pass the text rules of
    ``imageaccess.input_rules`` as ``validators``.
    """

    # Not "invalid": subclasses such as SlugField use that key for their own message.
    default_error_messages = {"not_a_string": "must be a string"}

    def run_validation(self, data: Any = empty) -> Any:
        if data is not empty and data is not None and not isinstance(data, str):
            self.fail("not_a_string")
        return super().run_validation(data)


class SlugStringField(StringField, serializers.SlugField):
    """A slug given as a JSON string (letters, digits, ``-`` and ``_``)."""


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know, naming the first: a typo must not be silently ignored."""

    extra_allowed: tuple[str, ...] = ()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        data = self.initial_data
        keys = data.keys() if hasattr(data, "keys") else ()
        unknown = sorted(set(keys) - set(self.fields) - set(self.extra_allowed))
        if unknown:
            expected = ", ".join([*self.fields, *self.extra_allowed])
            raise serializers.ValidationError({unknown[0]: f"unknown field (expected {expected})"})
        return attrs
