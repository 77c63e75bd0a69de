"""Image references as containerd's CRI plugin spells them (pure).

`busybox` is `docker.io/library/busybox:latest`, `localhost/x` is `localhost/x:latest`, and a reference may carry a
digest (`name@sha256:...`). The kubelet and `kubectl describe` show these normalized names, so the store keys on
them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "docker.io"
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_NAME_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")


class InvalidReference(ValueError):
    """Not an image reference; the message is containerd's wording for the kubelet's InvalidImageName."""


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag or 'latest'}"

    def tagged(self) -> str:
        """`name:tag` (latest when none), the form that appears in repo_tags."""
        return f"{self.name}:{self.tag or 'latest'}"


def parse(ref: str) -> Reference:
    """Normalize a reference the way containerd's reference.ParseDockerRef does."""
    if not ref or ref != ref.strip():
        raise InvalidReference(f'failed to parse image reference "{ref}"')
    rest, digest = ref, ""
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not DIGEST_RE.match(digest):
            raise InvalidReference(f'failed to parse image reference "{ref}": invalid digest')
    tag = ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG_RE.match(tag):
            raise InvalidReference(f'failed to parse image reference "{ref}": invalid tag')
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, remainder
    else:
        domain, path = DEFAULT_DOMAIN, rest
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = "library/" + path
    if not all(_NAME_COMPONENT.match(c) for c in path.split("/")):
        raise InvalidReference(f'failed to parse image reference "{ref}": invalid reference format')
    if digest and not tag:
        return Reference(domain, path, "", digest)
    return Reference(domain, path, tag or ("" if digest else "latest"), digest)
