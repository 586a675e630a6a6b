"""Cold and warm metadata throughput of the index client.

    python benchmarks/bench_index.py [--packages 300]    # against the loopback test index
    python benchmarks/bench_index.py --public            # opt-in: the user's configured index

Cold: empty cache, every project page and metadata file fetched. Warm: a new client over the
same cache (no requests expected). Prints packages/s, requests and bytes received. The test
index runs in this process, so its numbers include the server's own CPU time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from packaging.utils import NormalizedName, canonicalize_name

from lockaudit.index.client import ClientOptions, IndexClient, Routing
from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import read_pip_config
from lockaudit.workspace.model import Target, Variant

PUBLIC_SET = (
    "torch",
    "transformers",
    "pyannote-audio",
    "numpy",
    "scipy",
    "librosa",
    "soundfile",
    "huggingface-hub",
    "tokenizers",
    "safetensors",
    "pyyaml",
    "requests",
    "tqdm",
    "regex",
    "filelock",
    "fsspec",
    "packaging",
    "typing-extensions",
    "sympy",
    "networkx",
    "jinja2",
    "lightning",
    "torchmetrics",
    "pytorch-lightning",
    "omegaconf",
    "einops",
    "asteroid-filterbanks",
    "pyannote-core",
    "pyannote-database",
    "pyannote-metrics",
    "pyannote-pipeline",
    "rich",
    "semver",
    "tensorboardx",
    "torch-audiomentations",
    "torchaudio",
    "speechbrain",
    "numba",
    "llvmlite",
    "scikit-learn",
    "joblib",
    "threadpoolctl",
    "pandas",
    "matplotlib",
    "pillow",
    "aiohttp",
    "protobuf",
    "sentencepiece",
    "onnxruntime",
    "ctranslate2",
)


@dataclass
class Counter:
    requests: int = 0
    cache_hits: int = 0

    def on_request(self, url: str) -> None:
        self.requests += 1

    def on_cache_hit(self, url: str) -> None:
        self.cache_hits += 1

    def on_progress(self, done: int, total: int) -> None:
        pass


def _run(client: IndexClient, names: list[NormalizedName], target: Target) -> int:
    client.prefetch(names, target)
    newest = [found[0] for name in names if (found := client.candidates(name, target))]
    client.prefetch(newest, target)
    for candidate in newest:
        client.metadata(candidate, target)
    return len(newest)


def _report(label: str, count: int, seconds: float, counter: Counter, received: int | None) -> None:
    size = f", {received / 1e6:.2f} MB sent by the server" if received is not None else ""
    print(
        f"{label:5} {count} packages in {seconds:.2f} s = {count / seconds:.0f} packages/s, "
        f"{counter.requests} requests, {counter.cache_hits} cache hits{size}"
    )


def bench_test_index(packages: int) -> None:
    from tests.indexserver import IndexServer, many_packages_scenario

    os.environ.setdefault("NO_PROXY", "127.0.0.1")
    names = [canonicalize_name(f"pkg-{i:03d}") for i in range(packages)]
    with (
        IndexServer(many_packages_scenario(packages)) as server,
        tempfile.TemporaryDirectory() as d,
    ):
        for label in ("cold", "warm"):
            counter = Counter()
            server.reset_counters()
            options = ClientOptions(cache_dir=Path(d))
            started = time.perf_counter()
            with IndexClient(Routing.simple(server.index_url()), options, reporter=counter) as c:
                count = _run(c, names, Target())
            _report(label, count, time.perf_counter() - started, counter, server.bytes_sent)


def bench_public() -> None:
    names = [canonicalize_name(n) for n in PUBLIC_SET]
    target = Target(variant=Variant.CUDA, cuda="12.1")
    config = read_pip_config()
    print(f"indexes from pip's configuration ({len(config.files)} files read)")
    with tempfile.TemporaryDirectory() as d:
        for label in ("cold", "warm"):
            counter = Counter()
            started = time.perf_counter()
            with build_index_client(None, cache_dir=Path(d), reporter=counter) as client:
                count = _run(client, names, target)
            _report(label, count, time.perf_counter() - started, counter, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=300)
    parser.add_argument("--public", action="store_true", help="also the configured index")
    args = parser.parse_args()
    bench_test_index(args.packages)
    if args.public:
        bench_public()


if __name__ == "__main__":
    main()
