"""Audit rule about names more than one index lists (dependency confusion).

* ``index-confusion``: a package an image installs is also listed on another index the
  workspace or pip is configured with. Routed (``packages = [...]`` of an index), the lock
  takes it from its index only and a same-named release elsewhere is never chosen: an info
  that says which other index lists it, since a build step that is not routed (a bare
  ``pip install``) would see both. Not routed, pip merges the default and extra indexes and
  the highest version wins whichever index serves it. A warning when the indexes disagree on
  it (another index offers a higher release the lock's index lacks, or the locked release
  there has other files), naming every index that lists it and the one the lock's release
  came from, with routing as the fix; an info when they agree.

Decisions:

* Only the indexes an unrouted name is looked up on (pip's index, its extra indexes, the
  workspace's indexes that route nothing) are compared: a routed index that also carries
  pure-Python dependencies (the PyTorch indexes carry ``filelock``) is never asked for them,
  and the index a name is routed to for another variant is the same project.
* Only simple indexes are asked (a ``find-links`` location is a list of files the user points
  at on purpose); an index that cannot be reached says nothing here (``index-unreachable``
  and the compile report it).
* Indexes that agree are a mirror or a cache of one project, not confusion: pip's
  configuration often adds a local copy of the default index as an extra index, and warning
  about every name on it buried the audit (179 warnings on a seven-image repository, none a
  defect). What an attacker needs is a release pip would prefer that the trusted index does
  not serve, or the same release with other bytes; that is what turns the info into a warning.
* Each image's own installs are checked once per (name, target); the pages asked are cached
  like every other page.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from packaging.utils import NormalizedName

from lockaudit.audit.replay import ImageReplay, Installed
from lockaudit.audit.rules import AuditContext, _rule
from lockaudit.errors import IndexFetchError, OfflineMissError
from lockaudit.index.client import IndexClient, IndexSource, Routing
from lockaudit.index.types import Candidate
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
            listed = {
                s.url: found
                for s in open_sources
                if (found := _releases(views[s], item.name, target))
            }
            routed = routing.sources(item.name, target.variant)
            if len(routed) == 1 and routed[0] not in open_sources:
                if listed:  # routed, and a same-named project where unrouted installs look
                    yield _routed(routed[0], target, replay, item, list(listed))
            elif len(listed) > 1:
                yield _unrouted(replay, item, list(listed), _disagreement(item, listed))


def _releases(view: IndexClient, name: NormalizedName, target: Target) -> Sequence[Candidate]:
    try:
        return view.candidates(name, target)
    except (IndexFetchError, OfflineMissError):
        return ()


def _disagreement(item: Installed, listed: dict[str, Sequence[Candidate]]) -> str | None:
    """Why the indexes listing ``item`` are not copies of one project, or None if they are."""
    home = item.candidate.index
    own_versions = {c.version for c in listed.get(home, ())}
    locked = {f.filename: f.sha256 for f in item.candidate.files}
    for url, releases in listed.items():
        if url == home:
            continue
        higher = [c.version for c in releases if c.version > item.version]
        if unknown := [v for v in higher if v not in own_versions]:
            return f"{url} offers {item.name} {max(unknown)}, which {home} does not"
        for release in releases:
            if release.version != item.version:
                continue
            for file in release.files:
                if file.filename not in locked or locked[file.filename] != file.sha256:
                    return f"{url} serves a {file.filename} that {home} does not"
    return None


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


def _unrouted(
    replay: ImageReplay, item: Installed, listed: list[str], disagreement: str | None
) -> Finding:
    indexes = ", ".join(listed)
    head = f"{item.name} is listed on {len(listed)} indexes ({indexes}) and routed to none"
    lock = f"the lock has {item.name} {item.version} from {item.candidate.index}"
    route = (
        f'route it: packages = ["{item.name}"] on the [[tool.lockaudit.indexes]] entry of '
        "the index it must come from"
    )
    if disagreement is None:
        return index_confusion.finding(
            f"{head}; they serve the same files (a mirror or a copy of one project): {lock}",
            item.where,
            image=replay.image,
            package=item.name,
            hint=f"nothing to do while they agree; {route}",
            severity=Severity.INFO,
        )
    return index_confusion.finding(
        f"{head}: pip takes the highest version from any of them ({disagreement}); {lock}",
        item.where,
        image=replay.image,
        package=item.name,
        hint=route,
    )
