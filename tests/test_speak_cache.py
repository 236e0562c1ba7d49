"""The speech cache: content-addressed, atomic under parallel writers, capped, inspectable."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest
from click.testing import CliRunner

from audiogen.cli import main
from audiogen.errors import OutputError
from audiogen.speak.cache import CAP_ENV, SpeechCache, clip_key, variant_key

BASE = ("Rest now.", "pyttsx3", "pyttsx3-2.99", "gmw/en-us+f3", 120, 40)


def _payload(writer: int, key_index: int) -> bytes:
    return bytes([writer]) * (40_000 + key_index)


def _write_many(folder: str, writer: int, keys: list[str]) -> None:
    cache = SpeechCache(folder)
    for _round in range(3):
        for index, key in enumerate(keys):
            temp = cache.temp_path(key)
            temp.write_bytes(_payload(writer, index))
            cache.put(key, temp)


def test_every_part_of_the_key_matters():
    keys = {clip_key(*BASE)}
    for position, other in enumerate(("Rest.", "espeak-ng", "pyttsx3-3.0", "gmw/en-us", 110, 45)):
        changed = list(BASE)
        changed[position] = other
        keys.add(clip_key(*changed))
    assert len(keys) == 7
    assert clip_key(*BASE) == clip_key(*BASE)
    base = clip_key(*BASE)
    assert len({base, variant_key(base, "warmth", 0.5), variant_key(base, "warmth", 0.6)}) == 3


def test_parallel_writers_never_leave_a_partial_clip(tmp_path):
    keys = [clip_key(f"Sentence {i}.", *BASE[1:]) for i in range(25)]
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(str(tmp_path), w, keys)) for w in range(1, 5)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
        assert process.exitcode == 0
    cache = SpeechCache(tmp_path)
    for index, key in enumerate(keys):
        data = cache.get(key).read_bytes()
        assert data in {_payload(w, index) for w in range(1, 5)}, "one writer's whole clip, never a mix"
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")], "no temporary files left"
    assert cache.info().clips == 25


def _fill(cache: SpeechCache, count: int, size: int = 10_000) -> list:
    paths = []
    for i in range(count):
        key = clip_key(f"Clip {i}.", *BASE[1:])
        temp = cache.temp_path(key)
        temp.write_bytes(b"x" * size)
        path = cache.put(key, temp)
        os.utime(path, (time.time() - 1000 + i, time.time() - 1000 + i))  # older first
        paths.append(path)
    return paths


def test_trim_removes_the_least_recently_used_but_keeps_what_the_session_needs(tmp_path):
    cache = SpeechCache(tmp_path, cap_bytes=35_000)
    paths = _fill(cache, 6)
    assert cache.trim(keep={paths[0]}) == 3
    assert [p.exists() for p in paths] == [True, False, False, False, True, True]
    assert cache.size_bytes() <= 35_000


def test_the_cap_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(CAP_ENV, "0.02")
    cache = SpeechCache(tmp_path)
    assert cache.cap_bytes == int(0.02 * 1024**2)
    _fill(cache, 4)
    cache.trim()
    assert cache.info().clips == 2
    monkeypatch.setenv(CAP_ENV, "lots")
    with pytest.raises(OutputError, match=f"{CAP_ENV}='lots'"):
        SpeechCache(tmp_path)


def test_stale_temporary_files_of_dead_writers_are_trimmed(tmp_path):
    cache = SpeechCache(tmp_path)
    key = clip_key(*BASE)
    stale, fresh = cache.temp_path(key), cache.temp_path(key)
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    cache.trim()
    assert not stale.exists() and fresh.exists()


def test_cache_info_and_clear_commands(tmp_path):
    _fill(SpeechCache(tmp_path), 3)
    runner = CliRunner()
    info = runner.invoke(main, ["cache", "info", "--cache-dir", str(tmp_path)])
    assert info.exit_code == 0
    assert (
        f"folder: {tmp_path}" in info.output and "clips:  3" in info.output and "MB of 2048 MB" in info.output
    )
    cleared = runner.invoke(main, ["cache", "clear", "--cache-dir", str(tmp_path)])
    assert cleared.exit_code == 0 and "removed 3 cached clips" in cleared.output
    assert SpeechCache(tmp_path).info().clips == 0


def test_a_clips_companions_count_in_its_size_and_go_with_it(tmp_path):
    """Files kept beside a clip and named like it (the mixer's look at it) are trimmed and cleared
    with it, and count towards the cap."""
    cache = SpeechCache(tmp_path, cap_bytes=45_000)
    paths = _fill(cache, 4)
    for path in paths:
        path.with_name(path.stem + ".look.npz").write_bytes(b"y" * 5_000)
    assert cache.size_bytes() == 4 * 15_000
    assert cache.trim(keep={paths[0]}) == 1
    assert not paths[1].exists() and not paths[1].with_name(paths[1].stem + ".look.npz").exists()
    assert paths[2].with_name(paths[2].stem + ".look.npz").exists()
    # A companion half-written by a process that died long ago goes like a clip's temporary.
    stale = paths[2].with_name(f".{paths[2].stem}.look.npz.x1.tmp")
    stale.write_bytes(b"z")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    cache.trim(keep=set(paths))
    assert not stale.exists()
    # A look whose clip is gone (trimmed by another process while the look was written) goes too.
    orphan = paths[1].with_name(paths[1].stem + ".look.npz")
    orphan.write_bytes(b"y")
    assert cache.clear() == 3 and not orphan.exists()
    assert list(tmp_path.glob("??/*")) == []
