"""Questions and several correct answers per question, in English and Chinese, for a Scene; and the
checker the evaluation uses (the fact an answer states, pulled out after normalisation)."""

import re

from scenes import COLOURS, POSITIONS, SHAPES

ZH_COLOUR = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色", "orange": "橙色",
             "purple": "紫色", "pink": "粉色"}
ZH_SHAPE = {"circle": "圆形", "square": "正方形", "triangle": "三角形", "star": "星形", "diamond": "菱形",
            "hexagon": "六边形", "cross": "十字形"}
ZH_POS = {"top left": "左上角", "top": "上方中间", "top right": "右上角", "left": "左边中间", "centre": "正中间",
          "right": "右边中间", "bottom left": "左下角", "bottom": "下方中间", "bottom right": "右下角"}
EN_NUM = ["zero", "one", "two", "three", "four", "five"]
ZH_NUM = ["零", "一", "两", "三", "四", "五"]
PLURAL = {s: s + "es" if s == "cross" else s + "s" for s in SHAPES}
KINDS = ["describe", "colour", "shape", "count", "count_kind", "position", "read"]


def en_pos(pos: str, rng) -> str:
    if pos == "centre":
        return ["in the centre", "in the middle", "right in the centre"][rng.integers(3)]
    if " " in pos:
        return [f"in the {pos} corner", f"at the {pos}", f"in the {pos}"][rng.integers(3)]
    if pos in ("top", "bottom"):
        return [f"at the {pos}", f"at the {pos}, in the middle", f"along the {pos} edge"][rng.integers(3)]
    return [f"on the {pos}", f"on the {pos} side", f"at the middle of the {pos} edge"][rng.integers(3)]


def pick(rng, options):
    return options[int(rng.integers(len(options)))]


def _unique(scene, attr):
    vals = [getattr(s, attr) for s in scene.shapes]
    return [s for s in scene.shapes if vals.count(getattr(s, attr)) == 1]


def describe(scene, zh: bool, rng) -> str:
    shapes = list(scene.shapes)
    order = rng.permutation(len(shapes))
    shapes = [shapes[i] for i in order]
    n = len(shapes)
    bg = scene.background
    if zh:
        parts = [f"{ZH_POS[POSITIONS[s.cell]]}有一个{ZH_COLOUR[s.colour]}的{ZH_SHAPE[s.kind]}" for s in shapes]
        bgz = {"plain": "纯色", "stripes": "条纹", "checks": "格子", "noise": "杂点", "dots": "圆点"}[bg]
        head = pick(rng, [f"这张图片里有{ZH_NUM[n]}个形状：", f"图中一共有{ZH_NUM[n]}个形状。", ""])
        text = head + "，".join(parts) + f"。背景是{bgz}的。"
        if scene.word:
            text += f"图上写着“{scene.word}”。"
        return text
    parts = []
    for s in shapes:
        size = pick(rng, ["", f"{s.size} "])
        art = "an" if (size or s.colour)[0] in "aeiou" else "a"
        parts.append(f"{art} {size}{s.colour} {s.kind} {en_pos(POSITIONS[s.cell], rng)}")
    listed = parts[0] if n == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    bge = {"plain": "a plain", "stripes": "a striped", "checks": "a checked", "noise": "a speckled",
           "dots": "a dotted"}[bg]
    head = pick(rng, ["The picture shows ", "I can see ", "There is " if n == 1 else "There are "])
    if head.startswith("There are"):
        text = f"There are {EN_NUM[n]} shapes: {listed}, on {bge} background."
    else:
        text = f"{head}{listed}, on {bge} background."
    if scene.word:
        text += pick(rng, [f' The word "{scene.word}" is written on it.', f' It also says "{scene.word}".'])
    return text


def make_qa(scene, kind: str, zh: bool, rng):
    """Returns (question, answer, truth) or None when the kind does not apply to this scene."""
    if kind == "describe":
        q = pick(rng, ["描述这张图片。", "图片里有什么？", "请描述一下这幅图。"] if zh else
                 ["Describe the picture.", "What is in this image?", "Describe this image.",
                  "What do you see?"])
        return q, describe(scene, zh, rng), None
    if kind == "colour":
        cands = _unique(scene, "kind")
        if not cands:
            return None
        s = pick(rng, cands)
        if zh:
            z = ZH_SHAPE[s.kind]
            q = pick(rng, [f"{z}是什么颜色？", f"图中的{z}是什么颜色的？", f"那个{z}是什么颜色？"])
            a = pick(rng, [f"{z}是{ZH_COLOUR[s.colour]}的。", f"{ZH_COLOUR[s.colour]}。", f"它是{ZH_COLOUR[s.colour]}。"])
        else:
            q = pick(rng, [f"What colour is the {s.kind}?", f"What color is the {s.kind}?",
                           f"Which colour is the {s.kind}?"])
            a = pick(rng, [f"The {s.kind} is {s.colour}.", f"It is {s.colour}.", f"{s.colour.capitalize()}.",
                           f"It's {s.colour}."])
        return q, a, s.colour
    if kind == "shape":
        cands = _unique(scene, "colour")
        if not cands:
            return None
        s = pick(rng, cands)
        if zh:
            c = ZH_COLOUR[s.colour]
            q = pick(rng, [f"{c}的是什么形状？", f"那个{c}的东西是什么形状？"])
            a = pick(rng, [f"{c}的是{ZH_SHAPE[s.kind]}。", f"是一个{ZH_SHAPE[s.kind]}。", f"{ZH_SHAPE[s.kind]}。"])
        else:
            q = pick(rng, [f"What shape is the {s.colour} one?", f"Which shape is {s.colour}?",
                           f"What is the {s.colour} shape?"])
            a = pick(rng, [f"The {s.colour} shape is a {s.kind}.", f"It is a {s.kind}.", f"A {s.kind}.",
                           f"It's a {s.kind}."])
        return q, a, s.kind
    if kind == "count":
        n = len(scene.shapes)
        if zh:
            q = pick(rng, ["图中有几个形状？", "一共有多少个形状？", "数一数有几个形状。"])
            a = pick(rng, [f"有{ZH_NUM[n]}个形状。", f"一共{n}个。", f"图中有{ZH_NUM[n]}个形状。"])
        else:
            q = pick(rng, ["How many shapes are there?", "How many shapes can you see?",
                           "Count the shapes."])
            word = "shape" if n == 1 else "shapes"
            a = pick(rng, [f"There {'is' if n == 1 else 'are'} {EN_NUM[n]} {word}.", f"{EN_NUM[n].capitalize()}.",
                           f"I count {n} {word}.", f"I can see {EN_NUM[n]} {word}."])
        return q, a, n
    if kind == "count_kind":
        present = [s.kind for s in scene.shapes]
        k = pick(rng, present) if rng.random() < 0.75 else pick(rng, SHAPES)
        n = present.count(k)
        if zh:
            z = ZH_SHAPE[k]
            q = pick(rng, [f"有几个{z}？", f"图中有多少个{z}？"])
            a = (pick(rng, [f"没有{z}。", f"图中没有{z}。"]) if n == 0 else
                 pick(rng, [f"有{ZH_NUM[n]}个{z}。", f"{n}个。", f"图中有{ZH_NUM[n]}个{z}。"]))
        else:
            p = PLURAL[k]
            q = pick(rng, [f"How many {p} are there?", f"How many {p} do you see?", f"Count the {p}."])
            noun = k if n == 1 else p
            a = (pick(rng, [f"There are no {p}.", f"None, there are no {p}.", "Zero."]) if n == 0 else
                 pick(rng, [f"There {'is' if n == 1 else 'are'} {EN_NUM[n]} {noun}.", f"{EN_NUM[n].capitalize()}.",
                            f"I count {n} {noun}."]))
        return q, a, n
    if kind == "position":
        cands = _unique(scene, "kind")
        if not cands:
            return None
        s = pick(rng, cands)
        pos = POSITIONS[s.cell]
        if zh:
            z = ZH_SHAPE[s.kind]
            q = pick(rng, [f"{z}在哪里？", f"{z}在图的什么位置？"])
            a = pick(rng, [f"{z}在{ZH_POS[pos]}。", f"在{ZH_POS[pos]}。", f"它位于图片的{ZH_POS[pos]}。"])
        else:
            q = pick(rng, [f"Where is the {s.kind}?", f"Where is the {s.kind} in the picture?",
                           f"In which part of the image is the {s.kind}?"])
            p = en_pos(pos, rng)
            a = pick(rng, [f"The {s.kind} is {p}.", f"It is {p}.", f"{p[0].upper()}{p[1:]}."])
        return q, a, pos
    if kind == "read":
        w = scene.word
        if zh:
            q = pick(rng, ["图上写着什么？", "图片里写了什么字？", "上面写的是什么？"])
            a = ("图上没有写字。" if w is None else
                 pick(rng, [f"写着“{w}”。", f"图上写的是“{w}”。", f"上面写着“{w}”。"]))
        else:
            q = pick(rng, ["What is written in the picture?", "What does the text say?", "What is written here?",
                           "Read the text in the image."])
            a = ("Nothing is written in this picture." if w is None else
                 pick(rng, [f'It says "{w}".', f'The text reads "{w}".', f'"{w}" is written there.',
                            f'The picture says "{w}".']))
        return q, a, w
    raise ValueError(kind)


# --- checking a model's reply ---------------------------------------------------------------------

def _norm(text: str) -> str:
    text = text.lower().replace("color", "colour").replace("center", "centre").replace("upper", "top")
    text = text.replace("lower", "bottom").replace("-", " ")
    return re.sub(r"\s+", " ", text).strip()


def _found(text: str, names: dict) -> set:
    """Names whose phrases occur in text, longest phrases first so 'top left' does not also count as 'top'."""
    hits = set()
    phrases = sorted(((p, k) for k, ps in names.items() for p in ps), key=lambda x: -len(x[0]))
    for p, k in phrases:
        if p in text:
            hits.add(k)
            text = text.replace(p, " ")
    return hits


def extract(kind: str, reply: str, zh: bool):
    t = _norm(reply)
    if kind == "colour":
        hits = _found(t, {c: [c, ZH_COLOUR[c], ZH_COLOUR[c][0] + "的"] for c in COLOURS})
    elif kind == "shape":
        hits = _found(t, {s: [s, ZH_SHAPE[s]] for s in SHAPES})
    elif kind in ("count", "count_kind"):
        names = {n: [EN_NUM[n], str(n), ZH_NUM[n] + "个", f"{n}个"] for n in range(6)}
        names[0] += ["none", "no ", "没有"]
        names[2] += ["二个"]
        hits = _found(t, names)
    elif kind == "position":
        names = {}
        for p in POSITIONS:
            names[p] = [ZH_POS[p]] + ([f"{p} corner", p] if " " in p else [])
        names["top"] += ["at the top", "top edge", "上方"]
        names["bottom"] += ["at the bottom", "bottom edge", "下方"]
        names["left"] += ["on the left", "left side", "left edge", "左边"]
        names["right"] += ["on the right", "right side", "right edge", "右边"]
        names["centre"] += ["centre", "middle", "中间"]
        # "at the top, in the middle" names the top edge, not the centre: judge edges before the centre.
        hits = _found(t, {k: v for k, v in names.items() if k != "centre"})
        if not hits:
            hits = _found(t, {"centre": names["centre"]})
    elif kind == "read":
        if any(x in t for x in ("nothing", "没有写")):
            return None
        m = re.search(r'["“]([^"”]+)["”]', reply)
        return m.group(1).strip() if m else "?"
    else:
        return None
    return next(iter(hits)) if len(hits) == 1 else ("?" if not hits else "ambiguous")
