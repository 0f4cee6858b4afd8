"""audio_io: formats, sample rates, channel counts, subtypes, atomic writes, clear errors."""

from __future__ import annotations

import errno
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest
import soundfile as sf

from audiomanip import audio_io, tempfiles
from audiomanip.errors import AudioReadError, InputNotFoundError, OutputError
from audiomanip.features import spectral_centroid_hz
from audiomanip.training import sources

SR = 48000


def multichannel_sines(channels: int, sample_rate: int, seconds: float = 0.5) -> np.ndarray:
    """Channel c holds a sine at 300·(c+1) Hz, so a channel mix-up is visible."""
    return np.concatenate(
        [sources.sine(300.0 * (c + 1), seconds, sample_rate, amplitude=0.4) for c in range(channels)]
    )


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


# ------------------------------------------------------------------------------------------
# Round trips
# ------------------------------------------------------------------------------------------

# subtype -> max abs error expected after a round trip (quantisation step)
WAV_SUBTYPES = {
    "PCM_U8": 2.0 / 2**8,
    "PCM_16": 1.0 / 2**15,
    "PCM_24": 1.0 / 2**23,
    "PCM_32": 1.0 / 2**31 + 1e-7,  # float32 mantissa dominates
    "FLOAT": 0.0,
    "DOUBLE": 0.0,
}


@pytest.mark.parametrize("subtype", sorted(WAV_SUBTYPES))
def test_wav_subtypes_round_trip_within_quantisation(tmp_path, subtype):
    x = multichannel_sines(2, SR)
    path = tmp_path / f"x_{subtype}.wav"
    audio_io.write(path, x, SR, subtype=subtype)
    info = audio_io.info(path)
    assert (info.format, info.subtype, info.channels, info.sample_rate, info.frames) == (
        "WAV",
        subtype,
        2,
        SR,
        x.shape[1],
    )
    y, sr = audio_io.read(path)
    assert y.dtype == np.float32 and y.shape == x.shape and sr == SR
    assert np.max(np.abs(y - x)) <= WAV_SUBTYPES[subtype] * 1.01


@pytest.mark.parametrize("channels", [1, 2, 6, 8])
@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_lossless_keeps_channel_count_and_order(tmp_path, channels, ext):
    x = multichannel_sines(channels, SR)
    path = tmp_path / f"multi.{ext}"
    audio_io.write(path, x, SR, subtype="PCM_24")
    y, sr = audio_io.read(path)
    assert y.shape == (channels, x.shape[1])
    if ext == "wav":  # more than 2 channels: the extensible header that names the layout
        assert audio_io.info(path).format == ("WAVEX" if channels > 2 else "WAV")
    for c in range(channels):
        assert spectral_centroid_hz(y[c], sr) == pytest.approx(300.0 * (c + 1), rel=0.01)
    assert np.max(np.abs(y - x)) < 2e-7


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 96000, 192000])
def test_own_sample_rate_is_kept(tmp_path, rate):
    x = sources.sine(1000.0, 0.25, rate)
    path = tmp_path / f"r{rate}.flac"
    audio_io.write(path, x, rate)
    y, sr = audio_io.read(path)
    assert sr == rate and y.shape == x.shape
    assert spectral_centroid_hz(y, sr) == pytest.approx(1000.0, rel=0.01)


@pytest.mark.parametrize(
    "ext,channels,subtype",
    [("mp3", 1, "MPEG_LAYER_III"), ("mp3", 2, "MPEG_LAYER_III"), ("ogg", 2, "VORBIS"), ("ogg", 6, "VORBIS")],
)
def test_lossy_formats_keep_pitch_level_rate_and_channels(tmp_path, ext, channels, subtype):
    freqs = [500.0 * (c + 1) for c in range(channels)]
    if channels == 6:
        freqs[3] = 80.0  # LFE: Vorbis low-passes it
    x = np.concatenate([sources.sine(f, 1.0, 44100, amplitude=0.5) for f in freqs])
    path = tmp_path / f"lossy.{ext}"
    audio_io.write(path, x, 44100)
    info = audio_io.info(path)
    assert info.subtype == subtype and info.channels == channels and info.sample_rate == 44100
    y, sr = audio_io.read(path)
    assert sr == 44100 and y.shape[0] == channels
    # MP3 length is approximate (encoder delay/padding) — within 2048 frames.
    assert abs(y.shape[1] - x.shape[1]) <= 2048
    mid = y[:, 4410:-4410]
    for c, f in enumerate(freqs):  # each channel in its place, at its pitch and level
        assert spectral_centroid_hz(mid[c], sr) == pytest.approx(f, rel=0.02)
        rms_db = 20 * np.log10(np.sqrt(np.mean(mid[c] ** 2)))
        tolerance_db = 2.5 if f == 80.0 else 0.5  # Vorbis codes the LFE coarsely
        assert rms_db == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=tolerance_db)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_surround_channel_order_agrees_with_ffmpeg(tmp_wav):
    freqs = [300.0, 600.0, 900.0, 80.0, 1500.0, 1800.0]  # L R C LFE Ls Rs
    x = np.concatenate([sources.sine(f, 1.0, SR, amplitude=0.4) for f in freqs])
    wav = tmp_wav(x, SR, "five_one.wav")
    ogg = wav.with_name("five_one.ogg")
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "libvorbis", str(ogg)], check=True)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=channel_layout", "-of", "csv=p=0", str(wav)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "5.1"  # our 6-channel WAV announces its layout
    y, sr = audio_io.read(ogg)
    got = [spectral_centroid_hz(y[c, 4800:-4800], sr) for c in range(6)]
    assert got == pytest.approx(freqs, rel=0.02)
    # And our own 5.1 Ogg decodes in the right places in ffmpeg (Vorbis order on disk).
    ours = audio_io.write(wav.with_name("ours.ogg"), x, SR)
    back = wav.with_name("back.wav")
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(ours), "-c:a", "pcm_f32le", str(back)], check=True)
    y, sr = audio_io.read(back)
    got = [spectral_centroid_hz(y[c, 4800:-4800], sr) for c in range(6)]
    assert got == pytest.approx(freqs, rel=0.02)


def test_output_subtype_keeps_input_subtype_when_possible():
    assert audio_io.output_subtype("WAV", "PCM_24") == "PCM_24"
    assert audio_io.output_subtype("WAV", "FLOAT") == "FLOAT"
    assert audio_io.output_subtype("FLAC", "PCM_24") == "PCM_24"
    assert audio_io.output_subtype("FLAC", "FLOAT") == "PCM_24"
    assert audio_io.output_subtype("WAV", "VORBIS") == "PCM_16"
    assert audio_io.output_subtype("MP3", "PCM_16") == "MPEG_LAYER_III"
    assert audio_io.output_subtype("WAV", "PCM_24", requested="FLOAT") == "FLOAT"
    with pytest.raises(OutputError, match="FLAC"):
        audio_io.output_subtype("FLAC", requested="FLOAT")


def test_integer_subtypes_clip_instead_of_wrapping(tmp_path):
    x = np.array([[1.7, -1.7, 0.5]], np.float32)
    path = tmp_path / "hot.wav"
    audio_io.write(path, x, SR, subtype="PCM_16")
    y, _ = audio_io.read(path)
    assert y[0, 0] == pytest.approx(1.0, abs=1e-4) and y[0, 1] == pytest.approx(-1.0, abs=1e-4)
    float_path = tmp_path / "hot_float.wav"
    audio_io.write(float_path, x, SR, subtype="FLOAT")
    assert audio_io.read(float_path)[0][0, 0] == pytest.approx(1.7)


@pytest.mark.parametrize("name", ["with space.wav", "ünïcödé 音.flac", "-leading-dash.wav", "--help.ogg"])
def test_awkward_file_names(tmp_path, monkeypatch, name):
    x = sources.sine(440.0, 0.3, SR)
    monkeypatch.chdir(tmp_path)  # relative path: a leading dash must not look like an option
    audio_io.write(name, x, SR)
    y, sr = audio_io.read(name)
    assert sr == SR and abs(y.shape[1] - x.shape[1]) <= 2048
    assert spectral_centroid_hz(y, sr) == pytest.approx(440.0, rel=0.02)
    assert [b.shape[0] for b in audio_io.iter_blocks(name)] and leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------
# Partial reads, resampling, streaming
# ------------------------------------------------------------------------------------------


def test_read_range_and_resample_on_read(tmp_wav):
    x = multichannel_sines(2, 44100, seconds=1.0)
    path = tmp_wav(x, 44100, "range.wav", subtype="FLOAT")
    y, _ = audio_io.read(path, start_frame=1000, frames=500)
    np.testing.assert_array_equal(y, x[:, 1000:1500])
    tail, _ = audio_io.read(path, start_frame=44000)
    assert tail.shape == (2, 100)
    up, sr = audio_io.read(path, sample_rate=48000)
    assert sr == 48000 and up.shape == (2, 48000)
    assert spectral_centroid_hz(up[1], sr) == pytest.approx(600.0, rel=0.01)
    with pytest.raises(AudioReadError, match="past its end"):
        audio_io.read(path, start_frame=10**6)


def test_iter_blocks_streams_whole_file_in_bounded_blocks(tmp_wav):
    x = multichannel_sines(6, SR, seconds=1.0)
    path = tmp_wav(x, SR, "stream.wav", subtype="FLOAT")
    reader = audio_io.iter_blocks(path, block_frames=7000)
    blocks = list(reader)
    assert all(b.shape[0] == 6 and b.shape[1] <= 7000 and b.dtype == np.float32 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), x)
    assert reader.info.channels == 6 and reader.info.warnings == []
    limited = list(audio_io.iter_blocks(path, block_frames=4096, max_frames=10000))
    assert sum(b.shape[1] for b in limited) == 10000


# ------------------------------------------------------------------------------------------
# Non-finite samples
# ------------------------------------------------------------------------------------------


def test_nonfinite_samples_are_zeroed_and_reported(tmp_path):
    x = sources.sine(440.0, 0.2, SR, channels=2).T.copy()
    x[10, 0], x[20, 1], x[30, 1] = np.nan, np.inf, -np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    y, _, info = audio_io.read_with_info(path)
    assert np.isfinite(y).all() and y[0, 10] == 0 and y[1, 20] == 0 and y[1, 30] == 0
    assert y[0, 11] == pytest.approx(x[11, 0])
    assert info.nonfinite_samples == 3
    assert len(info.warnings) == 1 and "3 non-finite" in info.warnings[0] and "nan.wav" in info.warnings[0]
    reader = audio_io.iter_blocks(path, block_frames=16)
    assert all(np.isfinite(b).all() for b in reader)
    assert reader.info.nonfinite_samples == 3 and reader.info.warnings
    with pytest.raises(AudioReadError, match=r"nan\.wav.*3 non-finite.*frame 10"):
        audio_io.read(path, on_nonfinite="error")


# ------------------------------------------------------------------------------------------
# Read errors
# ------------------------------------------------------------------------------------------


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(InputNotFoundError, match="not found.*nope.wav"):
        audio_io.read(tmp_path / "nope.wav")
    with pytest.raises(InputNotFoundError, match="directory"):
        audio_io.info(tmp_path)
    with pytest.raises(InputNotFoundError):
        audio_io.iter_blocks(tmp_path / "nope.flac")


def _write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3", "ogg"])
def test_truncated_files_are_reported(tmp_wav, ext):
    path = tmp_wav(sources.sine(440.0, 1.0, 44100, channels=2), 44100, f"full.{ext}")
    data = path.read_bytes()
    cut = _write_bytes(path.with_name(f"cut.{ext}"), data[: len(data) // 2])
    with pytest.raises(AudioReadError, match=rf"cut\.{ext}.*(truncated|corrupt)"):
        audio_io.read(cut)
    with pytest.raises(AudioReadError, match="truncated|corrupt"):
        list(audio_io.iter_blocks(cut, block_frames=4096))


def test_unreadable_contents_are_reported(tmp_path):
    with pytest.raises(AudioReadError, match=r"empty\.wav.*empty \(0 bytes\)"):
        audio_io.read(_write_bytes(tmp_path / "empty.wav", b""))
    with pytest.raises(AudioReadError, match=r"notes\.wav.*not a valid WAV"):
        audio_io.read(_write_bytes(tmp_path / "notes.wav", b"just some text, renamed to .wav\n" * 20))
    with pytest.raises(AudioReadError, match=r"blob\.xyz.*not an audio file"):
        audio_io.info(_write_bytes(tmp_path / "blob.xyz", bytes(range(256)) * 8))
    header_only = tmp_path / "zero.wav"
    sf.write(header_only, np.zeros((0, 1), np.float32), SR)
    with pytest.raises(AudioReadError, match=r"zero\.wav.*no audio samples"):
        audio_io.read(header_only)


def test_wav_header_promising_more_data_is_truncated(tmp_wav):
    path = tmp_wav(sources.sine(440.0, 0.1, SR), SR, "declared.wav", subtype="PCM_16")
    data = bytearray(path.read_bytes())
    pos = data.index(b"data")
    struct.pack_into("<I", data, pos + 4, struct.unpack_from("<I", data, pos + 4)[0] + 1000)
    path.write_bytes(bytes(data))
    with pytest.raises(AudioReadError, match="declares .* bytes of audio but only"):
        audio_io.info(path)


# ------------------------------------------------------------------------------------------
# Atomic writing and write errors
# ------------------------------------------------------------------------------------------


def test_existing_output_needs_overwrite_and_is_untouched(tmp_wav):
    path = tmp_wav(sources.sine(440.0, 0.1, SR), SR, "out.wav")
    before = path.read_bytes()
    with pytest.raises(OutputError, match="already exists.*overwrite"):
        audio_io.AtomicWriter(path, SR, 1)
    assert path.read_bytes() == before
    audio_io.write(path, sources.sine(880.0, 0.2, SR), SR, overwrite=True)
    y, sr = audio_io.read(path)
    assert y.shape[1] == int(0.2 * SR) and spectral_centroid_hz(y, sr) == pytest.approx(880.0, rel=0.01)


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_midway_removes_temp_file_and_keeps_destination(tmp_wav, exc):
    path = tmp_wav(sources.sine(440.0, 0.1, SR), SR, "keep.wav")
    before = path.read_bytes()
    with pytest.raises(type(exc)), audio_io.AtomicWriter(path, SR, 1, overwrite=True) as w:
        w.write(sources.sine(1000.0, 0.5, SR))
        assert len(leftovers(path.parent)) == 1  # the temp file is in the destination folder
        raise exc
    assert path.read_bytes() == before
    assert leftovers(path.parent) == []
    fresh = path.with_name("fresh.wav")
    with pytest.raises(type(exc)), audio_io.AtomicWriter(fresh, SR, 1) as w:
        w.write(sources.sine(1000.0, 0.5, SR))
        raise exc
    assert not fresh.exists() and leftovers(path.parent) == []


def test_streamed_writes_append_blocks(tmp_path):
    x = multichannel_sines(2, SR, seconds=0.5)
    path = tmp_path / "blocks.flac"
    with audio_io.AtomicWriter(path, SR, 2, subtype="PCM_24") as w:
        for start in range(0, x.shape[1], 5000):
            w.write(x[:, start : start + 5000])
    assert w.frames_written == x.shape[1]
    y, _ = audio_io.read(path)
    assert np.max(np.abs(y - x)) < 2e-7


def test_new_file_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = audio_io.write(tmp_path / "perm.wav", sources.sine(440.0, 0.1, SR), SR)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


class _FullDisk:
    """statvfs result of a file system with no free blocks."""

    f_bfree = f_bavail = 0
    f_frsize = 4096


@pytest.mark.parametrize("how", ["oserror", "libsndfile"])
def test_disk_full_is_a_clear_error_without_partial_file(tmp_path, monkeypatch, how):
    path = tmp_path / "full.wav"
    calls = {"n": 0}
    real_write = sf.SoundFile.write

    def failing_write(self, data):
        calls["n"] += 1
        if calls["n"] > 1:
            if how == "oserror":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            # libsndfile reports ENOSPC as a bare "System error"; the free space tells.
            monkeypatch.setattr(os, "statvfs", lambda folder: _FullDisk())
            raise RuntimeError("Error : System error.")
        return real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", failing_write)
    with pytest.raises(OutputError) as info, audio_io.AtomicWriter(path, SR, 1) as w:
        for _ in range(3):
            w.write(sources.sine(440.0, 0.1, SR))
    message = str(info.value)
    assert message == f"cannot write '{path}': no space left on device" and "\n" not in message
    assert not path.exists() and leftovers(tmp_path) == []


def test_unwritable_or_missing_folder(tmp_path, monkeypatch):
    x = sources.sine(440.0, 0.1, SR)
    with pytest.raises(OutputError, match="does not exist"):
        audio_io.write(tmp_path / "no" / "such" / "dir.wav", x, SR)
    real_open = os.open

    def denied(path, flags, mode=0o777, **kw):
        if str(path).endswith(".partial"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(OutputError, match="permission denied"):
        audio_io.write(tmp_path / "denied.wav", x, SR)
    assert not (tmp_path / "denied.wav").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="permission denied"):
            audio_io.write(folder / "x.wav", sources.sine(440.0, 0.1, SR), SR)
    finally:
        folder.chmod(0o700)


def test_impossible_format_combinations_fail_before_work(tmp_path):
    with pytest.raises(OutputError, match="MP3 holds at most 2 channels"):
        audio_io.AtomicWriter(tmp_path / "six.mp3", SR, 6)
    with pytest.raises(OutputError, match="MP3 does not support 96000 Hz"):
        audio_io.AtomicWriter(tmp_path / "hi.mp3", 96000, 2)
    with pytest.raises(OutputError, match="cannot tell the audio format"):
        audio_io.AtomicWriter(tmp_path / "noext", SR, 2)
    with pytest.raises(OutputError, match="cannot hold subtype FLOAT"):
        audio_io.AtomicWriter(tmp_path / "f.flac", SR, 2, subtype="FLOAT")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_its_input(tmp_wav):
    path = tmp_wav(sources.sine(440.0, 0.1, SR), SR, "in.wav")
    before = path.read_bytes()
    with pytest.raises(OutputError, match="is the input"):
        audio_io.write(path, sources.sine(880.0, 0.1, SR), SR, overwrite=True, protect=path)
    with pytest.raises(OutputError, match="directory"):
        audio_io.write(path.parent, sources.sine(880.0, 0.1, SR), SR, format="WAV", overwrite=True)
    assert path.read_bytes() == before


def test_non_finite_audio_is_never_written(tmp_path):
    x = sources.sine(440.0, 0.1, SR)
    x[0, 10] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        audio_io.write(tmp_path / "nan.wav", x, SR, subtype="FLOAT")
    assert list(tmp_path.iterdir()) == []


def test_abandoned_writer_leaves_no_temp_file(tmp_path):
    w = audio_io.AtomicWriter(tmp_path / "abandoned.wav", SR, 1)
    w.write(sources.sine(440.0, 0.1, SR))
    assert len(leftovers(tmp_path)) == 1
    del w
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_just_after_the_temp_file_is_created_leaves_nothing(tmp_path, monkeypatch):
    """The temporary file is the writer's before it exists: a Ctrl-C (or a worker's SIGTERM)
    that strikes as os.open returns still removes it."""
    real_open = os.open

    def open_then_interrupt(path, flags, mode=0o777):
        os.close(real_open(path, flags, mode))
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "open", open_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        audio_io.AtomicWriter(tmp_path / "x.wav", SR, 1).open()
    assert list(tmp_path.iterdir()) == []


def test_remove_temporary_files_cleans_up_after_writers_that_could_not(tmp_path):
    """What a stopped process calls last: every unfinished writer's file goes, finished ones stay."""
    done = tmp_path / "done.wav"
    with audio_io.AtomicWriter(done, SR, 1) as w:
        w.write(sources.sine(440.0, 0.1, SR))
    stuck = audio_io.AtomicWriter(tmp_path / "stuck.wav", SR, 1)
    stuck.write(sources.sine(440.0, 0.1, SR))
    assert len(leftovers(tmp_path)) == 1
    assert tempfiles.remove_temporary_files() == 1
    assert leftovers(tmp_path) == [] and done.is_file()
    assert tempfiles.remove_temporary_files() == 0
    stuck.abort()  # idempotent after the clean-up


def test_remove_partial_files_takes_only_the_temporary_files_of_that_output(tmp_path):
    """What a batch parent sweeps after its workers were stopped: the writers' leftovers of one
    output, nothing with a similar name."""
    target = tmp_path / "take1.wav"
    left = audio_io.AtomicWriter(target, SR, 1)
    left.write(sources.sine(440.0, 0.1, SR))
    other = audio_io.AtomicWriter(tmp_path / "take10.wav", SR, 1)
    other.write(sources.sine(440.0, 0.1, SR))
    keep = [tmp_path / ".take1.wav.notours.partial", tmp_path / "take1.wav.abcdefabcdef.partial"]
    for p in keep:
        p.write_bytes(b"x")
    assert tempfiles.remove_partial_files(target) == 1
    assert [n for n in leftovers(tmp_path) if n.startswith(".take1.wav.")] == [".take1.wav.notours.partial"]
    assert all(p.exists() for p in keep) and len(leftovers(tmp_path)) == 3  # take10's is still there
    other.abort()
    assert tempfiles.remove_partial_files(tmp_path / "missing" / "x.wav") == 0


def test_lossy_output_defaults_to_high_quality(music, tmp_path):
    audio, rate = music
    seconds = audio.shape[1] / rate
    for name in ("music.mp3", "music.ogg"):
        path = audio_io.write(tmp_path / name, audio, rate)
        kbit_per_s = path.stat().st_size * 8 / seconds / 1000
        assert kbit_per_s > 160, name


def test_one_audio_suffix_list_serves_batch_training_and_eval(tmp_path):
    """Folder searches (batch, `train --audio-dir`, `eval --audio-dir`) take the same files:
    every extension audio_io reads."""
    from audiomanip.batch import engine as batch
    from audiomanip.evaluation import sources as eval_sources
    from audiomanip.training import clips, sources

    assert batch.AUDIO_SUFFIXES is audio_io.AUDIO_SUFFIXES is clips.AUDIO_SUFFIXES
    assert set(audio_io.AUDIO_SUFFIXES) == {f".{ext}" for ext in audio_io.EXTENSION_FORMATS}
    audio_io.write(tmp_path / "tone.au", sources.sine(440.0, 1.0, 16000, amplitude=0.5), 16000)
    (tmp_path / "notes.txt").write_text("not audio")
    assert batch.find_inputs(tmp_path) == [tmp_path / "tone.au"]
    found = eval_sources.audio_dir_sources(tmp_path, sample_rate=16000, duration_s=0.5)
    assert [s.name for s in found] == ["tone"] and found[0].audio.shape == (1, 8000)
