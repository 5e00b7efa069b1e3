"""What a scan finds: the images build files pull and the errors met, with their places."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from policies.engine.reference import InvalidReference, parse_docker_ref

ImageKind = Literal["syntax", "from", "copy-from", "mount-from", "compose", "cache-from"]


@dataclass(frozen=True)
class ImageUse:
    """One place where an image is pulled: the image as written (after expansion)."""

    image: str
    file: str
    line: int
    kind: ImageKind


@dataclass(frozen=True)
class ScanError:
    """Something BuildKit or Compose would reject; ``line`` is 1-based, ``None`` if unknown."""

    file: str
    line: int | None
    message: str


@dataclass
class ScanResult:
    """Images found and errors met while scanning one or more files."""

    images: list[ImageUse] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)

    def extend(self, other: ScanResult) -> None:
        """Append another result's images and errors to this one."""
        self.images.extend(other.images)
        self.errors.extend(other.errors)

    @property
    def ok(self) -> bool:
        """True when no error was found."""
        return not self.errors


def validate_reference(image: str) -> str | None:
    """Return the reference parser's error message for ``image``, or ``None`` if it is valid."""
    try:
        parse_docker_ref(image)
    except InvalidReference as exc:
        return str(exc) or f"invalid reference format: {image!r}"
    return None
