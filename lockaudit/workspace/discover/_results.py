"""What discovery decided: the images it proposes and the whole proposal."""

from __future__ import annotations

from dataclasses import dataclass

from lockaudit.workspace.model import Variant


@dataclass(frozen=True)
class FoundFallback:
    """A CPU variant built from the same Dockerfile on another parent."""

    tag: str
    parent: str
    build_args: tuple[tuple[str, str], ...] = ()
    evidence: str = ""
    note: str | None = None  # a caveat written into the TOML as a comment


@dataclass(frozen=True)
class FoundImage:
    """One image the repository builds, as discovery decided it, with the evidence."""

    name: str
    tag: str
    dockerfile: str
    parent: str | None
    base_image: str | None
    variant: Variant
    requirements: tuple[str, ...] = ()
    context: str = "."
    fallback: FoundFallback | None = None
    target: tuple[tuple[str, str], ...] = ()  # per-image override of the workspace target
    evidence: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # caveats written into the TOML as comments
    edge: str = ""  # where the parent (or base image) comes from: `path:line what`
    build_args: tuple[tuple[str, str], ...] = ()  # of the image's own build
    python: bool = True  # False: no Python (node, nginx...); the reason is among the notes
    stage: str = ""  # the stage built (--target, compose/bake target); "" for the last one
    from_inserted: bool = False  # its build writes the FROM line above line 1 (sed -i '1i')

    @property
    def key(self) -> str:
        return f"{self.name}:{self.tag}"


@dataclass(frozen=True)
class Discovery:
    """The proposed configuration text, the images behind it and what could not be decided."""

    config_toml: str
    images: tuple[FoundImage, ...]
    problems: tuple[str, ...]
