"""Fast video input: DataLoader worker processes and an on-disk cache of pre-extracted frames.

``CachedClipDataset`` is a :class:`VideoClipDataset` whose ``cfg.frame_cache`` folder, when set,
holds every frame of each video once, already converted (gray/RGB) and resized to the shorter side
``resize_to``: one ``.npy`` per video, written atomically on first use (by whichever worker reaches
it). Later epochs, ranks and runs sample, crop and flip from it without decoding; the items are
bit-identical to the decoded ones (same frame indices, same crop, same resize of the same pixels).

``decode_all`` decodes a whole dataset with ``workers`` DataLoader processes (0 = in process).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from tsmfpga.quant.data.video import CorruptVideoError, DatasetError, VideoClipDataset, segment_indices


def _geometry(h: int, w: int, short: int, size: int) -> tuple[int, int]:
    """(height, width) after resizing the shorter side to ``short`` (as VideoClipDataset._transform)."""
    return (short, max(size, round(w * short / h))) if h <= w else (max(size, round(h * short / w)), short)


class CachedClipDataset(VideoClipDataset):
    """VideoClipDataset reading pre-extracted frames from ``cfg.frame_cache`` when it is set."""

    def _cache_path(self, path: Path) -> Path:
        st = path.stat()
        key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{self.cfg.resize_to}|{self.cfg.size}|{self.cfg.grayscale}"
        return Path(self.cfg.frame_cache) / f"{hashlib.sha1(key.encode()).hexdigest()}.npy"

    def _extract(self, path: Path) -> np.ndarray:
        """Every frame of ``path``, converted and resized: uint8 (N, h, w) gray or (N, h, w, 3)."""
        import av
        from PIL import Image

        cfg, frames = self.cfg, []
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise CorruptVideoError(path, "the file has no video stream")
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    rgb = frame.to_ndarray(format="rgb24")
                    nh, nw = _geometry(*rgb.shape[:2], cfg.resize_to, cfg.size)
                    img = Image.fromarray(rgb, "RGB")
                    img = img.convert("L") if cfg.grayscale else img
                    if img.size != (nw, nh):
                        img = img.resize((nw, nh), Image.Resampling.BILINEAR)
                    frames.append(np.asarray(img))
        except CorruptVideoError:
            raise
        except (av.FFmpegError, OSError, EOFError, ValueError) as e:
            raise CorruptVideoError(path, f"{type(e).__name__}: {e}") from e
        if not frames:
            raise CorruptVideoError(path, "no decodable video frames")
        return np.stack(frames)

    def cached_frames(self, path: Path) -> np.ndarray:
        target = self._cache_path(path)
        if target.exists():
            return np.load(target, mmap_mode="r")
        frames = self._extract(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, frames)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return frames

    def _load(self, i: int) -> tuple[np.ndarray, int]:
        if self.cfg.frame_cache is None:
            return super()._load(i)
        cfg, size = self.cfg, self.cfg.size
        path, label = self.samples[i]
        seg_rng, aug_rng = self._rngs(i)
        frames = self.cached_frames(path)
        idx = segment_indices(len(frames), cfg.num_segments, self.train, seg_rng)
        nh, nw = frames.shape[1:3]
        if self.train:  # the same draws, in the same order, as VideoClipDataset._transform
            top, left = int(aug_rng.integers(0, nh - size + 1)), int(aug_rng.integers(0, nw - size + 1))
        else:
            top, left = (nh - size) // 2, (nw - size) // 2
        flip = bool(self.train and cfg.hflip and aug_rng.random() < 0.5)
        clip = np.asarray(frames[idx, top:top + size, left:left + size])
        clip = clip[:, :, ::-1] if flip else clip
        clip = clip[:, None] if cfg.grayscale else clip.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(clip), int(self._flip_label[label] if flip else label)


def _identity(x):
    return x


class _Items:
    """Index -> (index, clip, label, None) or (index, None, None, reason) for an unreadable video."""

    def __init__(self, ds: VideoClipDataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds.samples)

    def __getitem__(self, i: int):
        try:
            clip, label = self.ds._load(i)
            return i, clip, label, None
        except CorruptVideoError as e:
            if not self.ds.cfg.skip_corrupt:
                raise
            return i, None, None, e.reason


def iter_items(ds: VideoClipDataset, workers: int = 0, indices=None):
    """Yield ``(index, clip, label, reason)`` for every video (in order), decoded by ``workers``
    DataLoader processes. ``reason`` is set (and clip None) for an unreadable video with skip_corrupt."""
    import torch.utils.data as tud

    items = _Items(ds)
    sub = items if indices is None else tud.Subset(items, list(indices))
    if workers == 0:
        yield from (sub[k] for k in range(len(sub)))
        return
    loader = tud.DataLoader(sub, batch_size=None, shuffle=False, num_workers=workers,
                            collate_fn=_identity, prefetch_factor=4, persistent_workers=False)
    yield from loader


def decode_all(ds: VideoClipDataset, workers: int = 0, progress: bool = True):
    """Every readable item: ``(clips (N, T, C, H, W) uint8, labels (N,), kept indices)``.
    Unreadable videos (skip_corrupt) are left out and recorded in ``ds.skipped``."""
    from tqdm import tqdm

    clips, labels, keep = [], [], []
    bar = tqdm(iter_items(ds, workers), total=len(ds.samples), desc=f"decoding {ds.root.name}", unit="video",
               disable=None if progress else True, leave=False)
    for i, clip, label, reason in bar:
        if reason is not None:
            ds._bad.add(i)
            ds.skipped.append((ds.samples[i][0], reason))
            continue
        clips.append(clip)
        labels.append(label)
        keep.append(i)
    if not clips:
        raise DatasetError(f"none of the {len(ds.samples)} videos under {ds.root} could be decoded (see .skipped)")
    return np.stack(clips), np.asarray(labels, np.int64), keep
