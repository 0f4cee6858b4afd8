"""What a batch will do, decided before any worker starts: its preset source, the preset of
each label (the model runs once per distinct prompt, here in the parent, unless the workers
predict: see :class:`PromptModel`), the inputs, where outputs go, and the jobs
(:func:`audiomanip.batch.engine.plan_jobs`).

A batch takes exactly one source: one prompt for every file, a prompts file (every file gets
every prompt), a plan CSV (``file,prompt`` rows), a named preset or a preset file. Nothing
here prints: notes and warnings go to the ``note``/``warn`` callbacks; user-caused problems
raise the types of :mod:`audiomanip.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from audiomanip.errors import UsageError
from audiomanip.preset_source import PresetRequest, ignore_message

if TYPE_CHECKING:
    from audiomanip.batch.engine import BatchJob
    from audiomanip.params import Preset
    from audiomanip.preset_source import PromptPresetter


@dataclass(kw_only=True)
class BatchRequest(PresetRequest):
    """What one ``batch`` run is asked to do (the options of ``audiomanip batch``): where its
    presets come from (:class:`audiomanip.preset_source.PresetRequest`'s fields; a batch edits
    nothing and explains nothing) and:

    ``in_dir`` and ``output_dir``, paths or fsspec URLs (``s3://bucket/prefix``); with no
    ``output_dir`` outputs go to ``output/batch_<in_dir name>[_<slug>]``. ``prompts_file`` (one
    prompt per line) and ``plan`` (a ``file,prompt`` CSV) are sources too: exactly one source
    is given. ``pattern`` (a glob on file names) and ``recursive`` choose the inputs (not with
    ``plan``); ``audio_length_s`` (seconds) as for ``apply``.
    """

    in_dir: str
    prompts_file: str | None = None
    plan: str | None = None
    output_dir: str | None = None
    pattern: str | None = None
    recursive: bool = False
    audio_length_s: float | None = None


@dataclass(frozen=True)
class PromptModel:
    """How a batch turns its prompts into presets: the model of ``checkpoint_path`` /
    ``checkpoint_dir`` (``find_checkpoint``'s rule) on ``device`` with ``seed``, each preset
    taken at ``strength`` (0..1). Plain data, so that it can travel to the workers of a cluster:
    each builds its own :meth:`presetter` (the model loads on its first prompt) and calls
    :meth:`preset`, the one prompt-to-preset path of every batch."""

    checkpoint_path: Path | None = None
    checkpoint_dir: Path | None = None
    device: str = "auto"
    seed: int | None = None
    strength: float = 1.0
    many: bool = False

    def presetter(self) -> PromptPresetter:
        from audiomanip.preset_source import PromptPresetter

        return PromptPresetter(
            checkpoint_path=self.checkpoint_path,
            checkpoint_dir=self.checkpoint_dir,
            device=self.device,
            seed=self.seed,
            many=self.many,
        )

    def preset(self, presetter: PromptPresetter, label: str) -> tuple[Preset, dict[str, Any] | None, list[str]]:
        """The preset of the prompt ``label`` at :attr:`strength`, the model's ``info`` and the
        notes for the user (the loader's, then the prompt's, each prompt's prefixed with it)."""
        resolved = presetter(label)
        notes = presetter.take_notes() + [f"{label!r}: {n}" for n in resolved.notes + resolved.explicit]
        return resolved.at_strength(self.strength), resolved.model, notes


@dataclass
class BatchPlan:
    """The jobs of a batch: ``labels`` (the distinct prompts, or the one preset's name) with
    their ``slugs``; ``in_dir``/``output_dir`` as checked and defaulted; ``model`` (the
    model's ``info`` dict, prompts predicted here only); ``prompt_model`` (prompts only): how
    the workers predict the jobs planned without a preset (``predict=False``)."""

    jobs: list[BatchJob]
    labels: list[str]
    slugs: dict[str, str]
    in_dir: Path | str
    output_dir: str
    model: dict[str, Any] | None = None
    prompt_model: PromptModel | None = None


def check_request(request: BatchRequest) -> None:
    """UsageError for a request no batch can run (not exactly one source, options out of
    range), before any folder is made or anything is loaded."""
    from audiomanip.preset_source import check_one_source
    from audiomanip.processing import check_options

    req = request
    check_one_source(
        req.prompt,
        req.preset_name,
        req.preset_file,
        prompt_lists={"--prompts": req.prompts_file, "--plan": req.plan},
    )
    check_options(audio_length_s=req.audio_length_s, strength=req.strength)  # before any folder is made


def plan_batch(
    request: BatchRequest,
    *,
    note: Callable[[str], None] = ignore_message,
    warn: Callable[[str], None] = ignore_message,
    predict: bool = True,
) -> BatchPlan:
    """The batch's jobs (see the module docstring). ``predict=False``: prompts are not turned
    into presets here (the model is not loaded, only its checkpoint found): their jobs have no
    preset, and the workers predict them with :attr:`BatchPlan.prompt_model`. ``note`` hears the model's and each
    prompt's notes as soon as each prompt is read (the model is loaded first, so an error
    while loading stays one line) and which input formats get WAV outputs; ``warn`` hears a
    preset file's repairs. Raises UsageError (no
    input matches, an output would replace an input, ``output_dir`` is ``in_dir``),
    InputNotFoundError, PromptError, PresetFileError, CheckpointError, DeviceError."""
    from audiomanip.batch import engine, storage
    from audiomanip.outputs import slugify, unique_slugs

    req = request
    check_request(req)
    in_dir = engine.check_input_dir(req.in_dir)  # before any slow work (the model)
    if req.output_dir is not None and storage.identity(str(req.output_dir)) == storage.identity(str(in_dir)):
        raise UsageError(
            "--output-dir is the input folder: outputs would replace inputs; choose another folder"
        )

    assignments: list[tuple[Path | str, str]] = []
    if req.plan is not None:
        assignments = engine.read_plan(req.plan, in_dir)
        labels = list(dict.fromkeys(lab for _, lab in assignments))
    elif req.prompt is not None:
        labels = [" ".join(req.prompt.split())]
    elif req.prompts_file is not None:
        from audiomanip.preset_source import read_prompt_file

        with storage.local_copy(req.prompts_file) as local_prompts:
            labels = read_prompt_file(local_prompts)
    else:
        labels = []
    prompt_model = None
    presets: dict[str, Preset | None]
    if req.preset_name is None and req.preset_file is None:
        prompt_model = _prompt_model(req, labels, for_workers=not predict)
        if predict:
            presets, model = _prompt_presets(prompt_model, labels, note)
        else:
            presets, model = dict.fromkeys(labels), None
    else:
        labels, presets, model = _preset(req, note, warn)
    slugs = unique_slugs(labels)

    output_dir = req.output_dir
    if output_dir is None:
        name = slugify(storage.name(storage.identity(str(in_dir))) or "input")
        output_dir = str(
            Path("output") / (f"batch_{name}_{slugs[labels[0]]}" if len(labels) == 1 else f"batch_{name}")
        )
    if req.plan is None:
        files = engine.find_inputs(in_dir, pattern=req.pattern, recursive=req.recursive, exclude=[output_dir])
        if not files:
            what = f"matching {req.pattern!r}" if req.pattern else "with an audio suffix"
            raise UsageError(
                f"no files {what} in {in_dir}" + ("" if req.recursive else " (add --recursive?)")
            )
        assignments = [(f, lab) for f in files for lab in labels]
    jobs = engine.plan_jobs(assignments, presets, in_dir, output_dir, slugs)
    as_wav = {
        Path(j.in_path).suffix.lower()
        for j in jobs
        if Path(j.in_path).suffix.lower() != Path(j.out_path).suffix
    }
    for suffix in sorted(as_wav):
        note(f"{suffix or 'suffix-less'} files can be read but not written: their outputs are WAV")
    return BatchPlan(
        jobs=jobs, labels=labels, slugs=slugs, in_dir=in_dir, output_dir=str(output_dir), model=model,
        prompt_model=prompt_model,
    )


def _prompt_model(req: BatchRequest, labels: list[str], *, for_workers: bool) -> PromptModel:
    """The request's :class:`PromptModel`, once its prompts are checked (PromptError for an
    empty one). ``for_workers``: the workers will load it, so a given checkpoint is found here
    first (CheckpointError before any worker starts) and passed on as an absolute path; without
    one each machine loads its own default model."""
    from audiomanip.checkpoint import find_checkpoint
    from audiomanip.preset_source import check_prompt

    for label in labels or [""]:
        check_prompt(label, example="warm tape")
    path, folder = req.checkpoint_path, req.checkpoint_dir
    if for_workers and (path is not None or folder is not None):
        path, folder = find_checkpoint(checkpoint_path=path, checkpoint_dir=folder).resolve(), None
    return PromptModel(
        checkpoint_path=path, checkpoint_dir=folder, device=req.device, seed=req.seed,
        strength=req.strength, many=len(labels) > 16,
    )


def _prompt_presets(
    prompt_model: PromptModel, labels: list[str], note: Callable[[str], None]
) -> tuple[dict[str, Preset | None], dict[str, Any] | None]:
    """The preset of each prompt (:meth:`PromptModel.preset`), and the model's ``info``."""
    presetter = prompt_model.presetter()
    presets: dict[str, Preset | None] = {}
    model = None
    for label in labels:
        presets[label], model, notes = prompt_model.preset(presetter, label)
        for message in notes:
            note(message)
    return presets, model


def _preset(
    req: BatchRequest, note: Callable[[str], None], warn: Callable[[str], None]
) -> tuple[list[str], dict[str, Preset], None]:
    """The one label, its preset at the request's strength (a named preset or a preset file)."""
    from audiomanip.preset_source import resolve

    resolved = resolve(None, req.preset_name, req.preset_file, clamp=req.clamp)
    for message in resolved.notes:
        (warn if resolved.kind == "file" else note)(message)
    return [resolved.label], {resolved.label: resolved.at_strength(req.strength)}, None


__all__ = ["BatchPlan", "BatchRequest", "PromptModel", "check_request", "plan_batch"]
