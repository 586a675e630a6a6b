"""The smoke step: import every top-level module of what an image's layer added, inside it.

"What the layer added" is the image's layer lock (``<locks>/<slug>.layer.txt``): the packages
it installs itself. A small script runs in a throw-away container (``--network=none``: an
import must not need the network); for each distribution it finds the import names
(``top_level.txt``, else the top-level entries of ``RECORD``), imports them and prints one JSON
object. A distribution the lock names but the image lacks is reported as missing.

Each failure is also a finding (``import-fails``, :func:`smoke_findings`) at the line that
asked for the distribution: the image's own requirement line when it is a direct requirement
(its full lock's ``# via <image>: <file>:<line>``), else its entry in the layer lock, naming
the packages that pulled it in. A ``No module named 'x'`` is the undeclared import the audit
cannot see from metadata: the finding names the module no distribution provides.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from lockaudit.builder.runner import Command, Runner
from lockaudit.errors import InputError, Location, LockauditError
from lockaudit.locks import LockText, lock_paths
from lockaudit.rules import register_spec
from lockaudit.rules.catalog import code_of
from lockaudit.rules.findings import Finding, RuleSpec, Severity
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import Image, Workspace

__all__ = [
    "IMPORT_FAILS",
    "SMOKE_SCRIPT",
    "SmokeFailure",
    "SmokeResult",
    "layer_distributions",
    "run_smoke",
    "smoke_findings",
]

IMPORT_FAILS = register_spec(
    RuleSpec(
        "import-fails",
        Severity.ERROR,
        "a module the image's layer installs does not import in the built image",
        code=code_of("import-fails"),
        command="build",
    )
)

# Runs inside the image with its own interpreter: standard library only, Python 3.8+.
SMOKE_SCRIPT = r"""
import importlib, importlib.metadata as md, json, sys, traceback

def top_level(dist):
    text = dist.read_text("top_level.txt")
    names = [n.strip() for n in (text or "").splitlines() if n.strip()]
    if not names:
        for path in dist.files or ():
            head = path.parts[0] if path.parts else ""
            if head.endswith((".dist-info", ".data")) or head in ("..", "__pycache__"):
                continue
            stem = head.split(".", 1)[0] if len(path.parts) == 1 else head
            if len(path.parts) > 1 or head.endswith((".py", ".so", ".pyd")):
                names.append(stem)
    return sorted({n.replace("/", ".") for n in names if n.isidentifier()})

out = {"imported": [], "failures": [], "missing": []}
for name in sys.argv[1:]:
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        out["missing"].append(name)
        continue
    for module in top_level(dist):
        try:
            importlib.import_module(module)
            out["imported"].append(module)
        except BaseException as e:
            line = traceback.format_exception_only(type(e), e)[-1].strip()
            out["failures"].append({"module": module, "distribution": name, "error": line})
print("LOCKAUDIT-SMOKE " + json.dumps(out))
"""

_MARK = "LOCKAUDIT-SMOKE "


@dataclass(frozen=True)
class SmokeFailure:
    module: str
    distribution: str
    error: str


@dataclass(frozen=True)
class SmokeResult:
    """What importing an image's layer gave; ``message`` is set when the step itself failed."""

    image_key: str
    imported: tuple[str, ...] = ()
    failures: tuple[SmokeFailure, ...] = ()
    missing: tuple[str, ...] = ()
    message: str = ""

    @property
    def ok(self) -> bool:
        return not (self.failures or self.missing or self.message)


def layer_distributions(given: Inputs | Workspace, image: Image) -> tuple[str, ...]:
    """Names of the distributions ``image``'s layer lock installs (empty when it has none)."""
    inputs = as_inputs(given)
    text = inputs.lock_text(lock_paths(inputs.workspace, image).layer)
    if text is None:
        return ()
    return tuple(sorted(str(p.name) for p in text.lock.packages))


def smoke_command(ref: str, distributions: tuple[str, ...]) -> Command:
    argv = ("docker", "run", "--rm", "--network", "none", "--entrypoint", "python3", ref)
    return Command((*argv, "-c", SMOKE_SCRIPT, *distributions))


def run_smoke(
    runner: Runner, image_key: str, ref: str, distributions: tuple[str, ...]
) -> SmokeResult:
    """Run the smoke script in ``ref``; a container that cannot start is a result too."""
    result = runner.run(smoke_command(ref, distributions))
    line = next((ln for ln in reversed(result.output.splitlines()) if ln.startswith(_MARK)), None)
    if line is None:
        return SmokeResult(
            image_key, message=f"smoke run failed (exit {result.returncode}):\n" + result.tail()
        )
    try:
        data = json.loads(line[len(_MARK) :])
    except ValueError as e:
        raise LockauditError(f"{image_key}: unreadable smoke output: {e}") from e
    return SmokeResult(
        image_key,
        imported=tuple(data["imported"]),
        failures=tuple(
            SmokeFailure(f["module"], f["distribution"], f["error"]) for f in data["failures"]
        ),
        missing=tuple(data["missing"]),
    )


# --------------------------------------------------------------------------- findings

_NO_MODULE = re.compile(r"^ModuleNotFoundError: No module named '([^']+)'")


def smoke_findings(
    given: Inputs | Workspace, image: Image, result: SmokeResult
) -> tuple[Finding, ...]:
    """Each failed import and each missing distribution of ``result``, at the line that asked
    for the distribution (see the module docstring)."""
    inputs = as_inputs(given)
    paths = lock_paths(inputs.workspace, image)
    full, layer = _lock(inputs, paths.full), _lock(inputs, paths.layer)
    found = [_failure(image, full, layer, f) for f in result.failures]
    for name in result.missing:
        where = layer.location(name) if layer is not None else Location(paths.layer)
        found.append(
            IMPORT_FAILS.finding(
                f"{name} is in {paths.layer} but not installed in {image.key}",
                where,
                image=image.key,
                package=name,
                hint=f"install the layer lock in the Dockerfile: pip install --no-deps "
                f"--require-hashes -r {paths.layer}",
            )
        )
    return tuple(found)


def _lock(inputs: Inputs, path: str) -> LockText | None:
    try:
        return inputs.lock_text(path)
    except InputError:
        return None  # the gate reports an unreadable lock; the finding falls back to the RUN


def _failure(
    image: Image, full: LockText | None, layer: LockText | None, failure: SmokeFailure
) -> Finding:
    name = failure.distribution
    asked, pulled_by = _asked_at(image, full, name)
    where = asked or (layer.location(name) if layer is not None else Location(image.dockerfile))
    by = f" (pulled in by {', '.join(pulled_by)})" if pulled_by and asked is None else ""
    missing = _NO_MODULE.match(failure.error)
    if missing is not None:
        module = missing.group(1)
        message = (
            f"import {failure.module} fails in {image.key}: {name}{by} imports {module}, "
            "which no distribution in the image provides"
        )
        hint = (
            f"add the distribution that provides {module} next to {name}'s requirement "
            f"({where}): {name} does not declare it, or a newer release of one of its "
            "dependencies no longer brings it"
        )
    else:
        message = f"import {failure.module} fails in {image.key} ({name}{by}): {failure.error}"
        hint = f"import {failure.module} in the image to see the whole traceback"
    return IMPORT_FAILS.finding(message, where, image=image.key, package=name, hint=hint)


def _asked_at(
    image: Image, full: LockText | None, name: str
) -> tuple[Location | None, tuple[str, ...]]:
    """The image's own requirement line for ``name`` (``# via <image>: <file>:<line>``), and
    the packages that require it."""
    package = full.lock.package(name) if full is not None else None
    if package is None:
        return None, ()
    asked: Location | None = None
    pulled_by: list[str] = []
    for via in package.required_by:
        owner, colon, spot = via.partition(": ")
        path, _, line = spot.rpartition(":")
        if colon and owner == image.key and line.isdigit() and asked is None:
            asked = Location(path, int(line))
        elif not colon:
            pulled_by.append(via)
    return asked, tuple(pulled_by)
