"""Image types and outcomes, and what the product calls them: the one place for their labels.

The engine names the image types (``Category``). The pages, forms, serializers, CSV exports and
emails read their labels here, so a type is spelled the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from policies.engine.classify import Category

# Every image type with the short label the Usage page and the event list show, in the order
# the Usage page lists them.
IMAGE_TYPE_LABELS: dict[str, str] = {
    Category.COMMUNITY.value: "Community",
    Category.VERIFIED_PUBLISHER.value: "Verified Publisher",
    Category.OFFICIAL.value: "Docker Official",
    Category.ORGANIZATION.value: "Organization",
    Category.OTHER_REGISTRY.value: "Other registries",
}
# Every image type, in the engine's order (what the decision API may answer).
IMAGE_TYPE_VALUES: tuple[str, ...] = tuple(category.value for category in Category)


@dataclass(frozen=True)
class PolicyImageType:
    """An image type the policy allows or blocks with a switch of its own."""

    value: str  # the engine's ``Category`` value
    setting: str  # the ``ImageAccessPolicy`` field that allows it
    noun: str  # as a sentence names it: "community images", "Docker Official Images"
    description: str  # what it is, in our own words
    note: str = ""  # added where the policy is summed up

    @property
    def title(self) -> str:
        """As a label names it: ``Community images``."""
        return self.noun[:1].upper() + self.noun[1:]


# The image types a policy switches on and off (organization images are always allowed), in
# the order the Image access page lists them. Members may ask for any of them.
POLICY_IMAGE_TYPES: dict[str, PolicyImageType] = {
    image_type.value: image_type
    for image_type in (
        PolicyImageType(
            Category.COMMUNITY.value,
            "allow_community",
            "community images",
            "Anything anyone publishes under their own Docker Hub namespace, including projects "
            "in the Docker-Sponsored Open Source program. The least vetted kind.",
            note="including Docker-Sponsored Open Source",
        ),
        PolicyImageType(
            Category.VERIFIED_PUBLISHER.value,
            "allow_verified_publisher",
            "Docker Verified Publisher images",
            "Images from commercial vendors whose Docker Hub namespace Docker has verified.",
        ),
        PolicyImageType(
            Category.OFFICIAL.value,
            "allow_official",
            "Docker Official Images",
            "The curated images without a namespace, such as nginx or python, maintained by "
            "Docker together with the upstream projects.",
        ),
    )
}


class Outcome(models.TextChoices):
    """What happened to a pull, as the Usage page counts it."""

    ALLOWED = "allowed"
    DENIED = "denied"
    WOULD_DENY = "would_deny"


OUTCOME_LABELS: dict[str, str] = {
    Outcome.ALLOWED.value: "Allowed",
    Outcome.DENIED.value: "Denied",
    Outcome.WOULD_DENY.value: "Would be denied",
}
