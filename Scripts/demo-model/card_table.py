#!/usr/bin/env python3
"""Write eval.json's accuracy table into the model card (between the <!-- accuracy --> markers)."""

import json
import re

import common

NAMES = {"colour": "what colour is the X", "shape": "what shape is the <colour> one", "count": "how many shapes",
         "count_kind": "how many X", "position": "where is the X", "read": "what is written"}
TARGET = {"colour": "90%", "shape": "90%", "count": "90%", "count_kind": "90%", "position": "75%", "read": "75%"}


def main():
    ev = json.loads((common.HERE / "eval.json").read_text())
    rows = [f"Greedy replies to {ev['per_kind']} fresh pictures per kind (seed {ev['seed']}, never used in training), "
            "half the questions in English, half in Chinese; a reply is right when the colour, shape, number, "
            "grid cell or quoted text it states is the true one (`Scripts/demo-model/evaluate.py`).", "",
            "| question | right | English | Chinese | goal |", "|---|---|---|---|---|"]
    for k, v in ev["table"].items():
        rows.append(f"| {NAMES[k]} | {v['accuracy']:.0%} | {v['en']:.0%} | {v['zh']:.0%} | {TARGET[k]} |")
    card = common.ASSET_DIR / "README.md"
    text = card.read_text()
    text = re.sub(r"<!-- accuracy -->.*<!-- /accuracy -->", "<!-- accuracy -->\n" + "\n".join(rows) + "\n<!-- /accuracy -->",
                  text, flags=re.S)
    card.write_text(text)


if __name__ == "__main__":
    main()
