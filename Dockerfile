# audiomanip in a container.
#
# CPU image (default):
#   docker build -t audiomanip .
#   docker run --rm -v "$PWD:/work" -u "$(id -u):$(id -g)" audiomanip \
#       audiomanip apply /work/vocals.wav "warm vintage tape with a small room"
#
# CUDA image: a CUDA runtime base plus torch's CUDA wheel (pick the CUDA index that the torch
# release offers, e.g. cu128), then run with --gpus all and --device cuda:
#   docker build -t audiomanip:cuda \
#       --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
#   docker run --rm --gpus all -v "$PWD:/work" -u "$(id -u):$(id -g)" audiomanip:cuda \
#       audiomanip apply /work/vocals.wav "big cathedral reverb" --device cuda
#
# Only the model runs on the GPU; rendering is CPU code in both images.

ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# torch is installed first, on its own, from the index that matches the base image.
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX_URL="https://download.pytorch.org/whl/cpu"
# Extra Debian/Ubuntu packages, e.g. --build-arg APT_PACKAGES="ffmpeg" to try exported
# ffmpeg chains inside the container (not needed by audiomanip itself).
ARG APT_PACKAGES=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBIAN_FRONTEND=noninteractive \
    MPLCONFIGDIR=/tmp/matplotlib \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# python:* images have Python; CUDA runtime images do not, so install it there.
# libsndfile (wav, flac, ogg, mp3) comes inside the soundfile wheel: no system audio libraries.
RUN set -eux; \
    packages="${APT_PACKAGES}"; \
    if ! command -v python3 >/dev/null 2>&1; then packages="$packages python3 python3-venv python3-pip"; fi; \
    if [ -n "$(echo $packages)" ]; then \
        apt-get update; \
        apt-get install -y --no-install-recommends $packages; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3 -m venv /opt/venv; \
    pip install --upgrade pip

# (the torch index also serves torch's own dependencies)
RUN pip install --index-url "${TORCH_INDEX_URL}" "${TORCH_SPEC}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY audiomanip ./audiomanip
COPY commands ./commands
COPY presets ./presets
RUN pip install . \
    && cd / && rm -rf /src \
    && audiomanip --help >/dev/null \
    && audiomanip presets >/dev/null

WORKDIR /work
CMD ["audiomanip", "--help"]
