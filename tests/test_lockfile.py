"""Lock files: round trips, pylock.toml, determinism, atomic writes, input digests, pip's view.

Everything here is local: locks are built from values, and the pip test installs a wheel made in
a temporary directory through ``--no-index --find-links``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockaudit.errors import InputError
from lockaudit.locks import (
    GENERATED_BY,
    Lock,
    LockedFile,
    LockedPackage,
    LockKind,
    input_digest,
    load_lock,
    parse_lock,
    parse_target_spec,
    read_lock,
    read_pylock,
    render_all,
    render_layer_lock,
    render_lock,
    render_pylock,
    target_spec,
    write_atomically,
)
from lockaudit.workspace.model import Image, PackageIndex, Target, Variant, Workspace

INDEX = "http://127.0.0.1:1/simple"
TORCH_INDEX = "http://127.0.0.1:1/whl/cu121"
CUDA = Target(variant=Variant.CUDA, cuda="12.1")


def _file(name: str, index: str = INDEX, *, sha: str | None = None, size: int = 10) -> LockedFile:
    digest = sha if sha is not None else hashlib.sha256(name.encode()).hexdigest()
    return LockedFile(name, f"{index}/files/{name}", digest, size, index, "2023-10-04T17:00:00Z")


def _package(
    name: str, version: str, layer: str, *files: LockedFile, via: tuple[str, ...] = ()
) -> LockedPackage:
    index = files[0].index if files else INDEX
    return LockedPackage(canonicalize_name(name), Version(version), files, index, via, layer)


def _lock() -> Lock:
    return Lock(
        image="asr:cuda",
        parent="base-ml:cuda",
        target=CUDA,
        inputs_digest="sha256:" + "0" * 64,
        inputs=(("docker/asr/requirements.txt", "sha256:" + "1" * 64), ("<target>", "sha256:2")),
        packages=(
            _package(
                "torch",
                "2.1.0+cu121",
                "base-ml:cuda",
                _file("torch-2.1.0+cu121-cp311-cp311-linux_x86_64.whl", TORCH_INDEX, size=700),
                via=("base-ml:cuda: docker/base-ml/requirements.txt:1",),
            ),
            _package(
                "numpy",
                "1.24.3",
                "base:cuda",
                _file("numpy-1.24.3-cp311-cp311-manylinux_2_17_x86_64.whl"),
                _file("numpy-1.24.3-cp311-cp311-manylinux_2_28_x86_64.whl"),
                via=("torch",),
            ),
            _package(
                "Whisper_X",
                "3.1.1",
                "asr:cuda",
                _file("whisper_x-3.1.1-py3-none-any.whl"),
                via=("asr:cuda: docker/asr/requirements.txt:3",),
            ),
        ),
        index_urls=(TORCH_INDEX,),
    )


def test_full_lock_round_trips() -> None:
    lock = _lock()
    text = parse_lock(render_lock(lock).decode(), "locks/asr-cuda.txt")
    assert text.kind is LockKind.FULL
    assert not text.tampered
    back = text.lock
    assert back.image == lock.image and back.parent == lock.parent and back.target == CUDA
    assert back.inputs == lock.inputs and back.inputs_digest == lock.inputs_digest
    assert back.index_urls == (TORCH_INDEX,)
    expected = sorted(lock.packages, key=lambda p: p.name)
    assert [(p.name, p.version, p.layer, p.index) for p in back.packages] == [
        (p.name, p.version, p.layer, p.index) for p in expected
    ]
    assert [p.hashes for p in back.packages] == [p.hashes for p in expected]
    whisperx = back.package("whisper-x")
    assert whisperx is not None
    assert whisperx.required_by == ("asr:cuda: docker/asr/requirements.txt:3",)


def test_full_lock_layout() -> None:
    text = render_lock(_lock()).decode()
    lines = text.splitlines()
    assert lines[0] == GENERATED_BY
    assert "# image: asr:cuda" in lines and "# parent: base-ml:cuda" in lines
    assert f"# target: {target_spec(CUDA)}" in lines
    assert f"--extra-index-url {TORCH_INDEX}" in lines
    # The default index is pip's own configuration inside the image: never written.
    assert [line for line in lines if line.startswith("--")] == [f"--extra-index-url {TORCH_INDEX}"]
    entries = [line.split("==")[0] for line in lines if "==" in line and not line.startswith(" ")]
    assert entries == ["numpy", "torch", "whisper-x"]
    numpy_hashes = [line for line in lines if line.startswith("    --hash")][:2]
    assert numpy_hashes == sorted(numpy_hashes)
    assert "    # from parent base-ml:cuda" in lines
    assert "    # from ancestor base:cuda" in lines
    assert "    # via torch" in lines


def test_layer_lock_has_only_what_the_image_adds() -> None:
    lock = _lock()
    text = parse_lock(render_layer_lock(lock, "locks/asr-cuda.txt").decode(), "x.layer.txt")
    assert text.kind is LockKind.LAYER and text.layer_of == "locks/asr-cuda.txt"
    assert [p.name for p in text.lock.packages] == ["whisper-x"]
    # The torch index is not used by the layer's packages, so it is not written.
    assert "--extra-index-url" not in text.body


def test_rendering_is_deterministic_whatever_the_input_order() -> None:
    lock = _lock()
    shuffled = replace(lock, packages=tuple(reversed(lock.packages)))
    assert render_lock(lock) == render_lock(shuffled)
    assert render_pylock(lock) == render_pylock(shuffled)


def test_pylock_is_pep751_toml() -> None:
    data = tomllib.loads(render_pylock(_lock()).decode())
    assert data["lock-version"] == "1.0"
    assert data["created-by"] == "lockaudit"
    assert data["requires-python"] == "==3.11.7"
    assert data["environments"] == [
        "implementation_name == 'cpython' and python_full_version == '3.11.7' and "
        "sys_platform == 'linux' and platform_machine == 'x86_64'"
    ]
    names = [p["name"] for p in data["packages"]]
    assert names == ["numpy", "torch", "whisper-x"]
    numpy = data["packages"][0]
    assert numpy["index"] == INDEX
    assert len(numpy["wheels"]) == 2
    wheel = numpy["wheels"][0]
    assert set(wheel) == {"name", "upload-time", "url", "size", "hashes"}
    assert wheel["upload-time"].year == 2023  # a TOML datetime, not a string
    assert numpy["tool"]["lockaudit"]["layer"] == "base:cuda"
    assert data["tool"]["lockaudit"]["image"] == "asr:cuda"
    assert data["tool"]["lockaudit"]["inputs-digest"] == "sha256:" + "0" * 64


def test_pylock_reads_back_to_the_same_body(tmp_path: Path) -> None:
    lock = _lock()
    path = tmp_path / "pylock.asr-cuda.toml"
    path.write_bytes(render_pylock(lock))
    back = read_pylock(path)
    assert render_lock(back) == render_lock(lock)


def test_sdist_only_package_goes_to_the_sdist_table() -> None:
    lock = replace(
        _lock(), packages=(_package("tiny", "1.0", "asr:cuda", _file("tiny-1.0.tar.gz")),)
    )
    data = tomllib.loads(render_pylock(lock).decode())
    assert data["packages"][0]["sdist"]["name"] == "tiny-1.0.tar.gz"
    assert "wheels" not in data["packages"][0]


def test_file_without_hash_is_kept_without_hash_line() -> None:
    bare = LockedFile("tiny-1.0.tar.gz", f"{INDEX}/tiny-1.0.tar.gz", None, None, INDEX)
    lock = replace(_lock(), packages=(_package("tiny", "1.0", "asr:cuda", bare),))
    text = render_lock(lock).decode()
    assert "--hash" not in text
    assert "tiny==1.0\n" in text
    back = parse_lock(text, "x")
    assert back.lock.packages[0].files[0].sha256 is None


def test_removed_hash_line_reads_as_missing_hash_and_tampered() -> None:
    text = render_lock(_lock()).decode()
    lines = text.split("\n")
    start = lines.index("whisper-x==3.1.1 \\")
    lines[start] = "whisper-x==3.1.1"
    del lines[start + 1]
    edited = parse_lock("\n".join(lines), "x")
    assert edited.tampered
    whisperx = edited.lock.package("whisper-x")
    assert whisperx is not None and whisperx.files[0].sha256 is None


@pytest.mark.parametrize(
    ("edit", "line_has"),
    [
        pytest.param(lambda t: t.replace("# image:", "# imag:", 1), "header", id="bad-header"),
        pytest.param(
            lambda t: t.replace("numpy==1.24.3", "numpy==1.24.3 ; junk"),
            "not a lock line",
            id="junk",
        ),
        pytest.param(
            lambda t: t.replace("numpy==1.24.3", "numpy==one"), "invalid version", id="version"
        ),
        pytest.param(
            lambda t: t.replace("# via torch", "# because torch"), "unknown annotation", id="note"
        ),
        pytest.param(
            lambda t: t.replace("lock-format: 1", "lock-format: 9"), "lock format 9", id="format"
        ),
    ],
)
def test_bad_lock_is_an_input_error_with_a_line(edit: Callable[[str], str], line_has: str) -> None:
    text = render_lock(_lock()).decode()
    with pytest.raises(InputError) as info:
        parse_lock(edit(text), "locks/asr-cuda.txt")
    assert info.value.location.path == "locks/asr-cuda.txt"
    assert info.value.location.line > 0
    assert line_has in str(info.value)


def test_read_lock_names_the_display_path(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("hello\n")
    with pytest.raises(InputError, match=r"^locks/a.txt:1: not a lock"):
        read_lock(path, display="locks/a.txt")


def test_target_spec_round_trips() -> None:
    for target in (CUDA, Target(), Target(python="3.12.1", arch="aarch64", glibc="2.28")):
        assert parse_target_spec(target_spec(target)) == target


# --------------------------------------------------------------------------- writing


def test_write_atomically_skips_identical_bytes(tmp_path: Path) -> None:
    files = {"locks/a.txt": b"one\n", "locks/b.txt": b"two\n"}
    assert write_atomically(tmp_path, files) == ("locks/a.txt", "locks/b.txt")
    before = (tmp_path / "locks/a.txt").stat()
    changed = write_atomically(tmp_path, {**files, "locks/b.txt": b"three\n"})
    assert changed == ("locks/b.txt",)
    after = (tmp_path / "locks/a.txt").stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert (tmp_path / "locks/b.txt").read_bytes() == b"three\n"
    assert oct(after.st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode
    assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == ["a.txt", "b.txt"]


def test_write_atomically_all_or_nothing(tmp_path: Path) -> None:
    write_atomically(tmp_path, {"locks/a.txt": b"old\n"})
    (tmp_path / "blocker").write_text("a file where a directory must go")
    # a located error, not a bare OSError (the CLI prints it, exit 2)
    with pytest.raises(InputError, match=r"^blocker/z\.txt: cannot write: File exists: nothing"):
        write_atomically(tmp_path, {"locks/a.txt": b"new\n", "blocker/z.txt": b"x"})
    assert (tmp_path / "locks/a.txt").read_bytes() == b"old\n"
    assert [p.name for p in (tmp_path / "locks").iterdir()] == ["a.txt"]  # no temporaries


# --------------------------------------------------------------------------- input digests


def _workspace(root: Path) -> Workspace:
    (root / "docker/asr").mkdir(parents=True)
    (root / "docker/asr/requirements.txt").write_text("-r ../shared.txt\nwhisperx==3.1.1\n")
    (root / "docker/shared.txt").write_text("rich==14.2.0\n")
    (root / "versions.txt").write_text("torch==2.1.0\n")
    (root / "constraints").mkdir()
    (root / "constraints/cuda.txt").write_text("numpy<2\n")
    base = Image("base", "cuda", "docker/base/Dockerfile", None, "x", (), CUDA)
    asr = Image(
        "asr",
        "cuda",
        "docker/asr/Dockerfile",
        "base:cuda",
        None,
        ("docker/asr/requirements.txt",),
        CUDA,
    )
    return Workspace(
        root=root,
        images=(base, asr),
        constraints=((Variant.CUDA, "constraints/cuda.txt"),),
        indexes=(PackageIndex("cu121", TORCH_INDEX, (canonicalize_name("torch"),), Variant.CUDA),),
    )


def test_input_digest_covers_includes_and_names_changes(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    asr = ws.image("asr:cuda")
    first = input_digest(ws, asr, b"parent lock\n")
    names = [name for name, _ in first.inputs]
    assert names[:4] == [
        "docker/asr/requirements.txt",
        "docker/shared.txt",
        "constraints/cuda.txt",
        "requirements-common.txt",
    ]
    assert {"versions.txt", "locks/base-cuda.txt", "<target>", "<indexes>"} <= set(names)
    assert input_digest(ws, asr, b"parent lock\n") == first  # stable

    (tmp_path / "docker/shared.txt").write_text("rich==14.3.0\n")
    second = input_digest(ws, asr, b"parent lock\n")
    assert second.digest != first.digest
    assert second.changed_since(first.inputs) == ("docker/shared.txt",)

    third = input_digest(ws, asr, b"parent lock changed\n")
    assert third.changed_since(second.inputs) == ("locks/base-cuda.txt",)

    rerouted = replace(ws, indexes=())
    assert input_digest(rerouted, asr, b"parent lock changed\n").changed_since(third.inputs) == (
        "<indexes>",
    )


def test_input_digest_ignores_line_endings(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    asr = ws.image("asr:cuda")
    before = input_digest(ws, asr, None)
    path = tmp_path / "docker/shared.txt"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n") + b"\r\n")
    assert input_digest(ws, asr, None) == before


def test_render_all_names_three_files(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    files = render_all(ws, ws.image("asr:cuda"), _lock())
    assert sorted(files) == [
        "locks/asr-cuda.layer.txt",
        "locks/asr-cuda.txt",
        "locks/pylock.asr-cuda.toml",
    ]
    write_atomically(tmp_path, files)
    assert load_lock(tmp_path / "locks/asr-cuda.layer.txt").layer_of == "locks/asr-cuda.txt"


# --------------------------------------------------------------------------- pip's view


def _wheel(directory: Path, name: str, version: str) -> Path:
    path = directory / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(
            f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        archive.writestr(
            f"{dist}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{dist}/RECORD", "")
    return path


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def test_pip_accepts_the_locks_with_require_hashes(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    packages = []
    for name, version, owner in (("alpha", "1.0", "base:cpu"), ("beta_pkg", "2.0", "app:cpu")):
        wheel = _wheel(wheels, name, version)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        file = LockedFile(wheel.name, wheel.as_uri(), digest, wheel.stat().st_size, INDEX)
        packages.append(_package(name, version, owner, file))
    lock = Lock("app:cpu", "base:cpu", Target(), "sha256:0", (), tuple(packages))
    full = tmp_path / "app.txt"
    full.write_bytes(render_lock(lock))
    layer = tmp_path / "app.layer.txt"
    layer.write_bytes(render_layer_lock(lock, "app.txt"))
    for path, wanted in ((full, "alpha-1.0 beta_pkg-2.0"), (layer, "beta_pkg-2.0")):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--no-deps",
                "--require-hashes",
                "--no-index",
                "--find-links",
                str(wheels),
                "--target",
                str(tmp_path / "target"),
                "-r",
                str(path),
            ],
            capture_output=True,
            text=True,
            env=_pip_env(),
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert f"Would install {wanted}" in result.stdout

    # A wrong hash is refused: the hash lines are what pip checks.
    tampered = full.read_text().replace(packages[0].hashes[0], "0" * 64, 1)
    full.write_text(tampered)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--no-deps",
            "--require-hashes",
            "--no-index",
            "--find-links",
            str(wheels),
            "--target",
            str(tmp_path / "target"),
            "-r",
            str(full),
        ],
        capture_output=True,
        text=True,
        env=_pip_env(),
        check=False,
    )
    assert result.returncode != 0
    assert "HASHES" in result.stderr.upper()


def test_pylock_escapes_every_control_character_toml_forbids(tmp_path: Path) -> None:
    """U+007F and the C0 controls must be escaped (a JSON-style emitter left DEL raw)."""
    odd = "docker/asr/req\x7fuirements\x01.txt"
    lock = replace(_lock(), inputs=((odd, "sha256:" + "1" * 64),))
    text = render_pylock(lock).decode()
    assert "\x7f" not in text and "\x01" not in text
    data = tomllib.loads(text)  # tomllib rejects raw control characters
    assert data["tool"]["lockaudit"]["inputs"] == [f"{odd} sha256:{'1' * 64}"]
    path = tmp_path / "pylock.asr-cuda.toml"
    path.write_bytes(render_pylock(lock))
    assert read_pylock(path).inputs == lock.inputs


def test_input_digest_binds_the_build_args_of_an_image_without_requirement_files(
    tmp_path: Path,
) -> None:
    """Its Dockerfile's install lines are read with the build args: changing one is a change."""
    ws = _workspace(tmp_path)
    asr = replace(ws.image("asr:cuda"), requirements=(), build_args=(("TORCH", "2.1.0"),))
    before = input_digest(ws, asr, None)
    assert asr.dockerfile in dict(before.inputs)
    after = input_digest(ws, replace(asr, build_args=(("TORCH", "2.2.0"),)), None)
    assert after.changed_since(before.inputs) == ("<build-args>",)
    # an image with requirement files does not read its Dockerfile's pins: no such input
    assert "<build-args>" not in dict(input_digest(ws, ws.image("asr:cuda"), None).inputs)
