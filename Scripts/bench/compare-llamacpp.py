#!/usr/bin/env python3
"""Squint against llama.cpp on the same GGUF files, in one run on this machine, as ratios.

    python3 Scripts/bench/compare-llamacpp.py                       # builds what it needs, then measures
    python3 Scripts/bench/compare-llamacpp.py --gguf a.gguf b.gguf  # your own files
    python3 Scripts/bench/compare-llamacpp.py --rounds 3 --threads 2

Run by hand (never by CI). What it needs, made once under ~/.cache/squint-bench (or --cache):
  * llama.cpp's llama-bench, llama-quantize (and llama-mtmd-cli for --vl): built with cmake from the
    llama.cpp sources vendored in the llama-cpp-python sdist (`pip download llama-cpp-python==VERSION
    --no-binary :all:`), unless --llama-bin names a folder that has them.
  * GGUF files: without --gguf, the Qwen2-0.5B-shaped random model (Scripts/fixtures/make_text_fixtures.py
    --only bench writes it to /root/models/qwen2-0.5b-random) written to F16 by `squint quantize` and
    quantized by llama.cpp's own llama-quantize to Q8_0 and Q4_0.
  * squint: `swift build -c release` (built if missing).

Each file is measured in --rounds alternating rounds (squint, llama.cpp, squint, ...) and the best of each
side is kept, so a noisy moment on the shared machine hurts both alike. Prompt processing is pp512 and
decode tg128 for both (llama-bench's own test names); squint's decode also shows its fraction of the
bandwidth bound it measures in the same run, its N=4 lockstep batch against one stream, and its peak
resident memory against the weights read per token plus the KV cache (goal: at most 1.10).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LLAMA_CPP_PYTHON = "0.3.36"
BENCH_MODEL = Path("/root/models/qwen2-0.5b-random")


def run(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, text=True, **kw)


def llama_sources(cache: Path, python: str) -> Path:
    src = cache / f"llama_cpp_python-{LLAMA_CPP_PYTHON}"
    if not src.exists():
        cache.mkdir(parents=True, exist_ok=True)
        run([python, "-m", "pip", "download", f"llama-cpp-python=={LLAMA_CPP_PYTHON}", "--no-binary", ":all:",
             "--no-deps", "--no-build-isolation", "-d", cache])
        with tarfile.open(cache / f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz") as t:
            t.extractall(cache, filter="data")
    return src / "vendor" / "llama.cpp"


def cmake(python: str) -> str:
    """cmake from PATH, else the one `pip install cmake` puts beside the given python."""
    found = shutil.which("cmake") or str(Path(python).parent / "cmake")
    if not Path(found).exists():
        run([python, "-m", "pip", "install", "cmake"])
    return found


def llama_binaries(cache: Path, python: str, given: Path | None, targets) -> Path:
    if given:
        return given
    llama = llama_sources(cache, python)
    build = cache / "llama-build"
    if not all((build / "bin" / t).exists() for t in targets):
        run([cmake(python), "-S", llama, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF",
             "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_SERVER=OFF"])
        run([cmake(python), "--build", build, "-j", str(os.cpu_count() or 2), "--target", *targets])
    return build / "bin"


def default_ggufs(cache: Path, squint: Path, bins: Path) -> list[Path]:
    if not (BENCH_MODEL / "config.json").exists():
        sys.exit(f"no bench model at {BENCH_MODEL}: run Scripts/fixtures/make_text_fixtures.py --only bench, or pass --gguf")
    out = cache / "gguf"
    out.mkdir(parents=True, exist_ok=True)
    f16 = out / "qwen2-0.5b-random-f16.gguf"
    # `squint quantize` writes the F16 file (llama.cpp's converter refuses this tokenizer: its pre-tokenizer
    # hash is not in the converter's table); llama.cpp's own llama-quantize makes the quantized ones.
    if not f16.exists():
        run([squint, "quantize", "--model", BENCH_MODEL, "--out", f16, "--type", "f16"])
    files = []
    files = [f16]
    for q in ("Q8_0", "Q4_0"):
        f = out / f"qwen2-0.5b-random-{q.lower()}.gguf"
        if not f.exists():
            run([bins / "llama-quantize", f16, f, q])
        files.append(f)
    return files


def squint_bench(squint: Path, gguf: Path, threads: int) -> dict:
    env = dict(os.environ, SQUINT_THREADS=str(threads))
    r = run([squint, "bench", "--model", gguf, "--prompt-tokens", "512", "--gen-tokens", "128", "--batch", "4",
             "--json"], capture_output=True, env=env)
    return json.loads(r.stdout.strip().splitlines()[-1])


def llama_bench(bins: Path, gguf: Path, threads: int) -> dict:
    r = run([bins / "llama-bench", "-m", gguf, "-t", str(threads), "-p", "512", "-n", "128", "-r", "2", "-o", "json"],
            capture_output=True)
    rows = json.loads(r.stdout)
    pp = next(x for x in rows if x.get("n_prompt") == 512 and x.get("n_gen") == 0)
    tg = next(x for x in rows if x.get("n_gen") == 128 and x.get("n_prompt") == 0)
    return {"pp": pp["avg_ts"], "tg": tg["avg_ts"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", type=Path, nargs="*", help="GGUF files to measure (default: the bench model as F16/Q8_0/Q4_0)")
    ap.add_argument("--llama-bin", type=Path, help="folder with llama-bench and llama-quantize (default: build them)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "squint-bench")
    ap.add_argument("--python", default="/root/fixenv/bin/python", help="python with pip, gguf, torch for the converter")
    ap.add_argument("--squint", type=Path, default=REPO / ".build" / "release" / "squint")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()

    if not a.squint.exists():
        run(["swift", "build", "-c", "release", "--product", "squint"], cwd=REPO)
    bins = llama_binaries(a.cache, a.python, a.llama_bin, ["llama-bench", "llama-quantize"])
    files = a.gguf or default_ggufs(a.cache, a.squint, bins)

    results = []
    for f in files:
        best_s, best_l = None, None
        for _ in range(a.rounds):
            s = squint_bench(a.squint, f, a.threads)
            best_s = s if best_s is None else {k: max(v, s[k]) if isinstance(v, float) and k.endswith("per_s") else v
                                               for k, v in best_s.items()}
            l = llama_bench(bins, f, a.threads)
            best_l = l if best_l is None else {k: max(v, l[k]) for k, v in best_l.items()}
        results.append({"file": f.name, "squint": best_s, "llama_cpp": best_l,
                        "prompt_ratio": best_s["prefill_tokens_per_s"] / best_l["pp"],
                        "decode_ratio": best_s["decode_tokens_per_s"] / best_l["tg"]})

    print(f"\n{time.strftime('%Y-%m-%d %H:%M')}, {a.threads} threads, best of {a.rounds} alternating rounds "
          f"(llama.cpp from llama-cpp-python {LLAMA_CPP_PYTHON}'s sources)\n")
    print("| file | pp512 squint | pp512 llama.cpp | ratio | tg128 squint | tg128 llama.cpp | ratio "
          "| squint decode / bandwidth bound | N=4 lockstep vs 1 stream | squint peak RSS / (weights + KV) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        s, l = r["squint"], r["llama_cpp"]
        print(f"| {r['file']} | {s['prefill_tokens_per_s']:.1f} | {l['pp']:.1f} | {r['prompt_ratio']:.2f}x "
              f"| {s['decode_tokens_per_s']:.1f} | {l['tg']:.1f} | {r['decode_ratio']:.2f}x "
              f"| {100 * s['decode_fraction_of_bound']:.0f}% of {s['decode_bound_tokens_per_s']:.1f} "
              f"| {s.get('batch_speedup', float('nan')):.2f}x | {s.get('peak_rss_over_weights_and_kv', float('nan')):.2f} |")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
