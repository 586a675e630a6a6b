#!/usr/bin/env bash
# Build every image of the pipeline, bases first.
set -euo pipefail
REGISTRY="${REGISTRY:-rajiup}"
PREFIX="cp-whisperx-app"

docker build -t "$REGISTRY/$PREFIX-base:cpu" -f docker/base/Dockerfile .
docker build -t "$REGISTRY/$PREFIX-base:cuda" -f docker/base-cuda/Dockerfile .
docker build -t "$REGISTRY/$PREFIX-base-ml:cuda" \
    -f docker/base-ml/Dockerfile .

for stage in demux tmdb mux pre-ner post-ner subtitle-gen; do
    docker build -t "$REGISTRY/$PREFIX-$stage:cpu" -f "docker/$stage/Dockerfile" .
done

for stage in asr diarization silero-vad pyannote-vad second-pass-translation lyrics-detection; do
    docker build -t "$REGISTRY/$PREFIX-$stage:cuda" -f "docker/$stage/Dockerfile" .
done

# CPU fallbacks: the GPU Dockerfile with base-ml:cuda swapped for base:cpu
for stage in asr diarization silero-vad pyannote-vad second-pass-translation lyrics-detection; do
    sed -e 's/base-ml:cuda/base:cpu/g' -e 's/base:cuda/base:cpu/g' "docker/$stage/Dockerfile" \
        | docker build -t "$REGISTRY/$PREFIX-$stage:cpu" -f - .
done
