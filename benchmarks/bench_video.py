"""Video preprocessing cost: video_decoding vs qwen-vl-utils vs a plain ffmpeg decode, same run.

    .venv/bin/python benchmarks/bench_video.py            # all three clips (~4-6 min the first time)
    .venv/bin/python benchmarks/bench_video.py --quick    # 360p / 60 s only

Clips (H.264 yuv420p, 25 fps, x264 ``veryfast``, ffmpeg's ``testsrc2``): 360p/60 s, 1080p/60 s, 360p/10 min;
generated once with the ``ffmpeg`` CLI and kept under ``$VIDEO_RLT_CACHE`` (default ``~/.cache/video-rlt``).
Each measurement runs in a fresh process (imports and a warm-up on a tiny clip excluded) and reports
CPU-seconds (user + system, all threads) and the peak resident memory added by the call. The floor is
``ffmpeg -threads 1 -i clip -map 0:v:0 -f null -`` (decode every video frame, nothing else). qwen-vl-utils
runs its default path here (decord reader: torchcodec is not installed on CPU; float32 output).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLIPS = {
    "360p/60s": ("640x360", 60),
    "1080p/60s": ("1920x1080", 60),
    "360p/10min": ("640x360", 600),
}
MODES = ("qwen-vl-utils", "ours:pyav:exact", "ours:pyav:fast", "ours:decord:exact")


def cache_dir() -> Path:
    root = Path(os.environ.get("VIDEO_RLT_CACHE", Path.home() / ".cache" / "video-rlt")) / "bench-video"
    root.mkdir(parents=True, exist_ok=True)
    return root


def make_clip(name: str) -> Path:
    size, seconds = CLIPS[name]
    path = cache_dir() / f"{name.replace('/', '_')}.mp4"
    if not path.exists():
        tmp = path.with_suffix(".tmp.mp4")
        cmd = [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=25:duration={seconds}",
        ]
        cmd += [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            str(tmp),
        ]
        print(f"generating {path.name} (once) ...", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
        tmp.rename(path)
    return path


def warm_clip() -> Path:
    path = cache_dir() / "warm.mp4"
    if not path.exists():
        cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3"]
        subprocess.run([*cmd, "-c:v", "libx264", str(path)], check=True)
    return path


def floor(path: Path) -> dict[str, float]:
    """CPU-seconds of the ffmpeg CLI decoding every video frame with one thread (its children's rusage)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = ["ffmpeg", "-v", "error", "-threads", "1", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"]
    subprocess.run(cmd, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def worker(path: str, mode: str) -> dict[str, float]:
    """Runs in a fresh process: import, warm up, then measure one call."""
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    import torch  # noqa: F401  (imported before the baseline on purpose)

    if mode == "qwen-vl-utils":
        from qwen_vl_utils import fetch_video

        def run(p: str) -> object:
            return fetch_video({"video": p})

    else:
        from video_decoding import FrameCache, load_video

        _, backend, resize = mode.split(":")
        cache = FrameCache(tempfile.mkdtemp(prefix="bench-video-cache-")) if mode.endswith("+cache") else None

        def run(p: str) -> object:
            return load_video(p, backend=backend, resize=resize, cache=cache)  # type: ignore[arg-type]

    run(str(warm_clip()))
    base_rss = _rss_mb()
    base_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0, w0 = time.process_time(), time.perf_counter()
    out = run(path)
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"cpu_s": cpu, "wall_s": wall, "peak_mb": max(peak, base_peak) - base_rss}
    if mode.startswith("ours"):
        from video_decoding import FrameCache, load_video

        _, backend, resize = mode.split(":")
        cache = FrameCache(tempfile.mkdtemp(prefix="bench-video-cache-"))
        load_video(path, backend=backend, resize=resize, cache=cache)  # type: ignore[arg-type]
        t0, w0 = time.process_time(), time.perf_counter()
        hit = load_video(path, backend=backend, resize=resize, cache=cache)  # type: ignore[arg-type]
        result["hit_cpu_s"] = time.process_time() - t0
        result["hit_wall_s"] = time.perf_counter() - w0
        assert hit.extra.get("cache") == "hit" and hit.frames.shape == out.frames.shape  # type: ignore[attr-defined]
        shutil.rmtree(cache.root, ignore_errors=True)
    return result


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**2


def measure(path: Path, mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", str(path), mode], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="only the 360p/60s clip")
    parser.add_argument("--worker", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    if shutil.which("ffmpeg") is None:
        sys.exit("bench_video.py needs the ffmpeg CLI (apt-get install ffmpeg) for the clips and the floor")
    names = ["360p/60s"] if args.quick else list(CLIPS)
    rows = []
    for name in names:
        path = make_clip(name)
        base = floor(path)
        results = {mode: measure(path, mode) for mode in MODES}
        rows.append((name, base, results))
        print(f"done {name}", file=sys.stderr, flush=True)
    print(
        "| clip | path | CPU-s | × floor | × qwen-vl-utils | peak MB added (× qwen-vl-utils) | cache hit CPU / wall | hit speed-up CPU / wall |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, base, results in rows:
        print(f"| {name} | ffmpeg -threads 1 (floor) | {base['cpu_s']:.2f} | 1.00 | | | | |")
        q = results["qwen-vl-utils"]
        for mode, r in results.items():
            hit = (
                f"{r['hit_cpu_s'] * 1000:.0f} / {r['hit_wall_s'] * 1000:.0f} ms" if "hit_wall_s" in r else ""
            )
            speed = (
                f"{r['cpu_s'] / r['hit_cpu_s']:.0f}× / {r['wall_s'] / r['hit_wall_s']:.0f}×"
                if "hit_wall_s" in r
                else ""
            )
            print(
                f"| {name} | {mode} | {r['cpu_s']:.2f} | {r['cpu_s'] / base['cpu_s']:.2f} | "
                f"{r['cpu_s'] / q['cpu_s']:.2f} | {r['peak_mb']:.0f} ({r['peak_mb'] / max(q['peak_mb'], 1):.2f}×) | {hit} | {speed} |"
            )


if __name__ == "__main__":
    main()
