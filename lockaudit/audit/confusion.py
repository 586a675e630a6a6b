"""Audit rule about names more than one index lists (dependency confusion).

* ``index-confusion``: a package an image installs is also listed on another index the
  workspace or pip is configured with. Routed (``packages = [...]`` of an index), the lock
  takes it from its index only and a same-named release elsewhere is never chosen: an info
  that says which other index lists it, since a build step that is not routed (a bare
  ``pip install``) would see both. Not routed, pip merges the default and extra indexes and
  the highest version wins whichever index serves it: a warning naming every index that lists
  it and the one the lock's release came from, with routing as the fix.

Decisions:

* Only the indexes an unrouted name is looked up on (pip's index, its extra indexes, the
  workspace's indexes that route nothing) are compared: a routed index that also carries
  pure-Python dependencies (the PyTorch indexes carry ``filelock``) is never asked for them,
  and the index a name is routed to for another variant is the same project.
* Only simple indexes are asked (a ``find-links`` location is a list of files the user points
  at on purpose); an index that cannot be reached says nothing here (``index-unreachable``
  and the compile report it).
* Each image's own installs are checked once per (name, target); the pages asked are cached
  like every other page.
"""

from __future__ import annotations

from collections.abc import Iterator

from packaging.utils import NormalizedName

from lockaudit.audit.replay import ImageReplay, Installed
from lockaudit.audit.rules import AuditContext, _rule
from lockaudit.errors import IndexFetchError, OfflineMissError
from lockaudit.index.client import IndexClient, IndexSource, Routing
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace.model import Target


@_rule(
    "index-confusion",
    Severity.WARNING,
    "a package is listed on more than one index: the lock says which one it came from",
)
def index_confusion(ctx: AuditContext) -> Iterator[Finding]:
    client = ctx.source
    if not isinstance(client, IndexClient):
        return  # another source (a test double of the resolver) has no indexes to compare
    routing = client.routing
    views: dict[IndexSource, IndexClient] = {}
    for replay in ctx.replays.values():
        target = ctx.image(replay.image).target
        # What an unrouted name is looked up on: the default and the extra indexes.
        everywhere = Routing(routing.default, (), routing.extra)
        open_sources = tuple(
            s for s in everywhere.sources(NormalizedName(""), target.variant) if s.kind == "simple"
        )
        names = [item.name for item in replay.own]
        for source in open_sources:
            view = views.setdefault(source, client.with_routing(Routing((source,))))
            view.prefetch(names, target)  # every page at once; errors surface below
        for item in replay.own:
            listed = [s.url for s in open_sources if _lists(views[s], item.name, target)]
            routed = routing.sources(item.name, target.variant)
            if len(routed) == 1 and routed[0] not in open_sources:
                if listed:  # routed, and a same-named project where unrouted installs look
                    yield _routed(routed[0], target, replay, item, listed)
            elif len(listed) > 1:
                yield _unrouted(replay, item, listed)


def _lists(view: IndexClient, name: NormalizedName, target: Target) -> bool:
    try:
        return bool(view.candidates(name, target))
    except (IndexFetchError, OfflineMissError):
        return False


def _routed(
    source: IndexSource, target: Target, replay: ImageReplay, item: Installed, listed: list[str]
) -> Finding:
    return index_confusion.finding(
        f"{item.name} is routed to {source.url} for {target.variant} images; "
        f"{', '.join(listed)} also list{'s' if len(listed) == 1 else ''} it: the lock takes "
        f"{item.name} {item.version} from {item.candidate.index} only",
        item.where,
        image=replay.image,
        package=item.name,
        hint="keep every install of it routed (the layer lock, or --index-url of its index)",
        severity=Severity.INFO,
    )


def _unrouted(replay: ImageReplay, item: Installed, listed: list[str]) -> Finding:
    return index_confusion.finding(
        f"{item.name} is listed on {len(listed)} indexes ({', '.join(listed)}) and routed to "
        f"none: pip takes the highest version from any of them; the lock has "
        f"{item.name} {item.version} from {item.candidate.index}",
        item.where,
        image=replay.image,
        package=item.name,
        hint=f'route it: packages = ["{item.name}"] on the [[tool.lockaudit.indexes]] entry of '
        "the index it must come from",
    )
