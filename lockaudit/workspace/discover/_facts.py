"""What every build source says, in one shape: a :class:`BuildFact` per image a source builds.

Scripts, compose files, CI workflows and bake files each have their own reader; all of them
produce ``BuildFact``s so that deciding the graph consumes one kind of fact. A value that is not
static (a shell command substitution, a CI expression, a variable nobody sets) is *unknown*:
readers drop it, never paste it into a name or a tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lockaudit.errors import Location

# Docker's reference grammar (distribution/reference), enough to tell a usable reference from
# a fragment of shell: [host[:port]/]path-components[:tag][@digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d+)?"
_REFERENCE = re.compile(
    rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@[\w:+.-]+)?$",
    re.ASCII,
)
# What never survives into a static value: shell/make expansions, command substitution,
# CI expressions, Windows variables.
_DYNAMIC = re.compile(r"\$|`|\{\{|%\w+%|\x00")
UNKNOWN = "\x00"  # stands in for a value readers cannot know; never a valid reference


@dataclass(frozen=True)
class Ref:
    """An image reference split as discovery needs it: ``registry/…/repo:tag``."""

    text: str
    namespace: str  # everything before the last path component ("rajiup", "nvidia")
    repo: str  # the last path component ("cp-whisperx-app-base-ml")
    tag: str

    @property
    def short(self) -> tuple[str, str]:
        return (self.repo, self.tag)

    @property
    def path(self) -> str:
        """``namespace/repo`` without the tag: what one image name stands for."""
        return f"{self.namespace}/{self.repo}" if self.namespace else self.repo


def partial(value: str) -> str:
    """``value`` as far as it is known: static text kept, each run of what only a run knows
    one :data:`UNKNOWN` (``${REPO}base:${TAG}`` → ``?base:?``); wholly unknown when any other
    expansion is left in it. Never static unless ``value`` is, so it never becomes a name; a
    FROM written from it can still be matched with a build tagged by the same expression."""
    if is_static(value):
        return value
    known = value.replace(UNKNOWN, "")
    if not known or _DYNAMIC.search(known):
        return UNKNOWN
    return re.sub(f"{UNKNOWN}+", UNKNOWN, value)


def parse_ref(text: str) -> Ref:
    ref = text.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    tag = "latest"
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1 :]
    namespace, _, repo = ref.rpartition("/")
    return Ref(text, namespace, repo, tag)


def is_static(text: str) -> bool:
    """True when ``text`` holds no expansion whose value only a run would know."""
    return not _DYNAMIC.search(text)


def static_ref(text: str) -> Ref | None:
    """The reference ``text`` names, or None when it is not static or not a valid reference."""
    text = text.strip()
    if not text or not is_static(text) or not _REFERENCE.match(text):
        return None
    return parse_ref(text)


def static_name(text: str) -> str | None:
    """The last path component of a reference whose registry part only a run knows:
    ``${KO_DOCKER_REPO}/sklearnserver:${TAG}`` names ``sklearnserver``."""
    last = text.strip().rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return last if is_static(last) and re.fullmatch(_COMPONENT, last, re.ASCII) else None


@dataclass(frozen=True)
class BuildFact:
    """One build (a ``docker build`` line, a compose service, a CI step, a bake target) that
    builds ``dockerfile`` as ``ref``.

    ``ref`` is None when the source builds the file under a name that is not static; ``name``
    then is what the source itself calls the image (a compose service, a bake target).
    ``arg_lines`` holds the line each build argument is set on (values only a run knows
    included), so that an edge of the graph can say where its parent came from
    (``build.yml:209 --build-arg BASE_IMAGE``).
    """

    dockerfile: str
    ref: Ref | None
    context: str
    location: Location
    build_args: tuple[tuple[str, str], ...] = ()
    substitutions: tuple[tuple[str, str], ...] = ()  # sed s/old/new/ applied to the file
    source: str = "docker build"  # what at ``location`` builds it, for messages
    name: str | None = None
    arg_lines: tuple[tuple[str, int], ...] = ()
    target: str | None = None
    contexts: tuple[tuple[str, str], ...] = ()  # named build contexts (additional_contexts)
    profiles: tuple[str, ...] = ()
    matrix_cell: bool = False  # built by one cell of a CI matrix of several
    # a FROM line the build source writes into the file first (``sed -i '1i FROM …'``)
    inserted: str = ""
    inserted_at: Location | None = None
    # the tag as far as it is known (see :func:`partial`) when it is not static
    pattern: str = ""
    # built by a script that its caller configures through the environment it exports (one of
    # the configurations callers build of the same build line)
    configured: bool = False
    # build args whose value is known only in part (see :func:`partial`): never a value, but a
    # FROM that pastes one in can be matched with a build tagged by the same expression
    partial_args: tuple[tuple[str, str], ...] = ()

    def arg_location(self, arg: str) -> Location:
        """Where build argument ``arg`` is set (the fact's own line when not recorded)."""
        for name, line in self.arg_lines:
            if name == arg:
                return Location(self.location.path, line)
        return self.location


def partial_args(pairs: list[tuple[str, str, int]]) -> tuple[tuple[str, str], ...]:
    """The build args of ``(name, value, line)`` triples whose value is known only in part."""
    return tuple(
        (name, known) for name, value, _ in pairs
        if not is_static(value) and (known := partial(value)) != UNKNOWN
    )


def static_args(pairs: list[tuple[str, str, int]]) -> tuple[tuple[tuple[str, str], ...],
                                                             tuple[tuple[str, int], ...]]:
    """``(name, value, line)`` triples → build args (unknown values dropped) and the line of
    every argument given, known or not: a source that sets an argument to a value only a run
    knows still sets it (it does not build with the Dockerfile's default)."""
    kept = [(name, value) for name, value, _ in pairs if is_static(value)]
    return (tuple(kept), tuple((n, line) for n, _, line in pairs))
