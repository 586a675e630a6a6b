"""The smoke step: import every top-level module of what an image's layer added, inside it.

"What the layer added" is the image's layer lock (``<locks>/<slug>.layer.txt``): the packages
it installs itself. A small script runs in a throw-away container (``--network=none``: an
import must not need the network); for each distribution it finds the import names
(``top_level.txt``, else the top-level entries of ``RECORD``), imports them and prints one JSON
object. A distribution the lock names but the image lacks is reported as missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from lockaudit.builder.runner import Command, Runner
from lockaudit.errors import LockauditError
from lockaudit.locks import lock_paths
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import Image, Workspace

__all__ = ["SMOKE_SCRIPT", "SmokeFailure", "SmokeResult", "layer_distributions", "run_smoke"]

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
