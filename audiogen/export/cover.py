"""Cover art: a calm, generated square image with the session's title, themes and length.

Deterministic: the same title and themes always give the same picture (the shapes are
seeded from them), and the font is the one bundled with Pillow, not the system's.
JPEG, 1400 px square: the size Apple Podcasts asks for at least, and a format every
player that shows embedded art can read.
"""

from __future__ import annotations

import hashlib
import io
import textwrap

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from audiogen.models import Tags

SIZE = 1400
MARGIN = 120
NOISE_ROWS = 100
Color = tuple[int, int, int]

# Theme label -> (sky at the top, sky at the bottom, light for shapes and small text).
PALETTES: dict[str, tuple[Color, Color, Color]] = {
    "grief": ((34, 44, 78), (112, 98, 142), (206, 192, 230)),
    "heartbreak": ((66, 38, 66), (172, 102, 122), (246, 200, 204)),
    "self-compassion": ((82, 54, 68), (204, 142, 118), (252, 214, 178)),
    "letting go": ((22, 58, 70), (82, 146, 148), (196, 234, 224)),
    "trust": ((28, 56, 92), (106, 156, 188), (214, 232, 246)),
    "anger": ((52, 36, 42), (150, 94, 80), (240, 204, 180)),
    "loneliness": ((34, 42, 64), (102, 116, 140), (206, 216, 232)),
    "sleep": ((12, 16, 42), (50, 56, 102), (180, 184, 232)),
    "gratitude": ((62, 56, 38), (192, 156, 92), (250, 226, 170)),
    "forgiveness": ((44, 56, 60), (140, 162, 150), (226, 238, 222)),
    "anxiety": ((30, 54, 62), (110, 150, 160), (214, 236, 238)),
    "healing": ((36, 60, 50), (122, 162, 128), (220, 240, 208)),
}
DEFAULT_PALETTE: tuple[Color, Color, Color] = ((40, 62, 56), (132, 160, 136), (224, 238, 222))
TEXT = (250, 248, 244)


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size)  # Pillow's bundled sans (Aileron), the same everywhere


def _length_label(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _background(top: Color, bottom: Color, light: Color, rng: np.random.Generator) -> Image.Image:
    """A vertical gradient, a few blurred discs of light, and two soft hills at the bottom."""
    t = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)[:, None, None] ** 1.3
    column = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    image = Image.fromarray(np.round(column).astype(np.uint8), "RGB").resize(
        (SIZE, SIZE), Image.Resampling.NEAREST
    )

    small = SIZE // 4  # the glow is all soft edges: drawn and blurred at a quarter of the size
    glow = Image.new("L", (small, small), 0)
    draw = ImageDraw.Draw(glow)
    for _ in range(4):
        radius = rng.uniform(40, 110)
        x, y = rng.uniform(0.1, 0.9) * small, rng.uniform(0.35, 0.8) * small
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=int(rng.uniform(40, 90)))
    glow = glow.filter(ImageFilter.GaussianBlur(22)).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    image = Image.composite(Image.new("RGB", image.size, light), image, glow)

    for depth, shade in ((0.80, 0.55), (0.88, 0.35)):
        hills = Image.new("L", (SIZE, SIZE), 0)
        phase, wavelength = rng.uniform(0, 2 * np.pi), rng.uniform(0.7, 1.3) * SIZE
        xs = np.arange(0, SIZE + 20, 20)
        ys = depth * SIZE + 40 * np.sin(2 * np.pi * xs / wavelength + phase)
        ImageDraw.Draw(hills).polygon([*zip(xs, ys), (SIZE, SIZE), (0, SIZE)], fill=int(255 * shade))
        hills = hills.filter(ImageFilter.GaussianBlur(6))
        darker = tuple(int(c * 0.55) for c in top)
        image = Image.composite(Image.new("RGB", image.size, darker), image, hills)

    # A little seeded noise hides banding in the smooth gradient, added a band of rows at a time
    # (the same draws in the same order): a whole-image float copy made the cover a render's peak
    # of memory.
    pixels = np.array(image)
    for first in range(0, SIZE, NOISE_ROWS):
        rows = pixels[first : first + NOISE_ROWS]
        noise = rng.normal(0.0, 1.2, (len(rows), SIZE, 1)).astype(np.float32)
        rows[:] = np.clip(rows.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def _title_lines(title: str, draw: ImageDraw.ImageDraw) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest title size at which it wraps into at most four lines inside the margins."""
    for size in (112, 100, 88, 76, 66, 58, 50):
        font = _font(size)
        width_in_chars = max(8, int((SIZE - 2 * MARGIN) / (size * 0.52)))
        lines = textwrap.wrap(title, width_in_chars) or [title]
        if len(lines) <= 4 and all(draw.textlength(line, font=font) <= SIZE - 2 * MARGIN for line in lines):
            return font, lines
    return font, lines[:4]


def render_cover(tags: Tags, duration: float, subtitle: str | None = None) -> bytes:
    """The cover as JPEG bytes; `subtitle` replaces the length line (a library's cover)."""
    top, bottom, light = next(
        (PALETTES[label] for label in tags.themes if label in PALETTES), DEFAULT_PALETTE
    )
    seed = hashlib.sha256("\n".join([tags.title, *tags.themes]).encode("utf-8")).digest()
    rng = np.random.default_rng(int.from_bytes(seed[:8], "big"))
    image = _background(top, bottom, light, rng)
    draw = ImageDraw.Draw(image)

    y = MARGIN + 20
    if tags.themes:
        draw.text((MARGIN, y), "  ·  ".join(t.upper() for t in tags.themes[:3]), font=_font(38), fill=light)
        y += 90
    font, lines = _title_lines(tags.title, draw)
    for line in lines:
        draw.text((MARGIN, y), line, font=font, fill=TEXT)
        y += int(font.size * 1.18)
    draw.text((MARGIN, y + 30), subtitle or _length_label(duration), font=_font(46), fill=light)
    draw.text((MARGIN, SIZE - MARGIN - 20), "audiogen · guided meditation", font=_font(32), fill=TEXT)

    out = io.BytesIO()
    image.save(out, "JPEG", quality=88, optimize=True)
    return out.getvalue()
