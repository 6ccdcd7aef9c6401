"""Procedural pictures for the Squint demo model: 1-5 coloured shapes on a 3x3 grid of cells over a
plain or textured light background, sometimes with a short word or number in a free cell.

Everything is drawn from a numpy Generator, so a seed fixes every picture.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = 168  # 12x12 patches of 14 px -> 6x6 = 36 vision tokens after the 2x2 merge
CELL = SIZE / 3  # 56 px: every cell of the 3x3 grid is exactly 2x2 vision tokens
TOKEN = 28  # pixels per vision token (side)
GRID = SIZE // TOKEN

COLOURS = {  # name -> RGB; saturated, so every one stands out from the light backgrounds
    "red": (215, 35, 35), "green": (35, 155, 55), "blue": (35, 75, 215), "yellow": (235, 200, 25),
    "orange": (240, 125, 20), "purple": (135, 45, 175), "pink": (240, 105, 180),
}
SHAPES = ["circle", "square", "triangle", "star", "diamond", "hexagon", "cross"]
# Cells in reading order; (column, row).
POSITIONS = ["top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom", "bottom right"]
SIZES = {"small": 11.0, "medium": 15.5, "large": 21.0}  # half-extent in pixels
WORDS = ["CAT", "DOG", "SUN", "BOX", "HAT", "CUP", "BUS", "FOX", "OWL", "BEE", "KEY", "MAP", "SKY", "ZOO",
         "TEA", "PIE", "JAM", "RUN", "YES", "NO", "HI", "OK", "GO", "UP", "TOY", "ANT", "EGG", "ICE"]
BACKGROUNDS = ["plain", "stripes", "checks", "noise", "dots"]
BG_TONES = [(250, 250, 250), (235, 235, 235), (245, 238, 222), (225, 235, 245), (232, 245, 232),
            (245, 232, 240)]

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


@dataclass
class Shape:
    kind: str
    colour: str
    size: str
    cell: int  # index into POSITIONS


@dataclass
class Scene:
    shapes: list
    background: str
    word: str | None = None
    word_cell: int | None = None
    extra: dict = field(default_factory=dict)


def _font(size: int):
    if FONT_PATH.exists():
        return ImageFont.truetype(str(FONT_PATH), size)
    return ImageFont.load_default(size)


def sample_scene(rng: np.random.Generator, max_shapes: int = 5, p_word: float = 0.5,
                 p_letters: float = 0.6, p_repeat: float = 0.35) -> Scene:
    """p_word: chance of a written word or number; p_letters: chance that it is a word, not a number;
    p_repeat: chance that the second shape is of the first one's kind (the defaults are the training's
    and the evaluations'; finetune.py asks for more numbers and more repeated kinds)."""
    n = int(rng.integers(1, max_shapes + 1))
    has_word = rng.random() < p_word
    cells = rng.permutation(9)[: n + (1 if has_word else 0)]
    # Repeated kinds happen (needed for "how many circles"), but not always.
    kinds = [SHAPES[int(rng.integers(len(SHAPES)))] for _ in range(n)]
    if n > 1 and rng.random() < p_repeat:
        kinds[1] = kinds[0]
    shapes = [Shape(kinds[i], list(COLOURS)[int(rng.integers(len(COLOURS)))],
                    list(SIZES)[int(rng.integers(len(SIZES)))], int(cells[i])) for i in range(n)]
    word = None
    word_cell = None
    if has_word:
        if rng.random() < p_letters:
            word = WORDS[int(rng.integers(len(WORDS)))]
        else:
            word = str(int(rng.integers(0, 100)))
        word_cell = int(cells[n])
    return Scene(shapes, BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], word, word_cell)


def _background(rng, kind: str) -> Image.Image:
    tone = np.array(BG_TONES[int(rng.integers(len(BG_TONES)))], dtype=np.float32)
    img = np.broadcast_to(tone, (SIZE, SIZE, 3)).copy()
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    dark = tone * 0.86
    if kind == "stripes":
        period = int(rng.integers(6, 12))
        mask = ((xx + (yy if rng.random() < 0.5 else 0)) % period) < period // 2
        img[mask] = dark
    elif kind == "checks":
        period = int(rng.integers(8, 16))
        mask = ((xx // period) + (yy // period)) % 2 == 0
        img[mask] = dark
    elif kind == "noise":
        img += rng.normal(0, 10, size=img.shape)
    elif kind == "dots":
        period = int(rng.integers(8, 14))
        mask = ((xx % period) < 2) & ((yy % period) < 2)
        img[mask] = tone * 0.7
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _polygon(cx, cy, r, kind, rot):
    if kind == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if kind == "triangle":
        return [(cx + r * math.cos(math.radians(a)), cy + r * 1.1 * math.sin(math.radians(a)) + r * 0.15)
                for a in (-90, 30, 150)]
    if kind == "diamond":
        return [(cx, cy - r * 1.15), (cx + r * 0.8, cy), (cx, cy + r * 1.15), (cx - r * 0.8, cy)]
    if kind == "hexagon":
        return [(cx + r * math.cos(math.radians(60 * k + rot)), cy + r * math.sin(math.radians(60 * k + rot)))
                for k in range(6)]
    if kind == "star":
        pts = []
        for k in range(10):
            rad = r * 1.1 if k % 2 == 0 else r * 0.45
            a = math.radians(-90 + 36 * k)
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        return pts
    if kind == "cross":
        t = r * 0.36
        return [(cx - t, cy - r), (cx + t, cy - r), (cx + t, cy - t), (cx + r, cy - t), (cx + r, cy + t),
                (cx + t, cy + t), (cx + t, cy + r), (cx - t, cy + r), (cx - t, cy + t), (cx - r, cy + t),
                (cx - r, cy - t), (cx - t, cy - t)]
    raise ValueError(kind)


CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
MAX_CHARS = 3


@dataclass
class TokenLabels:
    """What each of the GRID x GRID vision tokens shows (row-major, as the merger emits them): the
    training's auxiliary targets. colour/kind: index + 1 of the shape covering most of the token's pixels
    (0: none); centre: 1 where a shape's centre pixel lies; chars: the written word's characters
    (index + 1 into CHARS, 0 past its end) on tokens the text covers, else 0; cell: the 3x3 cell."""
    colour: np.ndarray
    kind: np.ndarray
    centre: np.ndarray
    text: np.ndarray
    chars: np.ndarray  # (GRID*GRID, MAX_CHARS)
    cell: np.ndarray


def render(scene: Scene, rng: np.random.Generator, labels: bool = False):
    """The picture (and with labels=True also its TokenLabels). The random draws do not depend on
    labels, so a seed gives the same picture either way."""
    img = _background(rng, scene.background)
    draw = ImageDraw.Draw(img)
    mask = Image.new("L", (SIZE, SIZE), 0) if labels else None
    mdraw = ImageDraw.Draw(mask) if labels else None
    centres = []
    for i, s in enumerate(scene.shapes):
        col, row = s.cell % 3, s.cell // 3
        r = SIZES[s.size]
        slack = max(0.0, CELL / 2 - r * 1.15 - 2)
        cx = (col + 0.5) * CELL + rng.uniform(-slack, slack)
        cy = (row + 0.5) * CELL + rng.uniform(-slack, slack)
        rgb = tuple(int(np.clip(c + rng.integers(-18, 19), 0, 255)) for c in COLOURS[s.colour])
        centres.append((cx, cy))
        if s.kind == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=rgb)
            if labels:
                mdraw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=i + 1)
        else:
            poly = _polygon(cx, cy, r, s.kind, rng.uniform(0, 30))
            draw.polygon(poly, fill=rgb)
            if labels:
                mdraw.polygon(poly, fill=i + 1)
    text_box = None
    if scene.word is not None:
        col, row = scene.word_cell % 3, scene.word_cell // 3
        size = 23 if len(scene.word) <= 2 else 19
        font = _font(size)
        ink = (20, 20, 20) if rng.random() < 0.8 else (60, 60, 140)
        x0, y0, x1, y1 = draw.textbbox((0, 0), scene.word, font=font)
        w, h = x1 - x0, y1 - y0
        slack_x = max(0.0, (CELL - w) / 2 - 2)
        slack_y = max(0.0, (CELL - h) / 2 - 2)
        cx = (col + 0.5) * CELL + rng.uniform(-slack_x, slack_x)
        cy = (row + 0.5) * CELL + rng.uniform(-slack_y, slack_y)
        draw.text((cx - w / 2 - x0, cy - h / 2 - y0), scene.word, font=font, fill=ink)
        text_box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    if not labels:
        return img
    return img, _token_labels(scene, np.asarray(mask), centres, text_box)


def _token_labels(scene: Scene, mask: np.ndarray, centres, text_box) -> TokenLabels:
    n = GRID * GRID
    colour = np.zeros(n, np.int64)
    kind = np.zeros(n, np.int64)
    centre = np.zeros(n, np.int64)
    text = np.zeros(n, np.int64)
    chars = np.zeros((n, MAX_CHARS), np.int64)
    cell = np.zeros(n, np.int64)
    word = [CHARS.index(c) + 1 for c in (scene.word or "")][:MAX_CHARS]
    for t in range(n):
        ty, tx = divmod(t, GRID)
        cell[t] = (ty * TOKEN // int(CELL)) * 3 + tx * TOKEN // int(CELL)
        block = mask[ty * TOKEN:(ty + 1) * TOKEN, tx * TOKEN:(tx + 1) * TOKEN]
        counts = np.bincount(block.ravel(), minlength=len(scene.shapes) + 1)[1:]
        # A token shows a shape when a visible share of it is covered (20 of its 784 pixels).
        if counts.size and counts.max() >= 20:
            s = scene.shapes[int(counts.argmax())]
            colour[t] = list(COLOURS).index(s.colour) + 1
            kind[t] = SHAPES.index(s.kind) + 1
        if text_box is not None:
            x0, y0, x1, y1 = text_box
            ox = min(x1, (tx + 1) * TOKEN) - max(x0, tx * TOKEN)
            oy = min(y1, (ty + 1) * TOKEN) - max(y0, ty * TOKEN)
            if ox >= 4 and oy >= 4:
                text[t] = 1
                chars[t, :len(word)] = word
    for cx, cy in centres:
        centre[min(GRID - 1, int(cy) // TOKEN) * GRID + min(GRID - 1, int(cx) // TOKEN)] = 1
    return TokenLabels(colour, kind, centre, text, chars, cell)
