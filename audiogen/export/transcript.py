"""Transcripts beside the audio: WebVTT captions, LRC lyrics and plain text, from measured timings."""

from __future__ import annotations

from audiogen.models import ChapterMark, SpokenLine, Tags

LRC_CLEAR_AFTER = 2.0  # a pause longer than this after a line blanks the LRC display


def _clock(seconds: float, decimals: int = 3, hours: bool = True) -> str:
    scale = 10**decimals
    # Whole seconds are cut, as players show a position; fractions are rounded.
    ticks = round(max(0.0, seconds) * scale) if decimals else int(max(0.0, seconds))
    whole, fraction = divmod(ticks, scale)
    minutes, secs = divmod(whole, 60)
    fraction_text = f".{fraction:0{decimals}d}" if decimals else ""
    if hours:
        return f"{minutes // 60:02d}:{minutes % 60:02d}:{secs:02d}{fraction_text}"
    return f"{minutes:02d}:{secs:02d}{fraction_text}"


def webvtt(lines: tuple[SpokenLine, ...]) -> str:
    """WebVTT: one numbered cue per spoken line, from its first to its last voiced sound."""
    cues = ["WEBVTT"]
    for number, line in enumerate(lines, 1):
        text = (
            line.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        )  # WebVTT markup characters
        cues.append(f"{number}\n{_clock(line.start)} --> {_clock(max(line.end, line.start + 0.001))}\n{text}")
    return "\n\n".join(cues) + "\n"


def lrc(lines: tuple[SpokenLine, ...], tags: Tags, duration: float) -> str:
    """LRC (centisecond timestamps): a line shows from its onset; long pauses show nothing."""
    out = [
        f"[ti:{tags.title}]",
        f"[ar:{tags.artist}]",
        f"[al:{tags.album}]",
        f"[length:{_clock(duration, 0, hours=False)}]",
        "[re:audiogen]",
    ]
    for i, line in enumerate(lines):
        out.append(f"[{_clock(line.start, 2, hours=False)}]{line.text}")
        next_start = lines[i + 1].start if i + 1 < len(lines) else duration
        if next_start - line.end > LRC_CLEAR_AFTER:
            out.append(f"[{_clock(line.end, 2, hours=False)}]")
    return "\n".join(out) + "\n"


def plain_text(
    lines: tuple[SpokenLine, ...], chapters: tuple[ChapterMark, ...], tags: Tags, duration: float
) -> str:
    """Readable text: the title, then each chapter's heading and its lines, each with its time."""
    minutes = round(duration / 60)
    about = [f"{minutes} minute{'s' if minutes != 1 else ''}", *tags.themes]
    out = [tags.title, " · ".join(about), ""]
    pending = list(chapters)

    def headings_until(seconds: float) -> None:
        while pending and pending[0].start <= seconds + 1e-6:
            chapter = pending.pop(0)
            out.extend(["", f"{chapter.title} ({_clock(chapter.start, 0, hours=False)})"])

    for line in lines:
        headings_until(line.start)
        out.append(f"  {_clock(line.start, 0, hours=False)}  {line.text}")
    headings_until(duration)
    return "\n".join(out).replace("\n\n\n", "\n\n") + "\n"


def transcripts(
    lines: tuple[SpokenLine, ...], chapters: tuple[ChapterMark, ...], tags: Tags, duration: float
) -> dict[str, str]:
    """File suffix -> contents."""
    return {
        ".vtt": webvtt(lines),
        ".lrc": lrc(lines, tags, duration),
        ".txt": plain_text(lines, chapters, tags, duration),
    }
