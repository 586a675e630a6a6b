"""CI workflows: GitHub Actions (``.github/workflows/*.yml``) and GitLab CI (``.gitlab-ci.yml``).

What builds an image there: ``docker build`` / ``docker buildx build`` lines of ``run:`` and
``script:`` blocks (read as the build scripts are), and ``docker/build-push-action`` steps
(``with: file, context, tags, build-args, target``). A job's matrix is expanded: one fact per
combination where it changes what is built. A GitHub expression is replaced by its value when
that is static (``matrix.*``, ``env.*``, the default of ``inputs.*``); any other expression
(``github.sha``, ``secrets.*``) is unknown and never becomes a name. What a ``run:`` step writes
to ``$GITHUB_OUTPUT`` (``echo "tag=cuda${v}" >> $GITHUB_OUTPUT``, with static values) is read
back as ``steps.<id>.outputs.tag`` in the job's later steps; what it writes to ``$GITHUB_ENV``
as ``env.*``.
"""

from __future__ import annotations

import itertools
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from yaml.nodes import Node

from lockaudit.errors import Location
from lockaudit.workspace.discover import _yaml
from lockaudit.workspace.discover._facts import (
    UNKNOWN,
    BuildFact,
    is_static,
    partial,
    static_args,
    static_name,
    static_ref,
)
from lockaudit.workspace.discover._scan import (
    CI_ENV_FILE,
    CI_OUTPUT_FILE,
    Call,
    Inserts,
    logical_lines,
    scan_call,
    shell_facts,
)

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_MAX_COMBINATIONS = 256  # a matrix larger than this is read as unknown
_GITLAB_KEYWORDS = frozenset(
    {"stages", "variables", "default", "include", "workflow", "image", "services", "cache",
     "before_script", "after_script"}
)
Combination = dict[str, str]


def is_workflow(path: str) -> bool:
    return bool(re.fullmatch(r"\.github/workflows/[^/]+\.ya?ml", path))


def is_gitlab_ci(path: str) -> bool:
    return posixpath.basename(path) in (".gitlab-ci.yml", ".gitlab-ci.yaml")


# -- values ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    """What a GitHub expression may name in one job and one matrix combination."""

    matrix: Mapping[str, str]
    env: Mapping[str, str]
    inputs: Mapping[str, str]
    steps: Mapping[str, str] = field(default_factory=dict)  # "<id>.outputs.<name>" -> value

    def value(self, expression: str) -> str:
        """An expression's value: context values, string literals, ``==``/``!=`` and the
        ``cond && a || b`` idiom; anything else is unknown."""
        if "(" in expression or "[" in expression:
            return UNKNOWN  # function calls, indexing: not evaluated
        alternatives = _split(expression, "||")
        if len(alternatives) == 1 and len(_split(expression, "&&")) == 1:
            return self._compare(expression)  # a value as far as it is known
        for alternative in alternatives:
            values = [self._compare(part) for part in _split(alternative, "&&")]
            if not all(is_static(v) for v in values):
                return UNKNOWN
            if all(_truthy(v) for v in values):
                return values[-1]
        return ""

    def _compare(self, text: str) -> str:
        for op in ("!=", "=="):
            left, found, right = text.partition(op)
            if found:
                a, b = self._operand(left), self._operand(right)
                if not (is_static(a) and is_static(b)):
                    return UNKNOWN
                return "true" if (a == b) == (op == "==") else "false"
        return self._operand(text)

    def _operand(self, text: str) -> str:
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] == "'":
            return text[1:-1].replace("''", "'")
        if text in ("true", "false"):
            return text
        for prefix, values in (("matrix.", self.matrix), ("env.", self.env),
                               ("inputs.", self.inputs), ("steps.", self.steps)):
            if text.startswith(prefix):
                found = values.get(text.removeprefix(prefix))
                return UNKNOWN if found is None else partial(found)
        return UNKNOWN

    def substitute(self, text: str) -> str:
        return _EXPRESSION.sub(lambda m: self.value(m.group(1)), text)


def _split(text: str, op: str) -> list[str]:
    """``text`` split at ``op`` outside quotes."""
    parts, current, quoted, i = [], "", False, 0
    while i < len(text):
        if text[i] == "'":
            quoted = not quoted
        if not quoted and text.startswith(op, i):
            parts.append(current)
            current, i = "", i + len(op)
            continue
        current += text[i]
        i += 1
    return [*parts, current]


def _truthy(value: str) -> bool:
    return value not in ("", "false", "0", "null")


def _env(node: Node | None, scope: _Scope) -> dict[str, str]:
    """An ``env:``/``variables:`` mapping, each value substituted (unknown when not static)."""
    out: dict[str, str] = {}
    for key, value in _yaml.mapping(node).items():
        text = _yaml.scalar(value)
        if text is None:
            text = _yaml.scalar(_yaml.mapping(value).get("value"))  # GitLab {value: …}
        if text is not None:
            text = scope.substitute(text)
            out[key] = partial(text)
    return out


# -- matrices -------------------------------------------------------------------------------------


def _flat(prefix: str, node: Node) -> Iterator[tuple[str, str]]:
    """A matrix value as ``matrix.<key>`` names: a mapping value gives ``key.sub``."""
    text = _yaml.scalar(node)
    if text is not None:
        yield prefix, text
        return
    for key, value in _yaml.mapping(node).items():
        yield from _flat(f"{prefix}.{key}", value)


def _entry(node: Node) -> Combination:
    return {k: v for key, value in _yaml.mapping(node).items() for k, v in _flat(key, value)}


def github_matrix(node: Node | None) -> list[Combination] | None:
    """Every combination of ``strategy.matrix`` (include/exclude applied); None when the matrix
    is an expression or too large to be worth knowing."""
    if node is None:
        return [{}]
    if _yaml.scalar(node) is not None:
        return None  # ${{ fromJSON(needs.x.outputs.matrix) }}
    axes: list[list[tuple[str, Node]]] = []
    include: list[Combination] = []
    exclude: list[Combination] = []
    for key, value in _yaml.mapping(node).items():
        if key == "include":
            include = [_entry(item) for item in _yaml.sequence(value)]
        elif key == "exclude":
            exclude = [_entry(item) for item in _yaml.sequence(value)]
        else:
            axes.append([(key, item) for item in _yaml.sequence(value)])
    size = 1
    for axis in axes:
        size *= max(len(axis), 1)
    if size > _MAX_COMBINATIONS:
        return None
    combos = [
        {k: v for key, item in combo for k, v in _flat(key, item)}
        for combo in itertools.product(*axes)
    ]
    combos = [c for c in combos if not any(_matches(c, e) for e in exclude)]
    return _include(combos if axes else [], include) or [{}]


def _matches(combo: Combination, partial: Combination) -> bool:
    return all(combo.get(k) == v for k, v in partial.items())


def _include(combos: list[Combination], include: list[Combination]) -> list[Combination]:
    """GitHub's rule: an include entry extends every combination whose original values it does
    not overwrite; one that extends none is a combination of its own."""
    originals = [dict(c) for c in combos]
    out = [dict(c) for c in combos]
    for entry in include:
        extended = False
        for original, combo in zip(originals, out, strict=True):
            if all(original.get(k, v) == v for k, v in entry.items()):
                combo.update(entry)
                extended = True
        if not extended:
            out.append(dict(entry))
            originals.append(dict(entry))
    return out


def gitlab_matrix(job: dict[str, Node]) -> list[Combination]:
    """``parallel: matrix:`` of a GitLab job: each entry's axes multiplied out."""
    parallel = _yaml.mapping(job.get("parallel")).get("matrix")
    combos: list[Combination] = []
    for entry in _yaml.sequence(parallel):
        axes = [
            [(key, text) for text, _ in _yaml.strings(value)]
            for key, value in _yaml.mapping(entry).items()
        ]
        combos += [dict(combo) for combo in itertools.product(*axes)]
    return combos[:_MAX_COMBINATIONS] or [{}]


# -- GitHub Actions -------------------------------------------------------------------------------


def scan_github(root: Path, path: str) -> list[BuildFact]:
    return _unique(_workflow_facts(root, path, None, frozenset({path})))


def _workflow_facts(
    root: Path, path: str, given: dict[str, str] | None, calling: frozenset[str]
) -> list[BuildFact]:
    """A workflow's facts; ``given`` are the inputs a calling job passes (``with:``)."""
    doc = _yaml.mapping(_yaml.load(root, path))
    on = doc.get("on") or doc.get("true")
    inputs = {**_input_defaults(on), **(given or {})}
    if given is not None:  # a called workflow's input its caller does not pass is empty
        inputs = {**_unset_inputs(on), **inputs}
    facts: list[BuildFact] = []
    for job_node in _yaml.mapping(doc.get("jobs")).values():
        job = _yaml.mapping(job_node)
        called = _local_workflow(_yaml.scalar(job.get("uses")) or "")
        if called is None:
            facts += _job_facts(root, path, doc, job, inputs)
        elif called not in calling and len(calling) < 4 and (root / called).is_file():
            for combo in github_matrix(_yaml.mapping(job.get("strategy")).get("matrix")) or [{}]:
                scope = _Scope(combo, _env(doc.get("env"), _Scope(combo, {}, inputs)), inputs)
                passed = _env(job.get("with"), scope)
                facts += _workflow_facts(root, called, passed, calling | {called})
    return facts


def _local_workflow(uses: str) -> str | None:
    """``./.github/workflows/build.yml`` of a job that calls a workflow of this repository."""
    path = uses.removeprefix("./")
    return path if uses.startswith("./") and is_workflow(path) else None


def _input_defaults(on: Node | None) -> dict[str, str]:
    """``workflow_dispatch``/``workflow_call`` inputs with a static default."""
    out: dict[str, str] = {}
    for event in ("workflow_dispatch", "workflow_call"):
        trigger = _yaml.mapping(_yaml.mapping(on).get(event))
        for name, spec in _yaml.mapping(trigger.get("inputs")).items():
            default = _yaml.scalar(_yaml.mapping(spec).get("default"))
            if default is not None:
                out[name] = default
    return out


def _unset_inputs(on: Node | None) -> dict[str, str]:
    """What a ``workflow_call`` input no caller passes and with no default reads as: GitHub's
    empty value of its type."""
    empty = {"boolean": "false", "number": "0"}
    trigger = _yaml.mapping(_yaml.mapping(on).get("workflow_call"))
    return {
        name: empty.get(_yaml.scalar(_yaml.mapping(spec).get("type")) or "", "")
        for name, spec in _yaml.mapping(trigger.get("inputs")).items()
    }


def _job_facts(
    root: Path, path: str, doc: dict[str, Node], job: dict[str, Node], inputs: dict[str, str]
) -> list[BuildFact]:
    combos = github_matrix(_yaml.mapping(job.get("strategy")).get("matrix"))
    facts: list[BuildFact] = []
    for combo in combos if combos is not None else [{}]:
        scope = _Scope(combo, {}, inputs)
        scope = replace(scope, env=_env(doc.get("env"), scope))
        scope = replace(scope, env={**scope.env, **_env(job.get("env"), scope)})
        exported: dict[str, str] = {}  # what earlier steps wrote to $GITHUB_ENV
        inserts: Inserts = {}  # lines earlier steps wrote atop Dockerfiles (sed -i '1i …')
        outputs: dict[str, str] = {}  # what they wrote to $GITHUB_OUTPUT, by step id
        metadata: dict[str, list[str]] = {}  # docker/metadata-action step id -> its tags
        for step_node in _yaml.sequence(job.get("steps")):
            step = _yaml.mapping(step_node)
            base = replace(scope, env={**scope.env, **exported}, steps=dict(outputs))
            step_scope = replace(base, env={**base.env, **_env(step.get("env"), base)})
            written: dict[str, str] = {}
            calls: list[Call] = []
            built = _step_facts(
                path, step, step_scope, exported, written, metadata, calls, inserts
            )
            files = {CI_ENV_FILE: exported, CI_OUTPUT_FILE: written}
            shell_env = {**step_scope.env, "GITHUB_ENV": CI_ENV_FILE,
                         "GITHUB_OUTPUT": CI_OUTPUT_FILE}
            built += [f for call in calls
                      for f in scan_call(root, call, shell_env, files, inserts)]
            cells = combos is not None and len(combos) > 1
            facts += [replace(f, matrix_cell=True) for f in built] if cells else built
            step_id = _yaml.scalar(step.get("id"))
            if step_id is not None:
                outputs.update((f"{step_id}.outputs.{k}", v) for k, v in written.items())
    return facts


def _step_facts(
    path: str, step: dict[str, Node], scope: _Scope, exported: dict[str, str],
    written: dict[str, str], metadata: dict[str, list[str]], calls: list[Call] | None = None,
    inserts: Inserts | None = None,
) -> list[BuildFact]:
    """One step's builds; ``exported`` and ``written`` receive what a ``run:`` step appends to
    ``$GITHUB_ENV`` and to ``$GITHUB_OUTPUT``, ``calls`` the repository's scripts it runs."""
    run = step.get("run")
    text = _yaml.scalar(run)
    if text is not None and run is not None:
        lines = logical_lines(scope.substitute(text), _yaml.line(run))
        env = {**scope.env, "GITHUB_ENV": CI_ENV_FILE, "GITHUB_OUTPUT": CI_OUTPUT_FILE}
        files = {CI_ENV_FILE: exported, CI_OUTPUT_FILE: written}
        return shell_facts(lines, path, "sh", env, exports=files, calls=calls, inserts=inserts)
    uses = _yaml.scalar(step.get("uses")) or ""
    given = _yaml.mapping(step.get("with"))
    if uses.startswith("docker/metadata-action@"):
        step_id = _yaml.scalar(step.get("id"))
        if step_id is not None:
            metadata[step_id] = _metadata_tags(given, scope)
    if uses.startswith("docker/build-push-action@"):
        line = _yaml.line(step["uses"])
        return _build_push(path, line, given, scope, metadata)
    return []


def _metadata_tags(given: dict[str, Node], scope: _Scope) -> list[str]:
    """The references a ``docker/metadata-action`` step makes: each image with each
    ``type=raw`` value that is static (semver, sha and ref tags only a run knows); the bare
    images when there is none (their names are still the repository's). A tag whose
    ``enable=`` only a run knows (``latest`` on the default base) counts only when no tag
    every run gets is static."""
    images = [i for i, _ in _list_items(given.get("images"), scope) if is_static(i)]
    always: list[str] = []
    sometimes: list[str] = []
    text = _yaml.scalar(given.get("tags")) or ""
    for raw in text.splitlines():
        fields = dict(part.strip().partition("=")[::2] for part in raw.split(","))
        enable = scope.substitute(fields.get("enable", "true"))
        if is_static(enable) and not _truthy(enable):
            continue
        if fields.get("type") == "raw":
            value = scope.substitute(fields.get("value", ""))
            if value and is_static(value):
                (always if is_static(enable) else sometimes).append(value)
    values = always or sometimes
    return [f"{image}:{value}" for image in images for value in values] or images


def _build_push(
    path: str, line: int, given: dict[str, Node], scope: _Scope,
    metadata: Mapping[str, list[str]] | None = None,
) -> list[BuildFact]:
    """A ``docker/build-push-action`` step: its ``with:`` inputs as one fact per tag (the tags
    of a metadata-action step when ``tags`` names its output)."""

    def value(key: str) -> str | None:
        text = _yaml.scalar(given.get(key))
        return scope.substitute(text) if text is not None else None

    context = value("context") or "."
    dockerfile = value("file") or posixpath.join(context, "Dockerfile")
    if not is_static(context + dockerfile) or "://" in context:
        return []
    args, arg_lines = static_args(
        [(k, v, n) for k, v, n in _list_pairs(given.get("build-args"), scope)]
    )
    target = value("target")
    fact = BuildFact(
        dockerfile=posixpath.normpath(dockerfile),
        ref=None,
        context=posixpath.normpath(context),
        location=Location(path, line),
        build_args=args,
        arg_lines=arg_lines,
        source="docker/build-push-action",
        target=target if target and is_static(target) else None,
    )
    tags = [t for t, _ in _list_items(given.get("tags"), scope)]
    raw_tags = _yaml.scalar(given.get("tags")) or ""
    for step_id in re.findall(r"steps\.([\w-]+)\.outputs\.tags", raw_tags):
        if (metadata or {}).get(step_id):
            tags = list((metadata or {})[step_id])
            break
    refs = [ref for tag in tags if (ref := static_ref(tag)) is not None]
    names = [name for tag in tags if (name := static_name(tag)) is not None]
    return [replace(fact, ref=ref) for ref in refs] or [replace(fact, name=next(iter(names), None))]


def _list_items(node: Node | None, scope: _Scope) -> list[tuple[str, int]]:
    """An action's list input: newline- or comma-separated text, or a YAML list."""
    items: list[tuple[str, int]] = []
    text = _yaml.scalar(node)
    if text is not None and node is not None:
        first = _yaml.line(node)
        for offset, raw in enumerate(scope.substitute(text).splitlines()):
            items += [(part.strip(), first + offset) for part in raw.split(",") if part.strip()]
        return items
    return [(scope.substitute(s), n) for s, n in _yaml.strings(node)]


def _list_pairs(node: Node | None, scope: _Scope) -> list[tuple[str, str, int]]:
    """``build-args``: one ``KEY=value`` a line (values may hold commas)."""
    text = _yaml.scalar(node)
    if text is not None and node is not None:
        first = _yaml.line(node)
        text = scope.substitute(text)
        lines = [(raw.strip(), first + n) for n, raw in enumerate(text.splitlines())]
    else:
        lines = [(scope.substitute(s), n) for s, n in _yaml.strings(node)]
    return [
        (key.strip(), value.strip(), n)
        for raw, n in lines
        for key, eq, value in [raw.partition("=")]
        if eq and key.strip()
    ]


# -- GitLab CI -----------------------------------------------------------------------------------


def scan_gitlab(root: Path, path: str) -> list[BuildFact]:
    doc = _yaml.mapping(_yaml.load(root, path))
    empty = _Scope({}, {}, {})
    variables = _env(doc.get("variables"), empty)
    facts: list[BuildFact] = []
    for name, node in doc.items():
        job = _yaml.mapping(node)
        if name in _GITLAB_KEYWORDS or not job:
            continue
        job = _gitlab_extended(doc, job, frozenset({name}))
        for combo in gitlab_matrix(job):
            env = {**variables, **_env(job.get("variables"), empty), **combo}
            for key in ("before_script", "script"):
                facts += _gitlab_script(path, job.get(key), env)
    return _unique(facts)


def _gitlab_extended(
    doc: dict[str, Node], job: dict[str, Node], seen: frozenset[str]
) -> dict[str, Node]:
    """``extends: .template`` (one name or a list) merged underneath the job's own keys."""
    merged: dict[str, Node] = {}
    for base, _ in _yaml.strings(job.get("extends")):
        if base in seen or base not in doc:
            continue
        merged.update(_gitlab_extended(doc, _yaml.mapping(doc[base]), seen | {base}))
    return {**merged, **job}


def _gitlab_script(path: str, node: Node | None, env: dict[str, str]) -> list[BuildFact]:
    facts: list[BuildFact] = []
    items = [node] if _yaml.scalar(node) is not None else _yaml.sequence(node)
    for item in items:
        text = _yaml.scalar(item)
        if text is not None and item is not None:
            facts += shell_facts(logical_lines(text, _yaml.line(item)), path, "sh", env)
    return facts


def _unique(facts: list[BuildFact]) -> list[BuildFact]:
    """One fact per distinct build (a matrix axis that changes nothing built gives one)."""
    return list(dict.fromkeys(facts))
