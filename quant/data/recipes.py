"""Real dataset recipes for the QAT stage: UCF101, HMDB51 and DCSASS folders as uint8 clip arrays.

``data.dataset`` chooses the recipe; the user points ``data.video_root`` at the extracted dataset:

* ``folders``: ``ROOT/<class>/<videos>`` (nested folders allowed); a seeded 70/15/15 split.
* ``ucf101``: ``ROOT/<Class>/v_*.avi`` and the official ``ucfTrainTestlist/`` (``classInd.txt``,
  ``trainlist0X.txt``, ``testlist0X.txt``) in ROOT or beside it. Test = ``testlist0X``; validation
  = ``data.val_fraction`` of ``trainlist0X``, held out by whole group (``_gNN_``: the same actor
  and scene never sits on both sides).
* ``hmdb51``: ``ROOT/<class>/<video>.avi`` and the official ``testTrainMulti_7030_splits/``
  (``<class>_test_splitX.txt``, marker 1 = train, 2 = test, 0 = unused) in ROOT or beside it.
  Validation = ``data.val_fraction`` of the train videos.
* ``dcsass``: ``ROOT/<Category>/<Video>.mp4/<Video>_<k>.mp4`` clips and ``ROOT/Labels/<Category>.csv``
  rows ``clip_name,category,0|1`` (1 = the event happens in the clip). Classes are ``Normal`` plus
  every category with an event; a 70/15/15 split by source video (clips of one video stay together).

The decoded arrays are cached in ``OUT/../data/video_<hash>.npz`` (hash of recipe, frame geometry
and every file's size and mtime); under torchrun local rank 0 decodes, the other ranks read it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsmfpga.quant.data.decode import CachedClipDataset, decode_all
from tsmfpga.quant.data.video import VIDEO_EXTENSIONS, DatasetError, VideoDatasetConfig

CACHE_VERSION = 1


@dataclass
class Recipe:
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    class_names: tuple[str, ...]
    info: dict


def _split_dir(dcfg, root: Path, default: str) -> Path:
    if dcfg.split_dir:
        p = Path(dcfg.split_dir)
        p = p if p.is_absolute() or p.exists() else root / p
        if not p.is_dir():
            raise DatasetError(f"data.split_dir {dcfg.split_dir} is not a folder (also tried {root / dcfg.split_dir})")
        return p
    for p in (root / default, root.parent / default, root):
        if p.is_dir() and (p != root or any(p.glob("*.txt")) or any(p.glob("*.csv"))):
            return p
    raise DatasetError(f"no split folder {default}/ in {root} or beside it: extract the official split "
                       "lists there or set data.split_dir")


def _group_split(keys: list[str], fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Indices of ``keys`` cut into parts of roughly ``fractions`` by whole groups (seeded)."""
    groups = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(groups))
    n, parts, start = len(groups), [], 0
    bounds = np.cumsum([0, *fractions])
    for k in range(len(fractions)):
        end = n if k == len(fractions) - 1 else max(start + 1, int(round(bounds[k + 1] * n)))
        chosen = {groups[g] for g in order[start:min(end, n)]}
        parts.append(np.array([i for i, key in enumerate(keys) if key in chosen], dtype=np.int64))
        start = min(end, n)
    return parts


def _vcfg(dcfg, in_channels: int, **kw) -> VideoDatasetConfig:
    return VideoDatasetConfig(root=Path(dcfg.video_root), num_segments=dcfg.frames, size=dcfg.size,
                              grayscale=in_channels == 1, skip_corrupt=dcfg.skip_corrupt,
                              frame_cache=Path(dcfg.frame_cache) if dcfg.frame_cache else None, **kw)


def _datasets(dcfg, in_channels: int, seed: int):
    """(list of (name, dataset, index array or None)) for train/val/test before decoding."""
    root = Path(dcfg.video_root)
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} does not exist or is not a directory: point "
                           "data.video_root at the extracted dataset")
    kind = dcfg.dataset
    if kind == "folders":
        ds = CachedClipDataset(_vcfg(dcfg, in_channels), train=False, seed=seed)
        return {"all": ds}
    if kind == "ucf101":
        sd = _split_dir(dcfg, root, "ucfTrainTestlist")
        cls = sd / "classInd.txt"
        mk = lambda name: CachedClipDataset(_vcfg(dcfg, in_channels, split_file=sd / name, class_index_file=cls),
                                            train=False, seed=seed)
        return {"trainval": mk(f"trainlist{dcfg.split:02d}.txt"), "test": mk(f"testlist{dcfg.split:02d}.txt")}
    if kind == "hmdb51":
        sd = _split_dir(dcfg, root, "testTrainMulti_7030_splits")
        files = sorted(sd.glob(f"*_test_split{dcfg.split}.txt"))
        if not files:
            raise DatasetError(f"no HMDB51 split files *_test_split{dcfg.split}.txt in {sd}")
        out = {}
        for name, train in (("trainval", True), ("test", False)):
            ds = CachedClipDataset(_vcfg(dcfg, in_channels, split_file=files[0]), train=train, seed=seed)
            ds.train = False  # the marker chose the videos; decode-once clips use the centre frames
            out[name] = ds
        return out
    if kind == "dcsass":
        return {"all": _dcsass(dcfg, root, in_channels, seed)}
    raise DatasetError(f"unknown data.dataset {kind!r}")


def _dcsass(dcfg, root: Path, in_channels: int, seed: int) -> CachedClipDataset:
    labels_dir = _split_dir(dcfg, root, "Labels")
    csvs = sorted(labels_dir.glob("*.csv"))
    if not csvs:
        raise DatasetError(f"no DCSASS label files (*.csv) in {labels_dir}")
    videos = {f.stem: f for f in sorted(root.rglob("*")) if f.suffix.lower() in VIDEO_EXTENSIONS and f.is_file()}
    rows = []
    for f in csvs:
        with f.open(newline="", encoding="utf-8-sig") as fh:
            for lineno, row in enumerate(csv.reader(fh), 1):
                row = [c.strip() for c in row]
                if len(row) < 3 or row[2] not in ("0", "1"):
                    continue  # header or blank line
                clip = Path(row[0]).stem
                if clip not in videos:
                    raise DatasetError(f"{f}, line {lineno}: clip {row[0]!r} not found under {root}")
                rows.append((videos[clip], row[1], row[2] == "1"))
    if not rows:
        raise DatasetError(f"the DCSASS label files in {labels_dir} list no clips")
    classes = ["Normal"] + sorted({cat for _, cat, event in rows if event})
    index = {c: k for k, c in enumerate(classes)}
    ds = CachedClipDataset(_vcfg(dcfg, in_channels), train=False, seed=seed)
    ds.classes = classes
    ds.samples = [(p, index[cat] if event else 0) for p, cat, event in rows]
    ds._flip_label = ds._flip_table()
    return ds


def _source_key(path: Path, kind: str) -> str:
    if kind == "ucf101":
        m = re.search(r"_g(\d+)_", path.name)
        return f"{path.parent.name}/g{m[1]}" if m else path.name
    if kind == "dcsass":
        return re.sub(r"_\d+$", "", path.stem)
    return str(path)


def _fingerprint(dcfg, in_channels: int, seed: int, sets: dict) -> str:
    h = hashlib.sha256()
    spec = {k: getattr(dcfg, k) for k in ("dataset", "split", "val_fraction", "frames", "size", "skip_corrupt")}
    h.update(json.dumps([CACHE_VERSION, spec, in_channels, seed], sort_keys=True).encode())
    for name in sorted(sets):
        h.update(name.encode())
        h.update(json.dumps(sets[name].classes).encode())
        for p, label in sets[name].samples:
            st = p.stat()
            h.update(f"{p}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def load_recipe(dcfg, in_channels: int, seed: int, cache: Path | None = None) -> Recipe:
    """Index, split and decode the dataset of ``dcfg`` (a DataConfig) into uint8 clip arrays."""
    sets = _datasets(dcfg, in_channels, seed)
    path = None
    if cache is not None:
        path = Path(cache) / f"video_{dcfg.dataset}_{_fingerprint(dcfg, in_channels, seed, sets)}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                info = json.loads(str(z["info"]))
                return Recipe((z["xtr"], z["ytr"]), (z["xva"], z["yva"]), (z["xte"], z["yte"]),
                              tuple(info["class_names"]), info["info"])
    decoded, skipped = {}, []
    for name, ds in sets.items():
        x, y, keep = decode_all(ds, dcfg.decode_workers)
        decoded[name] = (x, y, [ds.samples[i][0] for i in keep])
        skipped += [str(p) for p, _ in ds.skipped]
    kind = dcfg.dataset
    if kind in ("folders", "dcsass"):
        x, y, files = decoded["all"]
        if kind == "folders":  # the seeded 70/15/15 split of earlier versions, unchanged
            order = np.random.default_rng(seed).permutation(len(x))
            n_te = n_va = max(1, len(x) * 15 // 100)
            te, va, tr = order[:n_te], order[n_te:n_te + n_va], order[n_te + n_va:]
        else:
            tr, va, te = _group_split([_source_key(f, kind) for f in files], (0.70, 0.15, 0.15), seed)
        parts = {"train": (x[tr], y[tr]), "val": (x[va], y[va]), "test": (x[te], y[te])}
    else:
        x, y, files = decoded["trainval"]
        tr, va = _group_split([_source_key(f, kind) for f in files], (1 - dcfg.val_fraction, dcfg.val_fraction),
                              seed)
        parts = {"train": (x[tr], y[tr]), "val": (x[va], y[va]), "test": decoded["test"][:2]}
    first = next(iter(sets.values()))
    info = {"task": "video", "dataset": kind, "root": str(dcfg.video_root), "split": dcfg.split,
            "videos": sum(len(ds.samples) for ds in sets.values()), "skipped_corrupt": skipped}
    rec = Recipe(parts["train"], parts["val"], parts["test"], tuple(first.classes), info)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, xtr=rec.train[0], ytr=rec.train[1], xva=rec.val[0], yva=rec.val[1], xte=rec.test[0],
                         yte=rec.test[1], info=np.array(json.dumps({"class_names": list(rec.class_names),
                                                                      "info": info})))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return rec
