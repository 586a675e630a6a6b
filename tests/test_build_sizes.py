"""The size log (``reports/sizes.jsonl``) and what the report makes of it, without an engine.

* Appending: concurrent writers in separate processes interleave whole lines only; a torn
  line left by a killed writer never glues onto the next record.
* Reading: every hostile line is ``reports/sizes.jsonl:N: ...``.
* A layer's step keeps no build-argument value and no URL.
* The growth rule: what the lock explains, what it does not.
* ``lockaudit build`` appends one record per built image, none for up-to-date ones. The
  engine's answers come through the runner seam, as ``docker image inspect`` and
  ``docker history`` print them; ``tests/test_build_engine.py`` does the same on a real engine.
"""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lockaudit.builder import INPUTS_LABEL, BuildOptions, Command, CommandResult, run_build
from lockaudit.errors import InputError
from lockaudit.report.trend import INSTALL_FACTOR, size_trends
from lockaudit.sizelog import (
    SIZES_LOG,
    LayerSize,
    SizeRecord,
    append_records,
    clean_step,
    read_size_log,
)
from lockaudit.workspace.model import Workspace
from tests.engine.workspaces import busybox_chain

MB = 1 << 20


def record(
    image: str = "asr:cuda",
    size: int = 100 * MB,
    estimate: int = 40 * MB,
    lock: str = "sha256:aa",
    when: str = "2026-11-01T06:00:00Z",
) -> SizeRecord:
    return SizeRecord(
        built_at=when,
        image=image,
        ref=f"example/{image}",
        id="sha256:00",
        platform="linux/amd64",
        lock=f"locks/{image.replace(':', '-')}.txt",
        lock_digest=lock,
        inputs_digest="sha256:bb",
        estimate_layer=estimate // 2,
        estimate_total=estimate,
        size=size,
        layers=(LayerSize(size - 10, "ADD file in /"), LayerSize(10, "RUN pip install")),
    )


# ------------------------------------------------------------------------------ the file


def test_records_round_trip_in_order(tmp_path: Path) -> None:
    log = tmp_path / "reports" / "sizes.jsonl"
    first = [record("base:cpu"), record("asr:cuda")]
    assert append_records(log, first) == 2
    assert append_records(log, [record("asr:cuda", size=120 * MB)]) == 1
    assert append_records(log, []) == 0
    assert read_size_log(log) == (*first, record("asr:cuda", size=120 * MB))
    assert all(
        line.startswith('{"schema":"lockaudit-sizes/1"') for line in log.read_text().splitlines()
    )
    assert read_size_log(tmp_path / "none.jsonl") == ()


def _writer(path: str, worker: int) -> None:
    for number in range(40):
        append_records(
            Path(path), [record(f"w{worker}:n{number}", size=100 + worker * 1000 + number)]
        )


def test_concurrent_appends_interleave_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "sizes.jsonl"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(str(log), w)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    records = read_size_log(log)  # any torn or glued line would fail to parse
    assert len(records) == 160
    assert {r.image for r in records} == {f"w{w}:n{n}" for w in range(4) for n in range(40)}
    for worker in range(4):  # each writer's own records stay in its order
        mine = [r.size for r in records if r.image.startswith(f"w{worker}:")]
        assert mine == sorted(mine)


def test_a_torn_line_stays_alone_and_is_reported_at_its_line(tmp_path: Path) -> None:
    log = tmp_path / "sizes.jsonl"
    append_records(log, [record("base:cpu")])
    with log.open("ab") as handle:
        handle.write(b'{"schema":"lockaudit-sizes/1","built_at":"2026-')  # killed mid-write
    append_records(log, [record("asr:cuda")])
    lines = log.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["image"] == "asr:cuda"
    with pytest.raises(InputError) as caught:
        read_size_log(log)
    assert str(caught.value.location) == f"{SIZES_LOG}:2"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not a JSON object"),
        ("[1, 2]", "not a lockaudit-sizes/1 record"),
        ('{"schema": "lockaudit-sizes/9"}', "not a lockaudit-sizes/1 record"),
        ('{"schema": "lockaudit-sizes/1"}', "bad lockaudit-sizes/1 record"),
        ("SIZE=-1", "size must be a non-negative integer"),
        ("SIZE=true", "size must be a non-negative integer"),
        ('SIZE="12"', "size must be a non-negative integer"),
        ("LAYERS=[1]", "layers must be a list of objects"),
    ],
)
def test_a_bad_line_names_its_line(tmp_path: Path, line: str, message: str) -> None:
    good = json.dumps(record().as_json())
    if line.startswith("SIZE="):
        data = record().as_json() | {"size": json.loads(line[5:])}
        line = json.dumps(data)
    elif line.startswith("LAYERS="):
        line = json.dumps(record().as_json() | {"layers": json.loads(line[7:])})
    log = tmp_path / "sizes.jsonl"
    log.write_text(f"{good}\n\n{line}\n{good}\n")
    with pytest.raises(InputError, match=message) as caught:
        read_size_log(log)
    assert str(caught.value.location) == f"{SIZES_LOG}:3"


def test_a_layer_step_keeps_no_build_argument_value_or_url() -> None:
    created = (
        "RUN |2 PIP_INDEX_URL=https://user:token@idx.example.com/simple LAYER_LOCK=locks/a.txt "
        "/bin/sh -c pip install -r locks/a.txt --extra-index-url https://u:p@x.example/y # buildkit"
    )
    step = clean_step(created)
    assert step == "RUN /bin/sh -c pip install -r locks/a.txt --extra-index-url <url>"
    assert clean_step("/bin/sh -c #(nop)  ENV PATH=/opt/venv/bin") == "ENV PATH=/opt/venv/bin"
    assert len(clean_step("RUN " + "x" * 500)) == 160


# ---------------------------------------------------------------------------- the trend


def test_growth_the_lock_does_not_explain_is_flagged() -> None:
    builds = [
        record(size=1000 * MB, when="2026-10-01T06:00:00Z"),
        # the lock moved: +100 MB of downloads explains up to 300 MB of growth
        record(size=1250 * MB, estimate=140 * MB, lock="sha256:b2", when="2026-11-01T06:00:00Z"),
        # same lock, 15 MB more: a cache left in a layer, say (tolerance: 2% of 1.22 GiB)
        record(size=1265 * MB, estimate=140 * MB, lock="sha256:b2", when="2026-11-15T06:00:00Z"),
        # same lock, 60 MB more: flagged
        record(size=1325 * MB, estimate=140 * MB, lock="sha256:b2", when="2026-12-01T06:00:00Z"),
        # the lock grew 10 MB, the image 200 MB: flagged, and says the lock changed
        record(size=1525 * MB, estimate=150 * MB, lock="sha256:b3", when="2026-12-02T06:00:00Z"),
    ]
    (trend,) = size_trends(builds, {"asr:cuda": 150 * MB})
    assert [g.after.built_at[:10] for g in trend.growths] == ["2026-12-01", "2026-12-02"]
    quiet, changed = trend.growths
    assert (quiet.grown, quiet.explained, quiet.lock_changed) == (60 * MB, 0, False)
    assert changed.explained == 10 * MB * INSTALL_FACTOR and changed.lock_changed
    assert quiet.describe() == (
        "grew 60.0 MiB from 2026-11-15 to 2026-12-01; its lock did not change, "
        "which explains at most 0 B"
    )
    assert "lock's downloads changed by +10.0 MiB" in changed.describe()
    assert trend.last.size == 1525 * MB and trend.estimate == 150 * MB
    assert trend.ratio == pytest.approx(1525 / 150)


def test_shrinking_and_small_moves_are_not_flagged_and_order_is_build_order() -> None:
    records = [
        record("asr:cuda", size=500 * MB),
        record("base:cpu", size=100 * MB),
        record("asr:cuda", size=400 * MB),  # smaller: never a flag
        record("base:cpu", size=100 * MB + MB // 2),  # under 1 MiB: noise
    ]
    trends = size_trends(records, {}, order=["base:cpu", "asr:cuda"])
    assert [t.key for t in trends] == ["base:cpu", "asr:cuda"]
    assert all(t.growths == () for t in trends)
    assert trends[0].estimate is None


# ------------------------------------------------------------------- build appends records


@dataclass
class EngineAnswers:
    """The runner seam answering as an engine that has built every image asked for."""

    built: dict[str, str] = field(default_factory=dict)  # ref -> its inputs label
    ran: list[Command] = field(default_factory=list)

    def run(self, command: Command) -> CommandResult:
        self.ran.append(command)
        argv = command.argv
        if argv[1] == "version":
            return CommandResult(0, "26.1.5\n", 0.0)
        if argv[1] == "build":
            labels = [argv[i + 1] for i, a in enumerate(argv) if a == "--label"]
            digest = next(v.split("=", 1)[1] for v in labels if v.startswith(INPUTS_LABEL))
            self.built[argv[argv.index("--tag") + 1]] = digest
            return CommandResult(0, "", 0.4)
        ref = argv[-1]
        if argv[1:3] == ("image", "inspect") and ref in self.built:
            labels = {INPUTS_LABEL: self.built[ref]}
            data = {
                "Id": f"sha256:{len(ref)}",
                "Size": 5000 + len(ref),
                "Config": {"Labels": labels},
            }
            return CommandResult(0, json.dumps(data) + "\n", 0.0)
        if argv[1] == "history" and ref in self.built:
            rows = [
                {"CreatedBy": "RUN |1 LAYER_LOCK=x /bin/sh -c echo", "Size": "26"},
                {"CreatedBy": "", "Size": "4974"},
            ]
            return CommandResult(0, "\n".join(json.dumps(r) for r in rows) + "\n", 0.0)
        return CommandResult(1, "Error: No such image", 0.0)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return busybox_chain(tmp_path)


def test_build_appends_one_record_per_built_image(workspace: Workspace) -> None:
    when = datetime(2026, 12, 3, 13, 20, 7, tzinfo=UTC)
    report = run_build(workspace, BuildOptions(gate=False), runner=EngineAnswers(), now=when)
    assert report.ok and report.sizes_log == SIZES_LOG
    records = read_size_log(workspace.path(SIZES_LOG))
    assert [r.image for r in records] == [o.image_key for o in report.outcomes]
    mid = next(r for r in records if r.image == "mid:cuda")
    assert mid.built_at == "2026-12-03T13:20:07Z"
    assert mid.size == 5000 + len("local/lat-mid:cuda")
    assert mid.layers == (LayerSize(4974, ""), LayerSize(26, "RUN /bin/sh -c echo"))
    assert mid.platform == "linux/amd64" and mid.lock == "locks/mid-cuda.txt"
    assert report.as_json()["sizes"][2]["image"] == "mid:cuda"


def test_up_to_date_images_dry_runs_and_opt_out_record_nothing(workspace: Workspace) -> None:
    log = workspace.path(SIZES_LOG)
    run_build(workspace, BuildOptions(gate=False, dry_run=True), runner=EngineAnswers())
    assert not log.exists()
    run_build(workspace, BuildOptions(gate=False, record_sizes=False), runner=EngineAnswers())
    assert not log.exists()
    engine = EngineAnswers()
    one = replace(BuildOptions(gate=False), stages=("base:cpu",))
    run_build(workspace, one, runner=engine)
    assert [r.image for r in read_size_log(log)] == ["base:cpu"]
    again = run_build(workspace, BuildOptions(gate=False), runner=engine)
    assert [s.image_key for s in again.plan.skipped] == ["base:cpu"]  # up to date
    images = [r.image for r in read_size_log(log)]
    assert images.count("base:cpu") == 1 and len(images) == len(workspace.images)
    assert all(r.inputs_digest == again.plan.step(r.image).digest for r in read_size_log(log))
