"""Locks tampered with so that every body digest still holds: the gate cross-verifies files.

A body digest is a checksum anyone can recompute. Each test edits one file of an image's lock,
writes its ``# body-digest:`` again exactly as the writer does (sha256 of everything after the
header), and expects ``lockaudit check`` to fail with a ``lock-inconsistent`` finding at the
line that differs: the full lock, the layer lock and the pylock must pin the same packages,
versions and hashes, and the layer lock exactly the full lock minus the parent's full lock.

The workspace is compiled once against the loopback index (real wheels and hashes); each test
edits a copy. ``check`` runs through the CLI application in this process (its JSON findings are
the contract).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from lockaudit.locks import Lock, LockedPackage, parse_lock, read_lock, render_all
from lockaudit.workspace.config import load_workspace
from tests.corpus.harness import (
    check_json,
    compile_in_process,
    make_workspace,
    reliability_scenario,
)
from tests.indexserver import IndexServer

FULL = "locks/asr-cuda.txt"
LAYER = "locks/asr-cuda.layer.txt"
PARENT = "locks/base-ml-cuda.txt"
PYLOCK = "locks/pylock.asr-cuda.toml"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with IndexServer(reliability_scenario()) as server:
        root = make_workspace(tmp_path_factory.mktemp("tamper") / "ws", server)
        assert compile_in_process(root, server).ok
        yield root


@pytest.fixture
def root(good: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ws"
    shutil.copytree(good, copy)
    return copy


# An entry exactly as lockaudit writes one (a hash, its file record, the index): only the
# cross-verification of the image's files can tell it was not compiled.
EVIL_ENTRY = (
    "evil==1.0 \\\n    --hash=sha256:" + "ab" * 32 + "\n    # index: default\n"
    "    # file: evil-1.0-py3-none-any.whl sha256=" + "ab" * 32 + " size=1 url=-\n"
    "    # via asr:cuda: docker/asr/requirements.txt:1\n\n"
)


def check(root: Path) -> tuple[int, list[dict[str, Any]]]:
    return check_json(root, no_cache=True)


def errors(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in findings if f["severity"] == "error"]


def redigest(text: str, path: str) -> str:
    """The lock with its ``# body-digest:`` recomputed over its (edited) body, as written."""
    body = parse_lock(text, path).body
    digest = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    return re.sub(r"(?m)^# body-digest: .*$", f"# body-digest: {digest}", text, count=1)


def line_of(text: str, prefix: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), start=1) if line.startswith(prefix))


def line_with(text: str, needle: str) -> int:
    (number,) = [n for n, line in enumerate(text.split("\n"), start=1) if needle in line]
    return number


def test_the_recomputed_digest_alone_would_pass(root: Path) -> None:
    """The edit helper is faithful: an unedited lock re-digested is byte for byte the same."""
    text = (root / LAYER).read_text()
    assert redigest(text, LAYER) == text
    added = text.replace("\nwhisperx==", "\n" + EVIL_ENTRY + "whisperx==", 1)
    assert not parse_lock(redigest(added, LAYER), LAYER).tampered


def test_a_package_added_only_to_the_layer_lock_fails_the_gate(root: Path) -> None:
    path = root / LAYER
    edited = redigest(
        path.read_text().replace("\nwhisperx==", "\n" + EVIL_ENTRY + "whisperx==", 1), LAYER
    )
    path.write_text(edited)
    code, findings = check(root)
    assert code == 1
    assert [(f["rule"], f["location"]) for f in errors(findings)] == [
        ("lock-inconsistent", f"{LAYER}:{line_of(edited, 'evil==1.0')}")
    ]
    assert "evil==1.0" in errors(findings)[0]["message"]


def test_a_parent_package_moved_into_the_layer_lock_fails_the_gate(root: Path) -> None:
    """A package the parent installs does not belong to the child's layer, even pinned alike."""
    parent = (root / PARENT).read_text()
    numpy = parent[parent.index("\nnumpy==") + 1 :].split("\n\n", 1)[0]
    # as the layer lock would write it: the image's own (no `# from` line)
    numpy = "\n".join(line for line in numpy.split("\n") if not line.startswith("    # from"))
    path = root / LAYER
    edited = redigest(
        path.read_text().replace("\nwhisperx==", f"\n{numpy}\n\nwhisperx==", 1), LAYER
    )
    path.write_text(edited)
    code, findings = check(root)
    assert code == 1
    (found,) = errors(findings)
    assert (found["rule"], found["location"]) == (
        "lock-inconsistent",
        f"{LAYER}:{line_of(edited, 'numpy==')}",
    )
    assert "parent" in found["message"]


def test_a_hash_changed_only_in_the_pylock_fails_the_gate(root: Path) -> None:
    path = root / PYLOCK
    text = path.read_text()
    whisperx = read_lock(root / FULL).package("whisperx")
    assert whisperx is not None
    (digest,) = whisperx.hashes
    forged = ("0" if digest[0] != "0" else "1") + digest[1:]
    assert text.count(digest) == 1
    edited = text.replace(digest, forged)
    path.write_text(edited)
    code, findings = check(root)
    assert code == 1
    assert [(f["rule"], f["location"]) for f in errors(findings)] == [
        ("lock-inconsistent", f"{PYLOCK}:{line_with(edited, forged)}")
    ]


def test_a_pylock_forged_after_a_check_is_read_again(root: Path) -> None:
    """Each pylock's pins are cached by its bytes between checks: an edit is still seen."""
    assert check(root)[0] == 0  # the pins of every pylock are now in the cache
    path = root / PYLOCK
    text = path.read_text()
    whisperx = read_lock(root / FULL).package("whisperx")
    assert whisperx is not None
    (digest,) = whisperx.hashes
    path.write_text(text.replace(digest, ("0" if digest[0] != "0" else "1") + digest[1:]))
    code, findings = check(root)
    assert code == 1
    assert {(f["rule"], f["location"].split(":")[0]) for f in errors(findings)} == {
        ("lock-inconsistent", PYLOCK)
    }
    path.write_text(text)
    assert check(root)[0] == 0


def test_a_layer_package_removed_from_the_layer_lock_fails_the_gate(root: Path) -> None:
    """whisperx is asr:cpu's own (its parent base:cpu does not pin it): the layer must keep it."""
    full_path, layer_path = "locks/asr-cpu.txt", "locks/asr-cpu.layer.txt"
    assert read_lock(root / "locks/base-cpu.txt").package("whisperx") is None
    path = root / layer_path
    text = path.read_text()
    start = text.index("\nwhisperx==") + 1
    end = text.find("\n\n", start)
    # (the last entry: the blank line before it goes too, as lockaudit would write the rest)
    edited = redigest(
        text[:start] + text[end + 2 :] if end != -1 else text[: start - 1], layer_path
    )
    path.write_text(edited)
    assert "\nwhisperx==" not in edited and "\ntorch==" in edited
    code, findings = check(root)
    assert code == 1
    full = (root / full_path).read_text()
    (found,) = errors(findings)
    assert (found["rule"], found["location"]) == (
        "lock-inconsistent",
        f"{full_path}:{line_of(full, 'whisperx==')}",
    )
    assert layer_path in found["message"] and "whisperx" in found["message"]


def test_an_untouched_workspace_passes_the_gate(root: Path) -> None:
    code, findings = check(root)
    assert code == 0
    assert not errors(findings)


# --------------------------------------------------------------------------- round two
# Each attack below edits the locks as an attacker would and recomputes every digest it touches:
# the gate must fail at the line that lies, never pass.

EVIL_INDEX = "https://evil.invalid/simple"


def edit_both(root: Path, edit: Any) -> dict[str, str]:
    """``edit`` applied to the full and the layer lock, each re-digested; the edited texts."""
    edited = {}
    for path in (FULL, LAYER):
        edited[path] = redigest(edit((root / path).read_text()), path)
        (root / path).write_text(edited[path])
    return edited


def first_hash_line(text: str, name: str) -> int:
    return line_of(text, f"{name}==") + 1


def test_an_extra_hash_without_its_file_line_fails_the_gate(root: Path) -> None:
    """pip accepts any file matching any ``--hash`` of an entry: a hash with no ``# file:``
    record of it would let another file in, while every lockaudit view ignored it."""
    evil = "ab" * 32

    def add_hash(text: str) -> str:
        return re.sub(
            r"(?m)^(whisperx==\S+ \\\n    --hash=sha256:[0-9a-f]{64})$",
            rf"\1 \\\n    --hash=sha256:{evil}",
            text,
            count=1,
        )

    edited = edit_both(root, add_hash)
    code, findings = check(root)
    assert code == 1
    assert sorted((f["rule"], f["location"]) for f in errors(findings)) == sorted(
        ("lock-tampered", f"{path}:{first_hash_line(text, 'whisperx')}")
        for path, text in edited.items()
    )
    assert all("not as lockaudit writes it" in f["message"] for f in errors(findings))


def test_an_added_extra_index_url_fails_the_gate(root: Path) -> None:
    def add_index(text: str) -> str:
        head, body = text.split("\n# body-digest: ", 1)
        digest_line, rest = body.split("\n", 1)
        return f"{head}\n# body-digest: {digest_line}\n--extra-index-url {EVIL_INDEX}\n{rest}"

    edited = edit_both(root, add_index)
    code, findings = check(root)
    assert code == 1
    assert sorted((f["rule"], f["location"]) for f in errors(findings)) == sorted(
        ("lock-tampered", f"{path}:{line_with(text, EVIL_INDEX)}") for path, text in edited.items()
    )


def _list_whisperx_on(text: str, index: str) -> str:
    text = re.sub(
        r"(?m)^(whisperx==[^\n]*\n(?:    --hash[^\n]*\n)*)    # index: default$",
        rf"\1    # index: {index}",
        text,
        count=1,
    )
    return with_index_line(text, index)


def with_index_line(text: str, index: str) -> str:
    """``--extra-index-url index`` where lockaudit would write it (index lines sorted)."""
    lines = text.split("\n")
    digest = next(n for n, line in enumerate(lines) if line.startswith("# body-digest: "))
    after = digest + 1
    while (
        lines[after].startswith("--extra-index-url ")
        and lines[after] < f"--extra-index-url {index}"
    ):
        after += 1
    return "\n".join([*lines[:after], f"--extra-index-url {index}", *lines[after:]])


def test_a_package_listed_on_an_index_the_workspace_does_not_name_fails_the_gate(
    root: Path,
) -> None:
    """Unrouted whisperx said to come from a foreign index, written as lockaudit would write it
    (its ``--extra-index-url`` too): the gate knows every index the workspace may use."""
    edited = edit_both(root, lambda text: _list_whisperx_on(text, EVIL_INDEX))
    code, findings = check(root)
    assert code == 1
    assert [(f["rule"], f["location"]) for f in errors(findings)] == [
        ("lock-provenance", f"{FULL}:{line_of(edited[FULL], 'whisperx==')}")
    ]
    assert EVIL_INDEX in errors(findings)[0]["message"]


def test_an_index_changed_only_in_the_layer_lock_fails_the_gate(root: Path) -> None:
    """The layer lock is what the Dockerfile installs: it must be the full lock's own entries,
    byte for byte, not only the same names, versions and hashes."""
    edited = redigest(_list_whisperx_on((root / LAYER).read_text(), EVIL_INDEX), LAYER)
    (root / LAYER).write_text(edited)
    code, findings = check(root)
    assert code == 1
    assert [(f["rule"], f["location"]) for f in errors(findings)] == [
        ("lock-inconsistent", f"{LAYER}:{line_of(edited, '--extra-index-url ' + EVIL_INDEX)}")
    ]


def test_a_layer_package_marked_as_the_parents_fails_the_gate(root: Path) -> None:
    """``# from parent`` on whisperx, which the parent does not pin: the full lock would then
    say the layer need not install it."""
    path = root / FULL
    edited = redigest(
        re.sub(
            r"(?m)^(whisperx==[^\n]*\n(?:    [^\n]*\n)*?(?:    # file:[^\n]*\n)+)",
            r"\1    # from parent base-ml:cuda\n",
            path.read_text(),
            count=1,
        ),
        FULL,
    )
    assert "# from parent base-ml:cuda\n    # via asr:cuda" in edited
    path.write_text(edited)
    code, findings = check(root)
    assert code == 1
    (found,) = errors(findings)
    assert (found["rule"], found["location"]) == (
        "lock-inconsistent",
        f"{FULL}:{line_of(edited, 'whisperx==')}",
    )
    assert "base-ml:cuda does not pin it" in found["message"]


def test_a_hash_swapped_for_another_files_in_all_three_files_fails_the_gate(root: Path) -> None:
    """whisperx given the sha256 of rich's wheel in the full lock, the layer lock and the pylock,
    every digest recomputed: the three files agree, but one sha256 now names two files."""
    old = read_lock(root / FULL).package("whisperx")
    new = read_lock(root / FULL).package("rich")
    assert old is not None and new is not None
    (old_hash,), (new_hash,) = old.hashes, new.hashes
    for path in (FULL, LAYER, PYLOCK):
        text = (root / path).read_text().replace(old_hash, new_hash)
        (root / path).write_text(text)
    for path in (FULL, LAYER):
        (root / path).write_text(redigest((root / path).read_text(), path))
    full = (root / FULL).read_text()
    body = parse_lock(full, FULL).body_digest
    pylock = re.sub(
        r'(?m)^body-digest = ".*"$', f'body-digest = "{body}"', (root / PYLOCK).read_text()
    )
    (root / PYLOCK).write_text(pylock)
    code, findings = check(root)
    assert code == 1
    (found,) = errors(findings)
    assert (found["rule"], found["location"]) == (
        "lock-inconsistent",
        f"{FULL}:{line_of(full, 'whisperx==')}",
    )
    assert new_hash in found["message"] and "rich" in found["message"]


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        (LAYER, "# parent: base-ml:cuda", "# parent: base:cuda"),
        (FULL, "# image: asr:cuda", "# image: asr:cpu"),
        (LAYER, f"# layer-of: {FULL}", "# layer-of: locks/asr-cpu.txt"),
        (FULL, "cuda=12.1", "cuda=11.8"),
    ],
    ids=["parent", "image", "layer-of", "target"],
)
def test_a_header_that_lies_fails_the_gate(root: Path, path: str, old: str, new: str) -> None:
    """The header is outside the body digest: what it says is held against the configuration,
    the other file of the image and its own recorded inputs."""
    text = (root / path).read_text()
    assert old in text
    edited = text.replace(old, new, 1)
    (root / path).write_text(edited)
    code, findings = check(root)
    assert code == 1
    assert [(f["rule"], f["location"]) for f in errors(findings)] == [
        ("lock-inconsistent", f"{path}:{line_with(edited, new)}")
    ]


def test_a_parent_lock_changed_with_its_digests_makes_every_child_stale(root: Path) -> None:
    """numpy (which base-ml:cuda inherits) moved to another version in the parent's full lock
    and in the child's, both re-digested: the child's inputs hold its parent's lock bytes."""
    version = read_lock(root / PARENT).package("numpy")
    assert version is not None
    pin = f"\nnumpy=={version.version} "
    for path in (PARENT, FULL):
        text = (root / path).read_text()
        assert pin in text, path
        (root / path).write_text(redigest(text.replace(pin, "\nnumpy==1.26.4 ", 1), path))
    code, findings = check(root)
    assert code == 1
    stale = {f["location"].split(":")[0] for f in errors(findings) if f["rule"] == "lock-stale"}
    assert FULL in stale


def test_a_lock_that_is_a_symlink_leading_outside_fails_the_gate(root: Path) -> None:
    outside = root.parent / "outside.txt"
    shutil.copy(root / FULL, outside)
    (root / FULL).unlink()
    (root / FULL).symlink_to(outside)
    code, findings = check(root)
    assert code == 1
    (found,) = [f for f in errors(findings) if f["location"].startswith(FULL)]
    assert (found["rule"], found["location"]) == ("lock-tampered", f"{FULL}:1")
    assert "outside the workspace" in found["message"]


# --------------------------------------------------------------------------- consistent forgeries
# The three files of the image rendered again by lockaudit's own writer from an edited Lock:
# every digest and every cross-file comparison holds, so only the lock's relation to the
# requirement files can tell (``lock-unfounded``).


def forge(root: Path, change: Callable[[Lock], Lock]) -> str:
    workspace = load_workspace(root)
    image = workspace.image("asr:cuda")
    for path, data in render_all(workspace, image, change(read_lock(root / FULL))).items():
        (root / path).write_bytes(data)
    return (root / FULL).read_text()


def with_evil(via: tuple[str, ...]) -> Callable[[Lock], Lock]:
    def change(lock: Lock) -> Lock:
        model = lock.package("whisperx")
        assert model is not None
        digest = "ab" * 32
        file = replace(model.files[0], filename="evil-1.0-py3-none-any.whl", sha256=digest)
        evil = replace(
            model, name="evil", version=Version("1.0"), files=(file,), required_by=via
        )
        return replace(lock, packages=tuple(sorted((*lock.packages, evil), key=lambda p: p.name)))

    return change


@pytest.mark.parametrize(
    ("via", "said"),
    [
        (("asr:cuda: docker/asr/requirements.txt:1",), "that line asks for whisperx"),
        (("asr:cuda: docker/asr/requirements.txt:7",), "no requirement of asr:cuda"),
        (("base:cpu: requirements-common.txt:1",), "not asr:cuda or one of its parents"),
        (("ghost",), "required by ghost, which it does not pin"),
        ((), "nothing asks for"),
    ],
    ids=["another-packages-line", "no-such-line", "another-image", "unpinned-package", "no-via"],
)
def test_a_package_forged_into_all_three_files_fails_the_gate(
    root: Path, via: tuple[str, ...], said: str
) -> None:
    full = forge(root, with_evil(via))
    code, findings = check(root)
    assert code == 1
    (found,) = errors(findings)
    assert (found["rule"], found["location"]) == (
        "lock-unfounded",
        f"{FULL}:{line_of(full, 'evil==1.0')}",
    )
    assert said in found["message"]


def test_a_version_forged_into_all_three_files_fails_the_gate(root: Path) -> None:
    """whisperx 3.1.1 → 3.0.0 with its file renamed to match: the pin no longer satisfies the
    requirement line its own ``# via`` names, nor that line itself."""

    def older(lock: Lock) -> Lock:
        def edit(package: LockedPackage) -> LockedPackage:
            if package.name != "whisperx":
                return package
            files = tuple(
                replace(f, filename=f.filename.replace("3.1.1", "3.0.0")) for f in package.files
            )
            return replace(package, version=Version("3.0.0"), files=files)

        return replace(lock, packages=tuple(edit(p) for p in lock.packages))

    full = forge(root, older)
    code, findings = check(root)
    assert code == 1
    found = errors(findings)
    assert {f["rule"] for f in found} == {"lock-unfounded"}, found
    assert {f["location"] for f in found} == {f"{FULL}:{line_of(full, 'whisperx==')}"}
    assert any("whisperx==3.1.1 (docker/asr/requirements.txt:1)" in f["message"] for f in found)


def test_a_required_package_forged_out_of_all_three_files_fails_the_gate(root: Path) -> None:
    def without(lock: Lock) -> Lock:
        kept = tuple(p for p in lock.packages if p.name != "whisperx")
        return replace(lock, packages=kept)

    forge(root, without)
    code, findings = check(root)
    assert code == 1
    found = errors(findings)
    assert {f["rule"] for f in found} == {"lock-unfounded"}, found
    messages = [f["message"] for f in found]
    asked = "does not pin whisperx, which docker/asr/requirements.txt:1 asks for"
    assert any(asked in m for m in messages)
    # what whisperx alone pulled in now names a package the lock does not pin
    assert any("required by whisperx, which it does not pin" in m for m in messages)


def test_a_lock_rendered_again_unchanged_passes_the_gate(root: Path) -> None:
    """The forging helper alone changes nothing: the findings above come from the edits."""
    before = (root / FULL).read_bytes()
    forge(root, lambda lock: lock)
    assert (root / FULL).read_bytes() == before
    code, findings = check(root)
    assert (code, errors(findings)) == (0, [])


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text.replace("\nwhisperx==", "\nwhisper\u0445==", 1),  # Cyrillic ha
        lambda text: text.replace("\n    --hash", "\n\t--hash", 1),  # pip splits on spaces only
    ],
    ids=["homoglyph-name", "tab-indent"],
)
def test_a_layer_lock_line_pip_cannot_read_is_tampering_not_an_input_error(
    root: Path, edit: Callable[[str], str]
) -> None:
    """The Dockerfile installs the layer lock: a line of it that no parser reads is reported as
    the tampering it is (exit 1, at the lock), once, not as the user's input error (exit 2)."""
    path = root / LAYER
    path.write_text(edit(path.read_text()))
    code, findings = check(root)
    assert code == 1
    (found,) = errors(findings)
    assert found["rule"] == "lock-tampered" and found["path"] == LAYER
