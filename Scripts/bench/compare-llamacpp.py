#!/usr/bin/env python3
"""Squint against llama.cpp on the same GGUF files, in one run on this machine, as ratios.

    python3 Scripts/bench/compare-llamacpp.py                       # builds what it needs, then measures
    python3 Scripts/bench/compare-llamacpp.py --gguf a.gguf b.gguf  # your own files
    python3 Scripts/bench/compare-llamacpp.py --rounds 3 --threads 2
    python3 Scripts/bench/compare-llamacpp.py --vl --threads 1      # image encoding against llama-mtmd-cli

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
decode tg128 for both (llama-bench's own test names; like llama-bench's, squint's tg128 starts from an
empty cache, and both sides time after a warm-up pass that faults the weights in); squint's decode also
shows its fraction of the bandwidth bound it measures in the same run and its N=4 lockstep batch against
one stream, then the same decode after the 512-token prompt (attending
over 512-640 positions), and the peak resident memory of that run against the weights read per token plus
the KV cache (goal: at most 1.10).

--vl times image encoding (the vision tower and merger, preprocessing apart) instead: `squint bench --image`'s
image_encode_ms against the time llama-mtmd-cli prints for encoding the same picture ("mtmd batch encoding done
in N ms"), same thread count, alternating rounds, best of each. The model: a Qwen2-VL checkpoint with random
weights and Qwen2-VL-2B's vision tower (depth 32, width 1280, 16 heads; Scripts/bench/make_vl_bench_model.py,
run with --python), a tiny text model, converted by `squint quantize --mmproj-out` to an F16 text GGUF + F16
mmproj (or --vl-model/--mmproj). Pictures: photo.jpg of the VL fixtures resized to 448x448 and 896x672
(multiples of 28, so neither side resizes them: 256 and 768 image tokens), or --images.
"""

import argparse
import json
import os
import re
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
        # --no-build-isolation: pip prepares the sdist's metadata with the build backend installed here.
        run([python, "-m", "pip", "install", "-q", "scikit-build-core"])
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


def squint_bench(squint: Path, gguf: Path, threads: int, prompt: int = 512) -> dict:
    env = dict(os.environ, SQUINT_THREADS=str(threads))
    r = run([squint, "bench", "--model", gguf, "--prompt-tokens", str(prompt), "--gen-tokens", "128", "--batch", "4",
             "--json"], capture_output=True, env=env)
    return json.loads(r.stdout.strip().splitlines()[-1])


def best_of(old: dict | None, new: dict) -> dict:
    """The faster of two runs' figures (rates: higher; the rest from the run with the faster decode)."""
    if old is None:
        return new
    base = new if new["decode_tokens_per_s"] > old["decode_tokens_per_s"] else old
    return {k: max(v, old.get(k, v)) if isinstance(v, float) and k.endswith("per_s") else base.get(k, v)
            for k, v in new.items()}


def llama_bench(bins: Path, gguf: Path, threads: int) -> dict:
    r = run([bins / "llama-bench", "-m", gguf, "-t", str(threads), "-p", "512", "-n", "128", "-r", "2", "-o", "json"],
            capture_output=True)
    rows = json.loads(r.stdout)
    pp = next(x for x in rows if x.get("n_prompt") == 512 and x.get("n_gen") == 0)
    tg = next(x for x in rows if x.get("n_gen") == 128 and x.get("n_prompt") == 0)
    return {"pp": pp["avg_ts"], "tg": tg["avg_ts"]}


VL_STEM = "qwen2-vl-2b-shaped-random"
VL_SIZES = ((448, 448), (896, 672))


def default_vl_files(cache: Path, squint: Path, python: str) -> tuple[Path, Path]:
    out = cache / "gguf-vl"
    text, mmproj = out / f"{VL_STEM}-f16.gguf", out / f"mmproj-{VL_STEM}-f16.gguf"
    if not (text.exists() and mmproj.exists()):
        hf = cache / VL_STEM
        if not (hf / "model.safetensors").exists():
            run([python, REPO / "Scripts" / "bench" / "make_vl_bench_model.py", hf])
        out.mkdir(parents=True, exist_ok=True)
        run([squint, "quantize", "--model", hf, "--out", text, "--type", "f16", "--mmproj-out", mmproj])
    return text, mmproj


def default_images(cache: Path, python: str) -> list[Path]:
    out = cache / "images"
    files = [out / f"photo-{w}x{h}.png" for w, h in VL_SIZES]
    if not all(f.exists() for f in files):
        out.mkdir(parents=True, exist_ok=True)
        photo = REPO / "Tests" / "Fixtures" / "vl" / "images" / "photo.jpg"
        sizes = ", ".join(f"({w}, {h})" for w, h in VL_SIZES)
        run([python, "-c", "from PIL import Image; import sys; p = Image.open(sys.argv[1]).convert('RGB')\n"
             f"for w, h in [{sizes}]: p.resize((w, h), Image.BICUBIC).save(f'{{sys.argv[2]}}/photo-{{w}}x{{h}}.png')",
             photo, out])
    return files


def squint_encode(squint: Path, text: Path, mmproj: Path, image: Path, threads: int) -> dict:
    env = dict(os.environ, SQUINT_THREADS=str(threads))
    r = run([squint, "bench", "--model", text, "--mmproj", mmproj, "--image", image, "--prompt-tokens", "1",
             "--gen-tokens", "1", "--batch", "1", "--repetitions", "1", "--json"], capture_output=True, env=env)
    return json.loads(r.stdout.strip().splitlines()[-1])


def llama_encode(bins: Path, text: Path, mmproj: Path, image: Path, threads: int) -> dict:
    """llama-mtmd-cli's own timing of the image encode (tower + projector; preprocessing is done before)."""
    r = run([bins / "llama-mtmd-cli", "-m", text, "--mmproj", mmproj, "--image", image, "-p", "Describe the picture.",
             "-n", "1", "-t", str(threads), "--temp", "0", "-c", "4096", "-v"], capture_output=True, errors="replace")
    log = r.stdout + r.stderr
    # Newer mtmd-cli encodes media in batches; older ones (and mtmd_helper_eval_chunks) per slice.
    times = [int(m) for m in re.findall(r"mtmd batch encoding done in (\d+) ms", log)] or \
            [int(m) for m in re.findall(r"image slice encoded in (\d+) ms", log)]
    if not times:
        sys.exit(f"no encode time in llama-mtmd-cli's output:\n{log[-3000:]}")
    tokens = [int(m) for m in re.findall(r"encoding batch with \d+ entries and total (\d+) tokens", log)]
    return {"encode_ms": float(sum(times)), "image_tokens": sum(tokens) if tokens else None}


def main_vl(a):
    if not a.squint.exists():
        run(["swift", "build", "-c", "release", "--product", "squint"], cwd=REPO)
    bins = llama_binaries(a.cache, a.python, a.llama_bin, ["llama-mtmd-cli"])
    if a.vl_model or a.mmproj:
        if not (a.vl_model and a.mmproj):
            sys.exit("--vl-model and --mmproj go together")
        text, mmproj = a.vl_model, a.mmproj
    else:
        text, mmproj = default_vl_files(a.cache, a.squint, a.python)
    images = a.images or default_images(a.cache, a.python)

    results = []
    for image in images:
        best_s, best_l = None, None
        for _ in range(a.rounds):
            s = squint_encode(a.squint, text, mmproj, image, a.threads)
            if best_s is None or s["image_encode_ms"] < best_s["image_encode_ms"]:
                best_s = s
            l = llama_encode(bins, text, mmproj, image, a.threads)
            if best_l is None or l["encode_ms"] < best_l["encode_ms"]:
                best_l = l
        results.append({"image": image.name, "squint": best_s, "llama_cpp": best_l,
                        "encode_ratio": best_l["encode_ms"] / best_s["image_encode_ms"]})

    print(f"\n{time.strftime('%Y-%m-%d %H:%M')}, {text.name} + {mmproj.name}, {a.threads} threads, best of "
          f"{a.rounds} alternating rounds (llama.cpp from llama-cpp-python {LLAMA_CPP_PYTHON}'s sources)\n")
    print("| image | image tokens squint / llama.cpp | encode ms squint | encode ms llama-mtmd-cli "
          "| ratio (llama.cpp ms / squint ms; >= 1.0 is as fast) | squint preprocessing ms |")
    print("|---|---|---|---|---|---|")
    for r in results:
        s, l = r["squint"], r["llama_cpp"]
        print(f"| {r['image']} | {s['image_tokens']} / {l['image_tokens'] if l['image_tokens'] is not None else '?'} "
              f"| {s['image_encode_ms']:.0f} | {l['encode_ms']:.0f} | {r['encode_ratio']:.2f}x | {s['image_prepare_ms']:.1f} |")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1) + "\n")


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
    ap.add_argument("--vl", action="store_true", help="time image encoding against llama-mtmd-cli instead")
    ap.add_argument("--vl-model", type=Path, help="--vl: the text GGUF (default: the Qwen2-VL-2B-shaped random model)")
    ap.add_argument("--mmproj", type=Path, help="--vl: the mmproj GGUF that goes with --vl-model")
    ap.add_argument("--images", type=Path, nargs="*", help="--vl: pictures to encode (default: 448x448 and 896x672)")
    a = ap.parse_args()
    if a.vl:
        return main_vl(a)

    if not a.squint.exists():
        run(["swift", "build", "-c", "release", "--product", "squint"], cwd=REPO)
    bins = llama_binaries(a.cache, a.python, a.llama_bin, ["llama-bench", "llama-quantize"])
    files = a.gguf or default_ggufs(a.cache, a.squint, bins)

    # llama-bench's tg128 decodes 128 tokens from an empty cache, so squint's decode is measured the same way
    # (a 1-token prompt, run "tg"); its pp512 and what decode does after those 512 tokens (keys and values
    # of 512-640 positions to attend over) come from a second run ("pp").
    results = []
    for f in files:
        best_pp, best_tg, best_l = None, None, None
        for _ in range(a.rounds):
            best_pp = best_of(best_pp, squint_bench(a.squint, f, a.threads, prompt=512))
            best_tg = best_of(best_tg, squint_bench(a.squint, f, a.threads, prompt=1))
            l = llama_bench(bins, f, a.threads)
            best_l = l if best_l is None else {k: max(v, l[k]) for k, v in best_l.items()}
        results.append({"file": f.name, "squint": best_tg, "squint_after_pp512": best_pp, "llama_cpp": best_l,
                        "prompt_ratio": best_pp["prefill_tokens_per_s"] / best_l["pp"],
                        "decode_ratio": best_tg["decode_tokens_per_s"] / best_l["tg"]})

    print(f"\n{time.strftime('%Y-%m-%d %H:%M')}, {a.threads} threads, best of {a.rounds} alternating rounds "
          f"(llama.cpp from llama-cpp-python {LLAMA_CPP_PYTHON}'s sources)\n")
    print("| file | pp512 squint | pp512 llama.cpp | ratio | tg128 squint | tg128 llama.cpp | ratio "
          "| squint decode / bandwidth bound | N=4 lockstep vs 1 stream | squint tg128 after pp512 (N=4) "
          "| squint peak RSS / (weights + KV) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    nan = float("nan")
    for r in results:
        s, p, l = r["squint"], r["squint_after_pp512"], r["llama_cpp"]
        print(f"| {r['file']} | {p['prefill_tokens_per_s']:.1f} | {l['pp']:.1f} | {r['prompt_ratio']:.2f}x "
              f"| {s['decode_tokens_per_s']:.1f} | {l['tg']:.1f} | {r['decode_ratio']:.2f}x "
              f"| {100 * s['decode_fraction_of_bound']:.0f}% of {s['decode_bound_tokens_per_s']:.1f} "
              f"| {s.get('batch_speedup', nan):.2f}x | {p['decode_tokens_per_s']:.1f} ({p.get('batch_speedup', nan):.2f}x) "
              f"| {p.get('peak_rss_over_weights_and_kv', nan):.2f} |")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
