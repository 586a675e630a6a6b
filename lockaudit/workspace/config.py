"""Load ``[tool.lockaudit]`` from a workspace's ``pyproject.toml`` into a frozen Workspace.

The schema is documented in ``docs/CONFIG.md``. Every error names ``pyproject.toml:line``: TOML
itself does not keep line numbers, so :func:`_line_of` finds the line a key or table was
written on by scanning the text (good enough for hand-written config, and never wrong about the
file).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lockaudit.errors import InputError, Location
from lockaudit.rules.findings import Severity
from lockaudit.workspace.model import (
    DEFAULT_HEAVY,
    AuditSettings,
    BuildSettings,
    Exclude,
    Image,
    PackageIndex,
    ReviewedSdist,
    Target,
    Variant,
    Workspace,
    normalize,
)

CONFIG_FILE = "pyproject.toml"

_TOP_KEYS = {
    "registry",
    "image-prefix",
    "versions",
    "common",
    "locks",
    "pylock",
    "heavy",
    "target",
    "constraints",
    "indexes",
    "images",
    "unused",
    "reviewed-sdists",
    "mirrors",
    "audit",
    "exclude",
    "build",
    "limits",
}
_BUILD_KEYS = {"builder", "cache-from", "cache-to"}
# What a cache spec may name: each image gets its own cache reference from one line.
CACHE_PLACEHOLDERS = frozenset({"name", "tag", "slug"})
# What an index may cost (lockaudit.index.limits.Limits, whose fields these name; a test keeps
# the two in step): sizes in bytes, timeouts in seconds.
LIMIT_KEYS = frozenset(
    {
        "response-bytes",
        "decompressed-bytes",
        "metadata-bytes",
        "links-per-page",
        "request-timeout",
        "command-timeout",
    }
)
_AUDIT_KEYS = {"select", "ignore", "severity", "fail-on"}
_RULE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TARGET_KEYS = {"python", "platform", "arch", "glibc", "cuda"}
_IMAGE_KEYS = {
    "name",
    "tag",
    "dockerfile",
    "parent",
    "base-image",
    "variant",
    "requirements",
    "target",
    "build-args",
    "fallback",
    "inherits-common",
    "context",
    "cache-from",
    "cache-to",
    "python",
    "locks",
    "stage",
    "from-inserted",
}
_FALLBACK_KEYS = {
    "tag",
    "parent",
    "requirements",
    "build-args",
    "target",
    "variant",
    "cache-from",
    "cache-to",
}

# Docker's reference grammar (distribution/reference): a name is path components of lower-case
# letters and digits joined by `.`, `_`, `__` or dashes, separated by `/`; a tag is a word
# character then up to 127 of word characters, `.` and `-`. Names and tags become file names
# of locks, so anything else (`..`, an absolute path, a `/` in a tag) could write outside.
_NAME_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)


@dataclass(frozen=True)
class _Doc:
    """The config text, for locating keys when reporting errors."""

    path: str
    lines: tuple[str, ...]

    def line_of(self, key: str, *, after: int = 0) -> int:
        pattern = re.compile(rf"^\s*(\[+\s*)?[\w.\"-]*\b{re.escape(key)}\b")
        for number, text in enumerate(self.lines[after:], start=after + 1):
            if pattern.match(text):
                return number
        return after or 1

    def error(
        self, message: str, key: str, *, after: int = 0, hint: str | None = None
    ) -> InputError:
        return InputError(Location(self.path, self.line_of(key, after=after)), message, hint=hint)


def load_workspace(root: Path) -> Workspace:
    """Read ``root/pyproject.toml`` and return the workspace it describes."""
    path = root / CONFIG_FILE
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(
            Location(CONFIG_FILE),
            f"cannot read the workspace configuration: {e.strerror}",
            hint="run `lockaudit init` to create one, or pass --workspace",
        ) from e
    try:
        text = raw.decode("utf-8-sig")
        data = tomllib.loads(text)
    except UnicodeDecodeError as e:
        raise InputError(Location(CONFIG_FILE, 1), "not a UTF-8 text file") from e
    except tomllib.TOMLDecodeError as e:
        line = getattr(e, "lineno", 0) or _line_from_message(str(e))
        raise InputError(Location(CONFIG_FILE, line), f"invalid TOML: {e}") from e
    doc = _Doc(CONFIG_FILE, tuple(text.splitlines()))
    tool = data.get("tool", {})
    section = tool.get("lockaudit") if isinstance(tool, dict) else None  # `tool = 1`: no table
    if not isinstance(section, dict):
        raise InputError(
            Location(CONFIG_FILE, 1),
            "no [tool.lockaudit] section",
            hint="run `lockaudit init` to discover the workspace and write one",
        )
    return parse_config(section, root=root, doc=doc)


def require_requirement_files(workspace: Workspace, image: Image) -> None:
    """Raise :class:`InputError` for a requirements file of ``image`` that does not exist.

    The error points at the configuration line that names the file (a missing file has no
    line of its own), so the message says where to fix it.
    """
    for path in image.requirements:
        if not workspace.path(path).is_file():
            raise InputError(
                _declared_at(workspace, path),
                f"the requirements file {path} of {image.key} does not exist",
                hint="create it, or correct the path in [[tool.lockaudit.images]]",
            )


def require_dockerfile(workspace: Workspace, image: Image) -> None:
    """Raise :class:`InputError`, at the configuration line naming it, for a Dockerfile of
    ``image`` that does not exist: a wrong path, not a Dockerfile that cannot be read."""
    if not workspace.path(image.dockerfile).is_file():
        raise InputError(
            _declared_at(workspace, image.dockerfile),
            f"the Dockerfile {image.dockerfile} of {image.key} does not exist",
            hint="create it, or correct `dockerfile` in [[tool.lockaudit.images]]",
        )


def _declared_at(workspace: Workspace, path: str) -> Location:
    """The first line of the workspace configuration that names ``path`` in quotes."""
    config = workspace.config_location.path
    try:
        text = (workspace.root / config).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return Location(config)
    quoted = (f'"{path}"', f"'{path}'")
    for number, line in enumerate(text.splitlines(), start=1):
        if any(q in line for q in quoted):
            return Location(config, number)
    return Location(config)


def _line_from_message(message: str) -> int:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else 1


def parse_config(section: Mapping[str, Any], *, root: Path, doc: _Doc | None = None) -> Workspace:
    doc = doc or _Doc(CONFIG_FILE, ())
    _unknown_keys(section, _TOP_KEYS, "[tool.lockaudit]", doc, "lockaudit")
    defaults = _target(_table(section, "target", doc), Target(), doc, after=0)
    images: list[Image] = []
    declared: list[int] = []  # the line of each image's `name` (its fallback: its own `tag`)
    raw_images = _list_of_tables(section, "images", doc)
    after = doc.line_of("tool.lockaudit.images")
    for raw in raw_images:
        after = doc.line_of("name", after=after)
        found = _images(raw, defaults, doc, after)
        images.extend(found)
        declared.append(after)
        if len(found) > 1:
            declared.append(doc.line_of("tag", after=doc.line_of("fallback", after=after)))
    _check_unique(images, declared, doc)
    locks_dir = _str(section, "locks", doc, "locks")
    _check_inside(locks_dir, "locks", doc)
    images = _fill_fallback_requirements(images)
    workspace = Workspace(
        root=root,
        images=tuple(images),
        versions=_opt_str(section, "versions", doc, "versions.txt"),
        common=_opt_str(section, "common", doc, "requirements-common.txt"),
        constraints=tuple(_constraints(section, doc)),
        indexes=tuple(_indexes(section, doc)),
        registry=_str(section, "registry", doc, ""),
        image_prefix=_str(section, "image-prefix", doc, ""),
        locks_dir=locks_dir,
        pylock=_bool(section, "pylock", doc, True),
        heavy_packages=tuple(
            n.lower() for n in _str_list(section, "heavy", doc, list(DEFAULT_HEAVY))
        ),
        reviewed_sdists=_reviewed(section, doc),
        mirrors=_mirrors(section, doc),
        limits=_limits(section, doc),
        config_location=Location(doc.path),
        audit=_audit(section, doc),
        excludes=_excludes(section, doc),
        build=_build(section, doc),
    )
    from lockaudit.workspace.graph import build_order  # graph validates parents and cycles

    explicit = _explicit_target_fields(raw_images)
    return replace(workspace, images=_inherit_targets(build_order(workspace), explicit))


_FIELD_OF_KEY = {"python": "python", "platform": "system", "arch": "arch", "glibc": "glibc"}


def _explicit_target_fields(raw_images: list[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Image key -> the Target fields its own `target` table sets (the rest are inherited)."""
    explicit: dict[str, set[str]] = {}
    for raw in raw_images:
        name, tag = raw.get("name"), raw.get("tag")
        own = raw.get("target", {})
        explicit[f"{name}:{tag}"] = {_FIELD_OF_KEY[k] for k in own if k in _FIELD_OF_KEY}
        fallback = raw.get("fallback")
        if isinstance(fallback, dict):
            fb_own = fallback.get("target", {})
            explicit[f"{name}:{fallback.get('tag', 'cpu')}"] = {
                _FIELD_OF_KEY[k] for k in fb_own if k in _FIELD_OF_KEY
            }
    return explicit


def _inherit_targets(
    images: tuple[Image, ...], explicit: Mapping[str, set[str]]
) -> tuple[Image, ...]:
    """A child image runs on its parent's interpreter and libc: inherit what it does not set.

    Only the interpreter and platform fields are inherited; the variant (and so the CUDA
    version) is the image's own, since a CPU fallback sits on a CPU parent by design.
    """
    done: dict[str, Image] = {}
    for image in images:
        if image.parent is not None:
            parent = done[image.parent].target
            inherited = {
                field: getattr(parent, field)
                for field in _FIELD_OF_KEY.values()
                if field not in explicit.get(image.key, set())
            }
            image = replace(image, target=replace(image.target, **inherited))
        done[image.key] = image
    return images and tuple(done[image.key] for image in images)


def _images(raw: Mapping[str, Any], defaults: Target, doc: _Doc, after: int) -> list[Image]:
    _unknown_keys(raw, _IMAGE_KEYS, "[[tool.lockaudit.images]]", doc, "name", after=after)
    name = _required_str(raw, "name", doc, after)
    tag = _required_str(raw, "tag", doc, after)
    _check_reference(name, tag, doc, after)
    variant = _variant(raw, doc, after, default=Variant.CUDA if tag == "cuda" else Variant.CPU)
    target = _target(_table(raw, "target", doc), replace(defaults, variant=variant), doc, after)
    if variant is Variant.CPU:
        target = replace(target, cuda=None)
    parent = _opt_str(raw, "parent", doc, None, after=after)
    base_image = _opt_str(raw, "base-image", doc, None, after=after)
    if parent is None and base_image is None:
        raise doc.error(
            f"image {name}:{tag} has neither `parent` nor `base-image`",
            "name",
            after=after - 1,
            hint="set `parent` to a workspace image key or `base-image` to the external image",
        )
    image = Image(
        name=name,
        tag=tag,
        dockerfile=_required_str(raw, "dockerfile", doc, after),
        parent=parent,
        base_image=base_image if parent is None else None,
        requirements=tuple(_str_list(raw, "requirements", doc, [], after=after)),
        target=target,
        build_args=_build_args(raw, doc, after),
        inherits_common=bool(raw.get("inherits-common", True)),
        context=_str(raw, "context", doc, ".", after=after),
        cache_from=_cache_specs(raw, "cache-from", doc, after),
        cache_to=_cache_specs(raw, "cache-to", doc, after),
        python=_bool(raw, "python", doc, True, after=after),
        locks_dir=_image_locks(raw, doc, after),
        stage=_opt_str(raw, "stage", doc, None, after=after),
        from_inserted=_bool(raw, "from-inserted", doc, False, after=after),
    )
    result = [image]
    fallback = raw.get("fallback")
    if fallback is not None:
        if not isinstance(fallback, dict):
            raise doc.error("`fallback` must be a table", "fallback", after=after)
        result.append(_fallback(image, fallback, defaults, doc, after))
    return result


def _fallback(
    image: Image, raw: Mapping[str, Any], defaults: Target, doc: _Doc, after: int
) -> Image:
    _unknown_keys(raw, _FALLBACK_KEYS, "fallback", doc, "fallback", after=after)
    variant = _variant(raw, doc, after, default=Variant.CPU)
    target = _target(_table(raw, "target", doc), replace(defaults, variant=variant), doc, after)
    if variant is Variant.CPU:
        target = replace(target, cuda=None)
    tag = _str(raw, "tag", doc, "cpu", after=after)
    _check_reference(image.name, tag, doc, doc.line_of("fallback", after=after))
    return Image(
        name=image.name,
        tag=tag,
        dockerfile=image.dockerfile,
        parent=_required_str(raw, "parent", doc, after),
        base_image=None,
        # Empty means "compute": the requirements of the ancestors the fallback no longer has.
        requirements=tuple(_str_list(raw, "requirements", doc, [], after=after)),
        target=target,
        variant_of=image.key,
        build_args=_build_args(raw, doc, after),
        inherits_common=image.inherits_common,
        context=image.context,
        stage=image.stage,  # the same Dockerfile and stage, other build args
        # The twin's cache specs, unless the fallback sets its own: placeholders make them
        # the fallback's own references.
        cache_from=_cache_specs(raw, "cache-from", doc, after) or image.cache_from,
        cache_to=_cache_specs(raw, "cache-to", doc, after) or image.cache_to,
        python=image.python,
        locks_dir=image.locks_dir,  # the same build context: the same place for its locks
        from_inserted=image.from_inserted,  # the same build writes the FROM (its own parent)
    )


def _image_locks(raw: Mapping[str, Any], doc: _Doc, after: int) -> str | None:
    locks = _opt_str(raw, "locks", doc, None, after=after)
    if locks is not None:
        _check_inside(locks, "locks", doc)
    return locks


def _fill_fallback_requirements(images: list[Image]) -> list[Image]:
    """A CPU fallback loses the layers of its CUDA twin's ancestors: it installs them itself."""
    by_key = {image.key: image for image in images}

    def chain(key: str | None) -> list[Image]:
        seen: list[Image] = []
        while key is not None and key in by_key and len(seen) < len(by_key):
            seen.append(by_key[key])
            key = by_key[key].parent
        return seen

    filled: list[Image] = []
    for image in images:
        if image.variant_of is None or image.requirements:
            filled.append(image)
            continue
        twin = by_key[image.variant_of]
        kept = {req for ancestor in chain(image.parent) for req in ancestor.requirements}
        lost = [
            req
            for ancestor in reversed(chain(twin.parent))
            for req in ancestor.requirements
            if req not in kept
        ]
        requirements = tuple(dict.fromkeys([*lost, *twin.requirements]))
        filled.append(replace(image, requirements=requirements))
    return filled


def _check_unique(images: list[Image], declared: list[int], doc: _Doc) -> None:
    """A key declared twice is an error at the second declaration (the first one is kept)."""
    first: dict[str, int] = {}
    for image, line in zip(images, declared, strict=True):
        if image.key in first:
            raise InputError(
                Location(doc.path, line),
                f"image {image.key} is declared twice (first at line {first[image.key]})",
                hint="give one of them another name or tag",
            )
        first[image.key] = line


def _check_reference(name: str, tag: str, doc: _Doc, after: int) -> None:
    """Reject a name or tag outside Docker's reference grammar, at the line that sets it."""
    if not _NAME_RE.fullmatch(name):
        raise doc.error(
            f"image name {name!r} is not a valid Docker image name",
            "name",
            after=after - 1,
            hint="lower-case letters and digits, separated by `.`, `_`, `-` or `/` "
            "(no `..`, no leading `/`)",
        )
    if not _TAG_RE.fullmatch(tag):
        raise doc.error(
            f"tag {tag!r} of image {name} is not a valid Docker tag",
            "tag",
            after=after,
            hint="up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
        )


def _check_inside(relative: str, key: str, doc: _Doc) -> None:
    """An output folder of the config stays inside the workspace (lexically; symlinks are
    checked where files are written, since they can change after the config loads)."""
    parts = Path(relative).parts
    if Path(relative).is_absolute() or ".." in parts:
        raise doc.error(
            f"`{key}` must be a folder inside the workspace, not {relative!r}",
            key,
            hint="a path relative to the workspace root, without `..`",
        )


def _mirrors(section: Mapping[str, Any], doc: _Doc) -> tuple[tuple[str, str], ...]:
    table = _table(section, "mirrors", doc)
    for key, value in table.items():
        if not isinstance(value, str) or not value:
            raise doc.error(
                f'mirror of {key!r} must be a URL or "default"',
                key,
                after=doc.line_of("mirrors"),
            )
    return tuple(sorted(table.items()))


def _limits(section: Mapping[str, Any], doc: _Doc) -> tuple[tuple[str, float], ...]:
    table = _table(section, "limits", doc)
    after = doc.line_of("tool.lockaudit.limits")
    _unknown_keys(table, set(LIMIT_KEYS), "[tool.lockaudit.limits]", doc, "limits", after=after)
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise doc.error(f"limit {key!r} must be a positive number", key, after=after)
    return tuple(sorted((key, float(value)) for key, value in table.items()))


def _reviewed(section: Mapping[str, Any], doc: _Doc) -> tuple[ReviewedSdist, ...]:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    found: list[ReviewedSdist] = []
    table = _table(section, "reviewed-sdists", doc)
    for key, value in table.items():
        line = doc.line_of(key.split("==")[0], after=doc.line_of("reviewed-sdists"))
        where = Location(doc.path, line)
        name, sep, version = key.partition("==")
        try:
            Version(version)
        except InvalidVersion:
            sep = ""
        if not sep or not name.strip():
            raise InputError(where, f"reviewed-sdists key {key!r} must be NAME==VERSION")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(where, f"reviewed-sdists {key!r} must be a list of requirements")
        for text in value:
            try:
                Requirement(text)
            except InvalidRequirement as e:
                raise InputError(where, f"invalid requirement {text!r}: {e}") from e
        found.append(ReviewedSdist(normalize(name.strip()), version, tuple(value), where))
    return tuple(sorted(found, key=lambda r: (r.name, r.version)))


def _excludes(section: Mapping[str, Any], doc: _Doc) -> tuple[Exclude, ...]:
    """``exclude = [{path = "...", reason = "..."}]``: Dockerfiles that are not images."""
    raw = section.get("exclude", [])
    # after [tool.lockaudit]: other tools' `exclude` keys (ruff's) come earlier in the file
    after = doc.line_of("exclude", after=doc.line_of("tool.lockaudit"))
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise doc.error(
            '`exclude` must be a list of tables like {path = "...", reason = "..."}',
            "exclude",
            hint="one table per Dockerfile (or glob) that is deliberately not an image",
        )
    found: list[Exclude] = []
    for item in raw:
        pattern = item.get("path")
        line = _value_line(doc, "exclude", pattern, after) if isinstance(pattern, str) else after
        where = Location(doc.path, line)
        unknown = sorted(set(item) - {"path", "reason"})
        if unknown:
            raise InputError(
                where,
                f"unknown key {unknown[0]!r} in an `exclude` entry",
                hint="allowed: path, reason",
            )
        if not isinstance(pattern, str) or not pattern.strip():
            raise InputError(where, "an `exclude` entry needs `path`, a non-empty string")
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise InputError(
                where, f"exclude path {pattern!r} must be relative to the workspace, without `..`"
            )
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise InputError(
                where,
                f"exclude {pattern!r} needs a `reason`",
                hint='say why this Dockerfile is not an image, e.g. reason = "test data"',
            )
        found.append(Exclude(pattern, reason.strip(), where))
    return tuple(found)


def _audit(section: Mapping[str, Any], doc: _Doc) -> AuditSettings:
    """``[tool.lockaudit.audit]``; rule names are checked against the rules by the audit."""
    raw = _table(section, "audit", doc)
    if not raw:
        return AuditSettings()
    after = doc.line_of("tool.lockaudit.audit")
    _unknown_keys(raw, _AUDIT_KEYS, "[tool.lockaudit.audit]", doc, "audit", after=after)
    lines: dict[str, int] = {}

    def selectors(key: str) -> tuple[str, ...]:
        values = _str_list(raw, key, doc, [], after=after)
        for value in values:
            lines.setdefault(value, _value_line(doc, key, value, after))
            if not _RULE_NAME.match(value):
                raise InputError(
                    Location(doc.path, lines[value]),
                    f"`{key}`: {value!r} is not a rule name (lower-case words joined by -)",
                )
        return tuple(values)

    select, ignore = selectors("select"), selectors("ignore")
    overrides = _table(raw, "severity", doc, after=after)
    severity: list[tuple[str, Severity]] = []
    for rule, value in overrides.items():
        lines.setdefault(rule, _value_line(doc, "severity", rule, after))
        if not isinstance(value, str) or value not in set(Severity):
            raise InputError(
                Location(doc.path, lines[rule]),
                f"severity.{rule} must be one of {_severities()}, not {value!r}",
            )
        severity.append((rule, Severity(value)))
    fail_on = raw.get("fail-on", Severity.ERROR.value)
    if not isinstance(fail_on, str) or fail_on not in set(Severity):
        raise doc.error(
            f"`fail-on` must be one of {_severities()}, not {fail_on!r}", "fail-on", after=after
        )
    return AuditSettings(
        select, ignore, tuple(severity), Severity(fail_on), tuple(sorted(lines.items()))
    )


def _build(section: Mapping[str, Any], doc: _Doc) -> BuildSettings:
    """``[tool.lockaudit.build]``: the default builder and cache specs of every image."""
    raw = _table(section, "build", doc)
    if not raw:
        return BuildSettings()
    after = doc.line_of("tool.lockaudit.build")
    _unknown_keys(raw, _BUILD_KEYS, "[tool.lockaudit.build]", doc, "build", after=after)
    return BuildSettings(
        builder=_opt_str(raw, "builder", doc, None, after=after),
        cache_from=_cache_specs(raw, "cache-from", doc, after) or (),
        cache_to=_cache_specs(raw, "cache-to", doc, after) or (),
    )


def _cache_specs(raw: Mapping[str, Any], key: str, doc: _Doc, after: int) -> tuple[str, ...] | None:
    """A list of BuildKit cache specs, or None when ``key`` is absent (the default applies)."""
    if key not in raw:
        return None
    specs = _str_list(raw, key, doc, [], after=after)
    for spec in specs:
        problem = cache_spec_problem(spec)
        if problem:
            raise doc.error(f"`{key}`: {problem}", key, after=after)
    return tuple(specs)


def cache_spec_problem(spec: str) -> str | None:
    """Why ``spec`` cannot be a cache spec (None when it can); the CLI checks its own too."""
    import string

    if not spec.strip() or any(c in spec for c in "\n\r\0"):
        return f"{spec!r} is not a cache spec like type=registry,ref=REGISTRY/REPO:{{slug}}"
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(spec) if f is not None}
    except ValueError as e:
        return f"{spec!r}: {e}"
    unknown = sorted(fields - CACHE_PLACEHOLDERS)
    if unknown:
        allowed = ", ".join("{" + p + "}" for p in sorted(CACHE_PLACEHOLDERS))
        return f"{spec!r} names {{{unknown[0]}}}; placeholders are {allowed}"
    return None


def _severities() -> str:
    return ", ".join(repr(s.value) for s in Severity)


def _value_line(doc: _Doc, key: str, value: str, after: int) -> int:
    """The line of ``value`` (quoted, or a bare key) at or after ``key`` of the audit table."""
    start = doc.line_of(key, after=after)
    pattern = re.compile(rf"(^|[\s{{,\[\"']){re.escape(value)}([\s=,\]\"']|$)")
    for number, text in enumerate(doc.lines[start - 1 :], start=start):
        if pattern.search(text):
            return number
    return start


def _constraints(section: Mapping[str, Any], doc: _Doc) -> list[tuple[Variant | None, str]]:
    result: list[tuple[Variant | None, str]] = []
    for raw in _list_of_tables(section, "constraints", doc):
        after = doc.line_of("tool.lockaudit.constraints")
        _unknown_keys(raw, {"file", "variant"}, "[[tool.lockaudit.constraints]]", doc, "file")
        variant = _variant(raw, doc, after, default=None)
        result.append((variant, _required_str(raw, "file", doc, after)))
    return result


def _indexes(section: Mapping[str, Any], doc: _Doc) -> list[PackageIndex]:
    result: list[PackageIndex] = []
    for raw in _list_of_tables(section, "indexes", doc):
        after = doc.line_of("tool.lockaudit.indexes")
        _unknown_keys(
            raw,
            {"name", "url", "variant", "packages", "link-hosts"},
            "[[tool.lockaudit.indexes]]",
            doc,
            "url",
        )
        result.append(
            PackageIndex(
                name=_required_str(raw, "name", doc, after),
                url=_required_str(raw, "url", doc, after),
                packages=tuple(normalize(p) for p in _str_list(raw, "packages", doc, [])),
                variant=_variant(raw, doc, after, default=None),
                link_hosts=_link_hosts(raw, doc, after),
            )
        )
    return result


_HOST = re.compile(
    r"([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?"  # name | [v6]
)


def _link_hosts(raw: Mapping[str, Any], doc: _Doc, after: int) -> tuple[str, ...]:
    """``link-hosts``: bare hosts (``files.example``, ``cdn.example:8443``), never URLs, so a
    scheme, path or credentials cannot slip into what is trusted."""
    hosts = _str_list(raw, "link-hosts", doc, [], after=after)
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise doc.error(
                f"link-hosts: {host!r} is not a host name or host:port",
                "link-hosts",
                after=after,
                hint='write the bare host, like "files.example" or "files.example:8443"',
            )
    return tuple(host.lower() for host in hosts)


def _target(raw: Mapping[str, Any], base: Target, doc: _Doc, after: int) -> Target:
    _unknown_keys(raw, _TARGET_KEYS, "target", doc, "target", after=after)
    values = {key: raw[key] for key in _TARGET_KEYS if key in raw}
    for key, value in values.items():
        if not isinstance(value, str):
            raise doc.error(
                f"target.{key} must be a string, not {type(value).__name__}", key, after=after
            )
    python = values.get("python", base.python)
    if not re.fullmatch(r"\d+\.\d+\.\d+", python):
        raise doc.error(
            f"target.python must be a full version like 3.11.7, not {python!r}",
            "python",
            after=after,
            hint="Requires-Python checks need the patch version",
        )
    return replace(
        base,
        python=python,
        system=values.get("platform", base.system),
        arch=values.get("arch", base.arch),
        glibc=values.get("glibc", base.glibc),
        cuda=values.get("cuda", base.cuda),
    )


def _variant(raw: Mapping[str, Any], doc: _Doc, after: int, *, default: Variant | None) -> Any:
    value = raw.get("variant")
    if value is None:
        return default
    try:
        return Variant(value)
    except ValueError:
        raise doc.error(
            f"variant must be 'cuda' or 'cpu', not {value!r}", "variant", after=after
        ) from None


def _build_args(raw: Mapping[str, Any], doc: _Doc, after: int) -> tuple[tuple[str, str], ...]:
    args = _table(raw, "build-args", doc, after=after)
    for key, value in args.items():
        if not isinstance(value, str):
            raise doc.error(f"build-args.{key} must be a string", "build-args", after=after)
    return tuple(sorted(args.items()))


def _table(raw: Mapping[str, Any], key: str, doc: _Doc, *, after: int = 0) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise doc.error(f"`{key}` must be a table, not {type(value).__name__}", key, after=after)
    return value


def _list_of_tables(raw: Mapping[str, Any], key: str, doc: _Doc) -> list[Mapping[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise doc.error(f"`{key}` must be an array of tables ([[tool.lockaudit.{key}]])", key)
    return value


# ``after``: the line the enclosing table starts at, so an error names this table's key and
# not the first key of that name in the file.
def _str(raw: Mapping[str, Any], key: str, doc: _Doc, default: str, *, after: int = 0) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise doc.error(f"`{key}` must be a string, not {type(value).__name__}", key, after=after)
    return value


def _bool(raw: Mapping[str, Any], key: str, doc: _Doc, default: bool, *, after: int = 0) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        kind = type(value).__name__
        raise doc.error(f"`{key}` must be true or false, not {kind}", key, after=after)
    return value


def _opt_str(
    raw: Mapping[str, Any], key: str, doc: _Doc, default: str | None, *, after: int = 0
) -> str | None:
    value = raw.get(key, default)
    if value is not None and not isinstance(value, str):
        raise doc.error(f"`{key}` must be a string, not {type(value).__name__}", key, after=after)
    return value or None


def _required_str(raw: Mapping[str, Any], key: str, doc: _Doc, after: int) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise doc.error(f"`{key}` is required and must be a non-empty string", key, after=after)
    return value


def _str_list(
    raw: Mapping[str, Any], key: str, doc: _Doc, default: list[str], *, after: int = 0
) -> list[str]:
    value = raw.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise doc.error(f"`{key}` must be a list of strings", key, after=after)
    return value


def _unknown_keys(
    raw: Mapping[str, Any], allowed: set[str], where: str, doc: _Doc, anchor: str, *, after: int = 0
) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise doc.error(
            f"unknown key {unknown[0]!r} in {where}",
            unknown[0],
            after=after,
            hint="allowed: " + ", ".join(sorted(allowed)),
        )


def load_unused_allowlist(root: Path) -> frozenset[str]:
    """``[tool.lockaudit.unused] allow`` of the workspace's pyproject.toml (names as written)."""
    path = root / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return frozenset()  # the workspace load has already reported a broken configuration
    table = data.get("tool", {}).get("lockaudit", {}).get("unused", {})
    allow = table.get("allow", []) if isinstance(table, dict) else []
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise InputError(
            Location("pyproject.toml", _allow_line(path)),
            "[tool.lockaudit.unused] allow must be a list of strings",
        )
    return frozenset(allow)


def _allow_line(path: Path) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next((n for n, text in enumerate(lines, 1) if text.strip().startswith("allow")), 1)
