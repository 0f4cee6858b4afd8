"""Error types the library raises for problems a user can cause.

Each carries an ``exit_code``; the CLI prints ``str(error)`` on one line to stderr and exits
with that code (README.md lists them). Anything else escaping the library is a bug.
"""

from __future__ import annotations

from audiomanip.params import PresetError as _PresetError


class AudiomanipError(Exception):
    """Base class of every error a user can cause. ``exit_code`` is the CLI's exit status."""

    exit_code = 1


class InputNotFoundError(AudiomanipError):
    """An input path does not exist or is a directory where a file is expected."""

    exit_code = 3


class AudioReadError(AudiomanipError):
    """An input file is not readable audio (empty, truncated, not audio, no samples, NaN …)."""

    exit_code = 4


class OutputError(AudiomanipError):
    """The output cannot be written (exists without --overwrite, unwritable, disk full)."""

    exit_code = 5


class PresetFileError(AudiomanipError):
    """A preset file or named preset is missing or invalid."""

    exit_code = 6


class CheckpointError(AudiomanipError):
    """A model checkpoint is missing, corrupt, unsafe or incompatible."""

    exit_code = 7


class DeviceError(AudiomanipError):
    """The requested compute device is not available."""

    exit_code = 8


class PromptError(AudiomanipError):
    """A prompt or prompt file is empty or unusable."""

    exit_code = 9


class DependencyError(AudiomanipError):
    """An optional dependency (e.g. the ``clap`` extra) is missing."""

    exit_code = 10


class ClusterError(AudiomanipError):
    """The compute cluster (``batch --engine ray``) cannot be reached or used."""

    exit_code = 11


class UsageError(AudiomanipError):
    """Options that contradict each other or are out of range."""

    exit_code = 2


#: Preset validation errors raised by params.py map to PresetFileError's exit code.
PresetError = _PresetError
PRESET_ERROR_EXIT_CODE = PresetFileError.exit_code
