"""Reading a repository for discovery: the file tree, Dockerfile FROM lines and the
``docker build`` lines of build scripts (with their ``sed`` rewrites); compose files, CI
workflows and bake files have their own readers (``_compose``, ``_ci``, ``_bake``).

Nothing is executed; a line that cannot be read builds nothing we can know and is skipped.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from lockaudit.errors import InputError, Location
from lockaudit.parsing.dockerfile import (
    Dockerfile,
    Stage,
    parse_dockerfile,
)
from lockaudit.parsing.shell import SimpleCommand, expand_words, split_commands
from lockaudit.workspace.discover._facts import (
    UNKNOWN,
    BuildFact,
    Ref,
    is_static,
    parse_ref,
    partial,
    partial_args,
    static_args,
    static_name,
    static_ref,
)
from lockaudit.workspace.discover._flow import Flow, argv_run, option_runs, option_variables
from lockaudit.workspace.discover._make import automatic, find_rule
from lockaudit.workspace.discover._pipes import echo_sed
from lockaudit.workspace.tree import is_dockerfile

__all__ = ["BuildFact", "DockerInfo", "Ref", "parse_ref", "scan_dockerfile", "scan_script", "walk"]

# Never part of the images: VCS and tool state, virtualenvs, vendored code, build output, and
# test fixtures (a fixture repository's Dockerfiles would compete with the real ones).
_SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "env", ".env", "__pycache__",
     ".tox", ".nox", ".mypy_cache", ".ruff_cache", ".pytest_cache", "site-packages", "build",
     "dist", "testdata", "fixtures", "__fixtures__"}
)
_SKIP_PATHS = ("tests/data", "test/data")
_SCRIPT_SUFFIXES = (".sh", ".bash", ".bat", ".cmd")
_MAKEFILES = ("Makefile", "makefile", "GNUmakefile")
_COMPOSE = re.compile(r"^(docker-)?compose[\w.-]*\.ya?ml$")
_ENGINES = frozenset({"docker", "docker.exe", "podman", "nerdctl"})  # the same build CLI
_BAKE = re.compile(r"^docker-bake(\.override)?\.(hcl|json)$")
# docker build options that take a value (the others are flags)
_BUILD_VALUE_OPTIONS = frozenset(
    {"-t", "--tag", "-f", "--file", "--build-arg", "--target", "--platform", "--progress",
     "--label", "--cache-from", "--cache-to", "--secret", "--ssh", "-o", "--output", "--network",
     "--iidfile", "--add-host", "--shm-size", "--ulimit", "-m", "--memory", "--builder",
     "--build-context", "--metadata-file", "--attest", "--allow", "--annotation"}
)


# -- what the repository holds ------------------------------------------------------------------


@dataclass(frozen=True)
class DockerInfo:
    path: str
    stems: tuple[str, ...]  # names this file may build, most specific last
    from_ref: Ref | None  # the final stage's external FROM, ARGs resolved; None if unresolved
    from_raw: str
    from_location: Location
    unresolved: tuple[str, ...]
    uses_variable: bool  # the FROM was written with a variable (${REGISTRY}/...)
    arg_defaults: tuple[tuple[str, str], ...]
    dockerfile: Dockerfile | None = None
    # where the FROM's value comes from: the FROM line, or the build source that set its ARG
    from_source: str = ""
    # the stages the built one is built on (``FROM base AS notebooks``: ``base``), nearest first
    from_stages: tuple[tuple[str, Location], ...] = ()
    # a FROM known only in part (see ``_facts.partial``): matched to a build's tag pattern
    from_pattern: str = ""


@dataclass
class _Tree:
    dockerfiles: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    compose: list[str] = field(default_factory=list)
    workflows: list[str] = field(default_factory=list)  # GitHub Actions
    gitlab: list[str] = field(default_factory=list)
    bake: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    common: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)


def _is_dockerfile(name: str) -> bool:
    return is_dockerfile(name)  # the names `check`'s coverage rule counts (any letter case)


def walk(root: Path) -> _Tree:
    tree = _Tree()
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d for d in dirs
            if d not in _SKIP_DIRS and not (Path(directory) / d / "pyvenv.cfg").exists()
        )
        rel_dir = Path(directory).relative_to(root).as_posix()
        if rel_dir.endswith(_SKIP_PATHS):
            dirs[:] = []
            continue
        for name in sorted(files):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            _classify(tree, rel, name, rel_dir)
    return tree


def _classify(tree: _Tree, rel: str, name: str, rel_dir: str) -> None:
    if rel_dir == ".github/workflows" and name.endswith((".yml", ".yaml")):
        tree.workflows.append(rel)
    elif name in (".gitlab-ci.yml", ".gitlab-ci.yaml"):
        tree.gitlab.append(rel)
    elif _BAKE.match(name):
        tree.bake.append(rel)
    elif _is_dockerfile(name):
        tree.dockerfiles.append(rel)
    elif name.endswith(_SCRIPT_SUFFIXES) or name in _MAKEFILES or name.endswith(".mk"):
        tree.scripts.append(rel)
    elif _COMPOSE.match(name):
        tree.compose.append(rel)
    elif name == "versions.txt":
        tree.versions.append(rel)
    elif name.endswith(".txt") and posixpath.basename(rel_dir) == "constraints":
        tree.constraints.append(rel)
    elif fnmatch.fnmatch(name, "requirements*common*.txt") or name == "common-requirements.txt":
        tree.common.append(rel)
    elif fnmatch.fnmatch(name, "*requirements*.txt"):
        tree.requirements.append(rel)


# -- Dockerfiles --------------------------------------------------------------------------------


def _stems(path: str) -> tuple[str, ...]:
    directory, name = posixpath.split(path)
    folder = posixpath.basename(directory)
    if name.lower() == "dockerfile":
        return (folder,) if folder else ()
    middle = name[:-11] if name.lower().endswith(".dockerfile") else name[11:]
    return (middle, f"{folder}-{middle}") if folder else (middle,)


def root_stage(dockerfile: Dockerfile, target: str | None = None) -> Stage:
    """The stage the built stage (the final one, or ``target``) is built on, following
    ``FROM <alias>`` chains."""
    stages = {s.from_line.alias: s for s in dockerfile.stages if s.from_line.alias}
    wanted = {k.lower(): v for k, v in stages.items()}.get((target or "").lower())
    stage = wanted or dockerfile.final
    seen: set[str] = set()
    while stage.from_line.image in stages and stage.from_line.image not in seen:
        seen.add(stage.from_line.image)
        stage = stages[stage.from_line.image]
    return stage


def scan_dockerfile(
    root: Path, path: str, problems: list[str], fact: BuildFact | None = None
) -> DockerInfo:
    """The file's final FROM, with the build args of ``fact`` (the source that builds it)."""
    stems = _stems(path) or (root.resolve().name,)
    try:
        parsed = _parse(root, path, None, fact)
    except InputError as e:
        problems.append(f"{e}: cannot read this Dockerfile; it is left out")
        return DockerInfo(path, stems, None, "", Location(path), (), False, ())
    target = fact.target if fact else None
    line = root_stage(parsed, target).from_line
    source = f"{line.location} FROM {line.raw.split(None, 1)[0]}"
    # an arg may pick the stage a FROM names (FROM ${PLATFORM} AS final, a cpu and an xpu stage):
    # every FROM on the way from the built stage to its root counts
    chain_text = _chain_text(parsed, target)
    used = _args_used(chain_text, fact.build_args if fact else ())
    # a value known only in part reaches the FROM alone (it is no value for anything else)
    in_part = _args_used(chain_text, fact.partial_args) if fact else []
    if fact is not None and (used or in_part):
        args = {**dict(fact.build_args), **{k: v for k, v in fact.partial_args if k in in_part}}
        with contextlib.suppress(InputError):  # else as read without the args
            parsed = _parse(root, path, args, fact)
        line = root_stage(parsed, target).from_line
        source = ", ".join(
            f"{fact.arg_location(arg)} --build-arg {arg}" for arg in [*used, *in_part]
        )
    defaults = tuple((name, value) for name, value, _ in parsed.global_args if value is not None)
    values = {**dict(defaults), **dict(fact.build_args if fact else ())}
    unresolved = line.unresolved + tuple(
        name for name in _args_used(line.raw, tuple(values.items()))
        if is_placeholder(values[name])
    )
    pattern = ""
    if UNKNOWN in line.image:
        # a FROM from a value the build source knows only in part (a build arg, the line a CI
        # step writes): kept as a pattern to match a build tagged by the same expression,
        # never as a reference
        pattern, unresolved = partial(line.image), (*unresolved, "(set by the build source)")
    if fact is not None and fact.inserted and fact.inserted_at and line.location.line == 1:
        source = f"{fact.inserted_at} FROM written into line 1"
    ref = None if unresolved else static_ref(line.image)
    chain = _stage_chain(parsed, target)
    named = dict(fact.contexts) if fact else {}
    image = named.get(line.image, "")
    if fact is not None and image.startswith("docker-image://"):
        # a named build context stands for the image: FROM base + contexts {base = target:base}
        ref = static_ref(image.removeprefix("docker-image://"))
        source = f"{fact.location} context {line.image}"
    return DockerInfo(
        path=path,
        stems=stems,
        from_ref=ref if ref is not None or unresolved else parse_ref(line.image),
        from_raw=line.raw,
        from_location=line.location,
        unresolved=unresolved,
        uses_variable="$" in line.raw,
        arg_defaults=defaults,
        dockerfile=parsed,
        from_source=source,
        from_stages=chain,
        from_pattern=pattern,
    )


def _parse(
    root: Path, path: str, args: dict[str, str] | None, fact: BuildFact | None
) -> Dockerfile:
    """The Dockerfile as its build sees it: with the FROM line the source writes first."""
    return parse_dockerfile(root, path, args, first_line=fact.inserted if fact else "")


def _chain_text(dockerfile: Dockerfile, target: str | None) -> str:
    """The FROM lines from the built stage (``target`` or the last) down to its root stage."""
    stages = {s.from_line.alias: s for s in dockerfile.stages if s.from_line.alias}
    wanted = {k.lower(): v for k, v in stages.items()}.get((target or "").lower())
    stage = wanted or dockerfile.final
    raws = [stage.from_line.raw]
    while stage.from_line.image in stages and len(raws) <= len(stages):
        stage = stages[stage.from_line.image]
        raws.append(stage.from_line.raw)
    return "\n".join(raws)


_PLACEHOLDER = re.compile(
    r"(?:not?[-_ ]?set|unset|undefined|none|null|nil|placeholder|change[-_]?me|replace[-_]?me"
    r"|tbd|todo|fixme|x{3,}|<[^>]*>|\?+)",
    re.IGNORECASE,
)


def is_placeholder(value: str) -> bool:
    """An ARG default that says "pass me" (``ARG CUDA_VER=notset``): never a real value, so a
    FROM built from it is unresolved rather than ``nvidia/cuda:notset-base``."""
    return _PLACEHOLDER.fullmatch(value.strip()) is not None


def _stage_chain(dockerfile: Dockerfile, target: str | None) -> tuple[tuple[str, Location], ...]:
    """The aliases the built stage's FROM chain passes through, with the FROM that names each."""
    stages = {s.from_line.alias.lower(): s for s in dockerfile.stages if s.from_line.alias}
    stage = stages.get((target or "").lower()) or dockerfile.final
    chain: list[tuple[str, Location]] = []
    while stage.from_line.image.lower() in stages and len(chain) < len(stages):
        chain.append((stage.from_line.image.lower(), stage.from_line.location))
        stage = stages[stage.from_line.image.lower()]
    return tuple(chain)


def _args_used(raw: str, args: tuple[tuple[str, str], ...]) -> list[str]:
    """The build args the FROM text names (``FROM ${BASE_IMAGE}``)."""
    return [name for name, _ in args if re.search(rf"\$\{{?{re.escape(name)}\b", raw)]


# -- build scripts ------------------------------------------------------------------------------

_FOR_LINE = re.compile(r"^\s*for\s+(\w+)\s+in\s+(.+?)\s*;?\s*(do)?\s*$")
_MAKE_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_]\w*)\s*(?:\?=|:=|::=|=)\s*(.*)$")
_SH_ASSIGN = re.compile(r"^\s*(?:export\s+|readonly\s+|declare\s+)?([A-Za-z_]\w*)=(\S.*|)$")
_BAT_SET = re.compile(r'^\s*set\s+"?([A-Za-z_]\w*)=([^"]*)"?\s*$', re.IGNORECASE)


def _script_lines(root: Path, path: str) -> list[tuple[int, str]]:
    try:
        text = (root / path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return logical_lines(text, 1, "^" if path.endswith((".bat", ".cmd")) else "\\")


def logical_lines(text: str, first: int, cont: str = "\\") -> list[tuple[int, str]]:
    """Logical lines (continuations joined) with their first physical line number."""
    out: list[tuple[int, str]] = []
    parts: list[str] = []
    start = first
    for number, line in enumerate(text.splitlines(), start=first):
        if not parts:
            start = number
        stripped = line.rstrip()
        if stripped.endswith(cont):
            # sh keeps the escaped newline: the shell lexer then knows each word's own line
            parts.append(stripped + "\n" if cont == "\\" else stripped[:-1] + " ")
            continue
        parts.append(line)
        out.append((start, "".join(parts)))
        parts = []
    if parts:
        out.append((start, "".join(parts)))
    return out


def _expand_loops(lines: list[tuple[int, str]]) -> Iterator[tuple[int, str, dict[str, str]]]:
    """Lines with the values of enclosing ``for X in a b c; do … done`` loops (sh only)."""
    i = 0
    while i < len(lines):
        number, text = lines[i]
        match = _FOR_LINE.match(text)
        if match is None:
            yield number, text, {}
            i += 1
            continue
        depth, j = 1, i + 1
        while j < len(lines) and depth:
            body_text = lines[j][1].strip()
            if re.match(r"^(for|while|until)\b", body_text):
                depth += 1
            elif re.match(r"^done\b", body_text):
                depth -= 1
            j += 1
        body = [line for line in lines[i + 1 : j - 1] if line[1].strip() != "do"]
        for value in match.group(2).split():
            value = value.strip("'\"")
            for inner_number, inner, env in _expand_loops(body):
                # a loop over `$(ls …)` or `"$@"` has values only a run knows
                yield inner_number, inner, {match.group(1): value if is_static(value) else UNKNOWN,
                                            **env}
        i = j


def scan_script(root: Path, path: str) -> list[BuildFact]:
    """A script's facts; a shell script that parses its own options gives those of each
    option run too (``build.sh -g``), see ``_flow``."""
    kind = "bat" if path.endswith((".bat", ".cmd")) else "sh"
    env: dict[str, str] = {}
    if posixpath.basename(path) in _MAKEFILES or path.endswith(".mk"):
        kind = "make"
        env = make_includes(root, path, {}, frozenset({path}))
    lines = _script_lines(root, path)
    if kind != "sh":
        return shell_facts(lines, path, kind, env)
    option_vars = option_variables(lines)
    facts: list[BuildFact] = []
    calls: list[Call] = []
    for run in option_runs(lines):
        facts += shell_facts(lines, path, kind, env, Flow(run, option_vars), calls=calls)
    own = _from_own_folder(root, path, facts, lines, option_vars)
    called = [f for call in dict.fromkeys(calls) if call.script != path
              for f in scan_call(root, call, depth=1)]
    return list(dict.fromkeys([*own, *called]))


def _from_own_folder(
    root: Path, path: str, facts: list[BuildFact], lines: list[tuple[int, str]],
    option_vars: frozenset[str],
) -> list[BuildFact]:
    """A script whose Dockerfiles exist only relative to its own folder is run from there
    (``cd docker && ./build_image.sh``): its facts read again from that folder."""
    home = posixpath.dirname(path)
    if not home or not facts or any((root / f.dockerfile).is_file() for f in facts):
        return list(dict.fromkeys(facts))
    again: list[BuildFact] = []
    for run in option_runs(lines):
        again += shell_facts(lines, path, "sh", {}, Flow(run, option_vars), home)
    found = [f for f in again if (root / f.dockerfile).is_file()]
    return list(dict.fromkeys(found or facts))


_INCLUDE = re.compile(r"^\s*-?include\s+(.+?)\s*$")


def make_includes(
    root: Path, path: str, env: dict[str, str], seen: frozenset[str]
) -> dict[str, str]:
    """The variables a Makefile's ``include``d files set (``include images.env``), in order;
    a file is read relative to the Makefile's directory, as make does."""
    env = dict(env)
    for _, text in _script_lines(root, path):
        match = _INCLUDE.match(text)
        if match is None:
            continue
        for name in match.group(1).split():
            included = posixpath.normpath(posixpath.join(posixpath.dirname(path), name))
            if not is_static(name) or included in seen or not (root / included).is_file():
                continue
            env = make_includes(root, included, env, seen | {included})
            for inner_number, inner in _script_lines(root, included):
                _make_assign(inner, env, Location(included, inner_number))
    return env


def shell_facts(
    lines: list[tuple[int, str]], path: str, kind: str, env: dict[str, str],
    flow: Flow | None = None, start: str = ".",
    exports: Mapping[str, dict[str, str]] | None = None,
    calls: list[Call] | None = None,
    inserts: Inserts | None = None,
) -> list[BuildFact]:
    """The ``docker build`` facts of logical shell lines (``kind``: sh, make or bat).

    ``env`` holds the variables whose value is static; whatever else a line expands is unknown.
    sh lines follow ``flow`` (a fresh one when not given): branches that static values rule
    out are skipped. ``start`` is the directory a script runs in until its first ``cd``.
    ``exports`` receives, per CI file (:data:`CI_ENV_FILE`, :data:`CI_OUTPUT_FILE`), what the
    lines append to it (``echo "K=V" >> $GITHUB_ENV``): the variables of the CI job's later
    steps, and the outputs of the step (``steps.<id>.outputs.K``). ``calls`` receives the
    scripts of the repository the lines run (``cd docker && ./build_image.sh -bt ci``), and
    ``make`` runs of a Makefile of the repository. ``inserts`` holds the lines ``sed -i '1i …'``
    wrote before a Dockerfile's first line (a CI job's earlier steps, then these lines).
    """
    env = dict(env)
    # what a sh script is given is its environment, which the scripts it runs inherit; make's
    # own variables are not exported
    exported = set(env) if kind == "sh" else set()
    inserts = {} if inserts is None else inserts
    facts: list[BuildFact] = []
    pending: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}  # sed outputs
    # make runs each recipe line in a shell of its own, in the Makefile's directory; a script's
    # `cd` holds for the lines after it (paths are relative to the repository root until then)
    home = posixpath.dirname(path) if kind == "make" else start
    cwd = [home]
    if flow is None and kind == "sh":
        flow = Flow()
    for number, text, loop_env in _expand_loops(lines):
        if kind == "make":
            cwd = [home]
        elif flow is not None:
            text = flow.step(number, text, env, loop_env)
            if not text:
                continue
        location = Location(path, number)
        if kind == "bat":
            converted = _bat_to_sh(text, env)
            if converted is None:
                continue
            text = converted
        elif kind == "make":
            if not text.startswith("\t") and _make_assign(text, env, location):
                continue
            text = _unknown_substitutions(_make_to_sh(text.strip()), env, location)
        if _assign(text, env, location):
            if re.match(r"^\s*export\s", text):
                exported.add(text.split("=", 1)[0].split()[-1])
            continue
        try:
            commands = split_commands(text, location, _known(text, {**env, **loop_env}))
        except InputError:
            continue  # a line sh itself could not split builds nothing we can know
        facts.extend(_commands_facts(
            commands, path, env, pending, cwd, exports, calls, inserts, exported
        ))
    return facts


def _unknown_substitutions(
    text: str, env: Mapping[str, str] | None = None, location: Location | None = None
) -> str:
    """Command substitutions (make's ``$(shell …)`` too) as :data:`UNKNOWN` (their output only
    a run knows), so that a value built from one keeps its static rest (``REPO=$(… | sed …)``,
    then ``${REPO}base``); ``$(dirname "$0")`` is kept, a ``cd`` reads it. With ``env``, an
    ``echo`` of static words piped into ``sed`` substitutions is replaced by its output."""
    out, i = [], 0
    while (start := text.find("$(", i)) >= 0:
        if text.startswith("$((", start) or _SCRIPT_DIR.match(text[start:]):
            out.append(text[i : start + 2])
            i = start + 2
            continue
        depth, end = 0, start + 1
        while end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
            end += 1
        if end >= len(text):
            break  # unterminated: sh reports it
        value = None
        if env is not None:
            where = location or Location("")
            body = _unknown_substitutions(text[start + 2 : end], env, where)  # innermost first
            value = _make_function(body, env, where)
            if value is None:
                value = echo_sed(re.sub(r"^shell\s+", "", body), where, env)
        keep = value is not None and re.fullmatch(f"[\\w.+:/@%{UNKNOWN}-]*", value) is not None
        out.append(text[i:start] + (value if keep and value is not None else UNKNOWN))
        i = end + 1
    return "".join(out) + text[i:]


def _make_function(body: str, env: Mapping[str, str], location: Location) -> str | None:
    """``$(if cond,then[,else])`` and ``$(strip …)`` of a Makefile (``body``: between the
    parentheses, variables as sh's ``${…}``), when the condition is known; else None."""
    name, _, rest = body.partition(" ")
    if name not in ("if", "strip"):
        return None

    def value(text: str) -> str | None:
        try:
            words, _ = expand_words(text, location, _known(text, env))
        except InputError:
            return None
        return " ".join(words)

    if name == "strip":
        return value(rest)
    parts = rest.split(",")
    if len(parts) not in (2, 3):
        return None  # a comma inside an argument: not split as make would
    condition = value(parts[0].strip())
    if condition is None or UNKNOWN in condition or not is_static(condition):
        return None
    return value(parts[1] if condition.strip() else (parts[2] if len(parts) == 3 else ""))


def _make_to_sh(text: str) -> str:
    """Make's ``$(VAR)``/``${VAR}`` as sh variables, ``$$`` as sh's ``$``."""
    text = re.sub(r"\$\((\w+)\)", r"${\1}", text)
    return text.replace("$$", "$")


def _make_assign(text: str, env: dict[str, str], location: Location) -> bool:
    match = _MAKE_ASSIGN.match(text)
    if match is None:
        return False
    value = _unknown_substitutions(_make_to_sh(match.group(2).strip()), env, location)
    if "?=" not in text or match.group(1) not in env:  # `?=` only sets what is unset
        _set(env, match.group(1), value, location)
    return True


def _known(text: str, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` plus :data:`UNKNOWN` for every variable the text expands without a default, so
    that a word built from it is recognisably unknown (sh would expand it to nothing)."""
    known = dict(env)
    for match in re.finditer(r"\$(?:\{([A-Za-z_]\w*)(:?[?}])|([A-Za-z_]\w*))", text):
        name = match.group(1) or match.group(3)
        known.setdefault(name, UNKNOWN)
    return known


def _assign(text: str, env: dict[str, str], location: Location) -> bool:
    """Record a shell ``NAME=value`` line in ``env`` (value expanded as sh would)."""
    match = _SH_ASSIGN.match(text)
    if match is None or _runs_a_command(text, location):
        return False
    _set(env, match.group(1), match.group(2), location)
    return True


def _runs_a_command(text: str, location: Location) -> bool:
    """``DOCKER_BUILDKIT=1 docker build …`` sets a variable for a command: not an assignment."""
    try:
        commands = split_commands(text, location, _known(text, {}))
    except InputError:
        return False
    return any(command.argv for command in commands)


def _set(env: dict[str, str], name: str, text: str, location: Location) -> None:
    """``env[name]`` = the expanded ``text``, or :data:`UNKNOWN` when it is not static."""
    try:
        words, _ = expand_words(text, location, _known(text, env))
    except InputError:
        env[name] = UNKNOWN
        return
    env[name] = partial(" ".join(words))


def _bat_to_sh(text: str, env: dict[str, str]) -> str | None:
    stripped = text.strip()
    if stripped.lower().startswith(("rem ", "::", "@echo", "echo")):
        return None
    assign = _BAT_SET.match(stripped)
    if assign:
        env[assign.group(1)] = assign.group(2)
        return None
    # %NAME% -> ${NAME}; loop variables (%%s) stay unknown and the line is skipped later.
    # Backslashes are Windows path separators here, never sh escapes.
    return re.sub(r"(?<!%)%(\w+)%", r"${\1}", stripped.lstrip("@")).replace("\\", "/")


def _commands_facts(
    commands: tuple[SimpleCommand, ...],
    path: str,
    env: dict[str, str],
    pending: dict[str, tuple[str, tuple[tuple[str, str], ...]]],
    cwd: list[str],
    exports: Mapping[str, dict[str, str]] | None = None,
    calls: list[Call] | None = None,
    inserts: Inserts | None = None,
    exported: set[str] | None = None,
) -> Iterator[BuildFact]:
    inserts = {} if inserts is None else inserts
    exported = set() if exported is None else exported
    previous_sed: tuple[str, tuple[tuple[str, str], ...]] | None = None
    for command in commands:
        argv = command.argv
        written = _ci_file(command, exports or {})
        if written is not None:
            for word in argv[1:]:
                name, eq, value = word.partition("=")
                if eq and re.fullmatch(r"[A-Za-z_][\w-]*", name):
                    written[name] = partial(value)
            continue
        if argv[:1] == ("cd",) or argv[:1] == ("pushd",):
            cwd[0] = _cd(cwd[0], argv[1] if len(argv) > 1 else ".", path)
            continue
        if not argv:
            env.update((k, partial(v)) for k, v in command.assignments)
            continue
        if argv[0] == "export":
            for word in argv[1:]:
                name, eq, value = word.partition("=")
                if eq:
                    env[name] = partial(value)
                exported.add(name)
            continue
        if argv[0] == "sed":
            previous_sed = _sed(command, pending)
            _sed_insert(command, cwd[0], Location(path, command.line), inserts)
            continue
        location = Location(path, command.line)
        call = _script_call(argv, cwd[0], location) or _make_call(argv, cwd[0], location)
        if call is not None and calls is not None:
            given = {name: env[name] for name in sorted(exported) if name in env}
            given.update((k, partial(v)) for k, v in command.assignments)  # X=1 ./build.sh
            calls.append(replace(call, env=tuple(given.items())))
        if _docker_build_args(argv) is not None:
            yield from _build_fact(command, path, previous_sed, pending, cwd[0], inserts)
        previous_sed = None


@dataclass(frozen=True)
class Call:
    """A script of the repository run with arguments, from the directory it is run in."""

    script: str
    argv: tuple[str, ...]
    cwd: str
    location: Location
    # a ``make`` run: ``script`` is the Makefile, ``argv`` its goals, and these its
    # command-line variables (``make build/base DIRECTORY=base``)
    variables: tuple[tuple[str, str], ...] = ()
    make: bool = False
    env: tuple[tuple[str, str], ...] = ()  # the environment it runs with: what the caller exports


Inserts = dict[str, tuple[str, Location]]  # Dockerfile -> the line written first, and where


def _make_call(argv: tuple[str, ...], cwd: str, location: Location) -> Call | None:
    """``make [-C dir] [-f file] goal… VAR=value…`` of a Makefile of the repository."""
    if posixpath.basename(argv[0]) not in ("make", "gmake") and argv[0] != "${MAKE}":
        return None
    directory, makefile = cwd, ""
    goals: list[str] = []
    variables: list[tuple[str, str]] = []
    words = list(argv[1:])
    while words:
        word = words.pop(0)
        if word in ("-C", "--directory", "-f", "--file", "--makefile") and words:
            value = words.pop(0)
            if not is_static(value):
                return None
            if word in ("-C", "--directory"):
                directory = _under(directory, value)
            else:
                makefile = value
        elif word.startswith("-"):
            continue  # -j4, -s, --no-print-directory: nothing that changes what is built
        elif re.match(r"^[A-Za-z_][\w.-]*=", word):
            name, _, value = word.partition("=")
            variables.append((name, partial(value)))
        else:
            goals.append(partial(word))
    if not goals:
        return None
    found = _under(directory, makefile) if makefile else next(
        (_under(directory, name) for name in _MAKEFILES), _under(directory, "Makefile")
    )
    return Call(found, tuple(goals), directory, location, tuple(variables), make=True)


def _sed_insert(command: SimpleCommand, cwd: str, location: Location, inserts: Inserts) -> None:
    """``sed -i '1i TEXT' FILE``: TEXT becomes the file's first line (GNU sed's insert)."""
    words = list(command.argv[1:])
    if not any(w.startswith(("-i", "--in-place")) for w in words):
        return
    rest = [w for w in words if not w.startswith("-")]
    if len(rest) != 2 or not is_static(rest[1]):
        return
    match = re.fullmatch(r"1\s*i\\?\s?(.*)", rest[0], re.DOTALL)
    if match is not None and match.group(1).strip():
        inserts[_under(cwd, rest[1])] = (match.group(1).strip(), location)


def _script_call(argv: tuple[str, ...], cwd: str, location: Location) -> Call | None:
    """``./build.sh -g``, ``bash docker/build.sh -g``: the script and its static arguments
    (an argument only a run knows is dropped; the script sees it as unknown)."""
    words = list(argv)
    if words[0] in ("bash", "sh") and len(words) > 1:
        words = words[1:]
    name = words[0]
    if not name.endswith(_SCRIPT_SUFFIXES[:2]) and not name.startswith("./"):
        return None
    if not is_static(name) or name.startswith(("/", "~", "-")):
        return None
    return Call(_under(cwd, name), tuple(w if is_static(w) else UNKNOWN for w in words[1:]),
                cwd, location)


def scan_call(
    root: Path, call: Call, env: Mapping[str, str] | None = None,
    exports: Mapping[str, dict[str, str]] | None = None, inserts: Inserts | None = None,
    depth: int = 0,
) -> list[BuildFact]:
    """The facts of a script run with given arguments (its option arms taken as the
    arguments say) and the environment its caller exports, read from the directory it is run
    in; of a ``make`` run, those of the rules its goals run. ``env``, ``exports`` and
    ``inserts``: those of the CI step that runs it (make passes its environment on, and the
    recipe's ``>> $GITHUB_OUTPUT`` are the step's). The scripts it runs in turn are read too,
    a few levels deep."""
    if not (root / call.script).is_file() or call.script.endswith((".bat", ".cmd")):
        return []
    environment = {**(env or {}), **dict(call.env)}
    if call.make:
        return [fact for goal in call.argv
                for fact in _make_goal(root, call, goal, environment, exports, inserts)]
    lines = _script_lines(root, call.script)
    run = argv_run(lines, call.argv)
    nested: list[Call] = []
    facts = shell_facts(lines, call.script, "sh", environment,
                        Flow(run, option_variables(lines)), call.cwd, exports, nested, inserts)
    if any(name not in (env or {}) for name, _ in call.env):
        facts = [replace(f, configured=True) for f in facts]
    if depth < _MAX_CALL_DEPTH:
        for inner in nested:
            if inner.script != call.script:
                facts += scan_call(root, inner, None, exports, inserts, depth + 1)
    return facts


_MAX_CALL_DEPTH = 3  # scripts that run scripts: deeper than this is not worth following


def _make_goal(
    root: Path, call: Call, goal: str, env: dict[str, str],
    exports: Mapping[str, dict[str, str]] | None, inserts: Inserts | None,
) -> list[BuildFact]:
    """The builds of one goal of a ``make`` run: the Makefile's variables (over the
    environment; ``?=`` keeps what it sets), the rule's target-specific ones, then the
    command line's, which override both; the recipe read with ``$@``/``$*`` expanded. A
    pattern rule's stem is the name of what it builds when no tag says it (``make
    build/base`` on ``build/%``: ``base``)."""
    lines = _script_lines(root, call.script)
    rule = find_rule(lines, goal) if is_static(goal) else None
    if rule is None:
        return []
    env = make_includes(root, call.script, env, frozenset({call.script}))
    for number, text in lines:
        if not text.startswith("\t") and not _INCLUDE.match(text):
            _make_assign(text, env, Location(call.script, number))
    for number, text in rule.specific:
        _make_assign(automatic(text, rule), env, Location(call.script, number))
    env.update(call.variables)
    recipe = [(number, automatic(text, rule)) for number, text in rule.recipe]
    facts = shell_facts(recipe, call.script, "make", env, exports=exports, inserts=inserts)
    if rule.stem is None:
        return facts
    return [f if f.ref is not None or f.name is not None else replace(f, name=rule.stem)
            for f in facts]


# What $GITHUB_ENV stands for while a CI step is read: a file whose lines set the variables of
# the job's later steps; $GITHUB_OUTPUT: one whose lines are the step's outputs.
CI_ENV_FILE = "/ci/github-env"
CI_OUTPUT_FILE = "/ci/github-output"


def _ci_file(
    command: SimpleCommand, exports: Mapping[str, dict[str, str]]
) -> dict[str, str] | None:
    """What an ``echo "K=V" >> $GITHUB_ENV`` (or ``$GITHUB_OUTPUT``) line writes into."""
    if command.argv[:1] != ("echo",):
        return None
    for redirect in command.redirects:
        if redirect.op == ">>" and redirect.target in exports:
            return exports[redirect.target]
    return None

_SCRIPT_DIR = re.compile(r"^\$\(\s*dirname\s+\S*(?:\$0|BASH_SOURCE)\S*\s*\)")


def _cd(cwd: str, target: str, script: str) -> str:
    """The directory after ``cd target``; ``cd "$(dirname "$0")/.."`` is relative to the
    script's own directory; any other unknown target leaves the directory as it was."""
    match = _SCRIPT_DIR.match(target)
    if match is not None:
        cwd, target = posixpath.dirname(script) or ".", target[match.end() :].lstrip("/") or "."
    if not is_static(target) or target.startswith(("/", "~", "-")):
        return cwd
    return posixpath.normpath(posixpath.join(cwd, target))


def _sed(
    command: SimpleCommand, pending: dict[str, tuple[str, tuple[tuple[str, str], ...]]]
) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """The input file and ``s/old/new/`` pairs of a sed command; records ``> out`` files."""
    scripts: list[str] = []
    files: list[str] = []
    in_place = False
    words = list(command.argv[1:])
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-e", "--expression") and i + 1 < len(words):
            scripts.append(words[i + 1])
            i += 2
            continue
        if word.startswith("-i") or word.startswith("--in-place"):
            in_place = True
        elif not word.startswith("-"):
            files.append(word)
        i += 1
    if not scripts and files:
        scripts.append(files.pop(0))
    pairs = tuple(pair for script in scripts for pair in _substitutions(script))
    if not files or not pairs:
        return None
    result = (files[-1], pairs)
    for redirect in command.redirects:
        if redirect.op in (">", ">|") and redirect.target:
            pending[posixpath.normpath(redirect.target)] = result
    if in_place:
        pending[posixpath.normpath(files[-1])] = result
    return result


def _substitutions(script: str) -> Iterator[tuple[str, str]]:
    for part in script.split(";"):
        part = part.strip()
        if len(part) < 4 or part[0] != "s":
            continue
        delim = part[1]
        pieces = re.split(rf"(?<!\\){re.escape(delim)}", part[2:])
        if len(pieces) >= 2:
            yield (pieces[0].replace("\\" + delim, delim), pieces[1].replace("\\" + delim, delim))


def _under(cwd: str, path: str) -> str:
    """``path`` as seen from the repository root when a command runs in ``cwd``."""
    return posixpath.normpath(posixpath.join(cwd, path))


def _docker_build_args(argv: tuple[str, ...]) -> tuple[str, ...] | None:
    """The arguments after ``docker build`` / ``docker buildx build`` / ``docker image build``."""
    if not argv or posixpath.basename(argv[0]) not in _ENGINES:
        return None
    rest = list(argv[1:])
    if rest[:2] in (["buildx", "build"], ["image", "build"], ["builder", "build"]):
        return tuple(rest[2:])
    if rest[:1] == ["build"]:
        return tuple(rest[1:])
    return None


def _build_fact(
    command: SimpleCommand,
    path: str,
    previous_sed: tuple[str, tuple[tuple[str, str], ...]] | None,
    pending: Mapping[str, tuple[str, tuple[tuple[str, str], ...]]],
    cwd: str = ".",
    inserts: Inserts | None = None,
) -> list[BuildFact]:
    """The facts of one ``docker build``: one per ``-t`` (one without a ref when no tag is
    static); none when the Dockerfile or the context is not static."""
    args = _docker_build_args(command.argv) or ()
    skip = len(command.argv) - len(args)
    lines = command.word_lines[skip:] or (command.line,) * len(args)
    tags: list[str] = []
    build_args: list[tuple[str, str, int]] = []
    dockerfile: str | None = None
    stage: str | None = None  # --target: a static stage name, else the last stage
    positional: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        name, eq, inline = word.partition("=")
        if word.startswith("-") and name in _BUILD_VALUE_OPTIONS:
            value = inline if eq else (args[i + 1] if i + 1 < len(args) else "")
            if name in ("-t", "--tag"):
                tags.append(value)
            elif name in ("-f", "--file"):
                dockerfile = value
            elif name == "--target" and is_static(value):
                stage = value
            elif name == "--build-arg" and "=" in value:
                key, _, arg_value = value.partition("=")
                build_args.append((key, arg_value, lines[min(i, len(lines) - 1)]))
            i += 1 if eq else 2
            continue
        if not word.startswith("-"):
            positional.append(word)
        i += 1
    if not positional or not is_static(positional[-1] + (dockerfile or "")):
        return []
    context = _under(cwd, positional[-1]) if positional[-1] != "-" else cwd
    substitutions: tuple[tuple[str, str], ...] = ()
    if dockerfile == "-" and previous_sed is not None:
        dockerfile, substitutions = previous_sed
    elif dockerfile is None:
        dockerfile = posixpath.join(context, "Dockerfile")
    elif dockerfile == "-":
        return []
    else:
        dockerfile = _under(cwd, dockerfile)  # -f is relative to where docker runs
    dockerfile = posixpath.normpath(dockerfile)
    if dockerfile in pending and not substitutions:
        dockerfile, substitutions = pending[dockerfile]
        dockerfile = posixpath.normpath(dockerfile)
    known_args, arg_lines = static_args(build_args)
    in_part = partial_args(build_args)
    inserted, inserted_at = (inserts or {}).get(dockerfile, ("", None))
    patterns = [p for tag in tags if UNKNOWN in (p := partial(tag)) and p != UNKNOWN]
    fact = BuildFact(
        dockerfile, None, context, Location(path, command.line), known_args, substitutions,
        source="docker build", arg_lines=arg_lines, target=stage, inserted=inserted,
        inserted_at=inserted_at, pattern=next(iter(patterns), ""), partial_args=in_part,
    )
    refs = [ref for tag in tags if (ref := static_ref(tag)) is not None]
    hints = [hint for tag in tags if (hint := static_name(tag)) is not None]
    return [replace(fact, ref=ref) for ref in refs] or [replace(fact, name=next(iter(hints), None))]
