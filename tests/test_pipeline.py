"""The orchestrator resolves each costly thing once per render."""

from __future__ import annotations

from audiogen import background, pipeline
from audiogen.export import formats
from audiogen.models import SessionSpec, SoundSettings, VoiceSettings


def test_a_render_builds_its_background_and_resolves_its_format_once(tmp_path, monkeypatch):
    built, fresh, resolved = [], [], []
    make, replay, resolve = background.Bed.__init__, background.Bed.fresh, formats.audio_format

    def counted_make(self, *args):
        built.append(args)
        make(self, *args)

    def counted_replay(self):
        fresh.append(self)
        return replay(self)

    monkeypatch.setattr(background.Bed, "__init__", counted_make)
    monkeypatch.setattr(background.Bed, "fresh", counted_replay)
    monkeypatch.setattr(formats, "audio_format", lambda *args: resolved.append(args) or resolve(*args))
    spec = SessionSpec(
        article=None,
        minutes=1,
        out_dir=tmp_path,
        format="ogg",
        bitrate="96k",
        use_cache=False,  # the codec probe runs too: it plays the bed and encodes
        voice=VoiceSettings(engine="pyttsx3"),
        sound=SoundSettings(background="rain+bells"),
    )
    result = pipeline.render_session(spec)
    assert result.path.suffix == ".ogg" and result.path.exists()
    assert len(built) == 1, "the bed is built (and any file analysed) once"
    assert len(fresh) >= 2, "the probe and the master each play a fresh copy"
    assert resolved == [("ogg", "96k")], "the format is resolved once"
