"""Decode benchmark: clips/s of the video input pipeline with 0, 1, 2, ... DataLoader workers.

    python -m tsmfpga.quant.data.bench --out out/bench/decode.json      (make bench-decode)

Writes a folder of real encoded videos (PyAV, ``mpeg4`` in .avi and .mp4, moving shapes and
noise so the codec has real work) unless it exists, then times one pass over every clip (TSN
training sampling: random offsets and crops) per worker count, from the videos and from the
pre-extracted frame cache (first pass fills it, second reads it). The JSON report holds clips/s
per setting, the machine's CPU count and the video geometry. An untimed pass first reads every
file once (the page cache is warm for every setting).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from tsmfpga.quant.data.decode import CachedClipDataset, iter_items
from tsmfpga.quant.data.video import VideoDatasetConfig


def write_videos(root: Path, videos: int = 24, frames: int = 64, height: int = 120, width: int = 160,
                 classes: int = 3, seed: int = 0) -> Path:
    """``root/<class>/<name>.{avi,mp4}``: a bright square moving over a noisy textured background."""
    import av

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    for v in range(videos):
        c = v % classes
        path = root / f"class{c}" / f"v{v:03d}.{'avi' if v % 2 else 'mp4'}"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(".tmp_" + path.name)
        bg = ((np.sin(xx / (5 + c)) + np.cos(yy / 7)) * 60 + 120).astype(np.uint8)
        with av.open(str(tmp), "w", format="avi" if v % 2 else "mp4") as out:
            s = out.add_stream("mpeg4", rate=25)
            s.height, s.width, s.pix_fmt = height, width, "yuv420p"
            for i in range(frames):
                f = np.repeat(bg[..., None], 3, axis=2).copy()
                f = np.clip(f.astype(np.int16) + rng.integers(-20, 21, f.shape), 0, 255).astype(np.uint8)
                x0 = (7 + (1 + c) * 3 * i) % (width - 24)
                f[40:64, x0:x0 + 24] = (255, 200 - 60 * c, 60 * c)
                for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    out.mux(pkt)
            for pkt in s.encode():
                out.mux(pkt)
        os.replace(tmp, path)
    return root


def _time_pass(ds: CachedClipDataset, workers: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = sum(1 for _, clip, _, _ in iter_items(ds, workers) if clip is not None)
    return time.perf_counter() - t0, n


def run_benchmark(out: Path, videos: int = 24, frames: int = 64, workers=(0, 1, 2), segments: int = 8,
                  size: int = 32, cache: bool = True) -> dict:
    out = Path(out)
    root = write_videos(out.parent / "bench_videos", videos, frames)
    rows = []
    # untimed warm-up pass: imports, codec set-up and the page cache are not part of any timing
    _time_pass(CachedClipDataset(VideoDatasetConfig(root, num_segments=segments, size=size), train=True), 0)
    for w in workers:
        ds = CachedClipDataset(VideoDatasetConfig(root, num_segments=segments, size=size), train=True)
        # a fresh dataset (frame counts unknown: one full decoding pass per video, as in epoch 1)
        secs, n = _time_pass(ds, w)
        rows.append({"source": "video", "workers": w, "clips": n, "seconds": round(secs, 3),
                     "clips_per_s": round(n / secs, 2)})
    if cache:
        for w in workers:
            fc = out.parent / f"bench_frame_cache_w{w}"
            shutil.rmtree(fc, ignore_errors=True)
            ds = CachedClipDataset(VideoDatasetConfig(root, num_segments=segments, size=size, frame_cache=fc),
                                   train=True)
            for source in ("frame_cache_fill", "frame_cache"):
                ds.set_epoch(1 if source == "frame_cache" else 0)
                secs, n = _time_pass(ds, w)
                rows.append({"source": source, "workers": w, "clips": n, "seconds": round(secs, 3),
                             "clips_per_s": round(n / secs, 2)})
            shutil.rmtree(fc, ignore_errors=True)
    report = {
        "benchmark": "decode", "cpus": os.cpu_count(),
        "videos": {"root": str(root), "count": videos, "frames": frames, "geometry": "160x120 mpeg4 (avi/mp4)"},
        "clip": {"segments": segments, "size": size, "sampling": "TSN training (random offset and crop)"},
        "results": rows,
        "clips_per_s": {f"{r['source']}/workers={r['workers']}": r["clips_per_s"] for r in rows},
        "units": {"clips_per_s": "clips per second, wall clock, one pass over every video"},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tsmfpga.quant.data.bench", description=__doc__.split("\n")[0])
    p.add_argument("--out", default="out/bench/decode.json", help="JSON report (videos are written beside it)")
    p.add_argument("--videos", type=int, default=24)
    p.add_argument("--frames", type=int, default=64, help="frames per video")
    p.add_argument("--workers", default="0,1,2", help="comma-separated worker counts")
    p.add_argument("--no-cache", action="store_true", help="skip the frame-cache passes")
    a = p.parse_args(argv)
    rep = run_benchmark(Path(a.out), a.videos, a.frames, tuple(int(w) for w in a.workers.split(",")),
                        cache=not a.no_cache)
    for k, v in rep["clips_per_s"].items():
        print(f"{k:32s} {v:8.2f} clips/s")
    print(f"report: {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
