"""Real action-recognition datasets (UCF101 / HMDB51 / DCSASS layouts) as uint8 TSN clips for QAT.

Layouts: folder per class (``ROOT/<class>/<videos>``, classes = sorted folder names, nested
folders allowed, as in DCSASS) or a split list: UCF101 ``classInd.txt`` + ``trainlist01.txt``
("path 1") / ``testlist01.txt`` ("path"), a generic "path label_index" / "path class_name" list,
or HMDB51 ``<class>_test_split<N>.txt`` files ("video 0|1|2", 1 = train, 2 = test).

Each item is ``(clip, label)``: clip is uint8 ``(T, C, H, W)``, one frame per TSN segment, resized
(shorter side) and cropped. No normalisation: the model's input quantizer takes pixel / 255.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsmfpga.core.errors import UserFacingError

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm")
_HMDB_SPLIT = re.compile(r"^(?P<cls>.+)_test_split(?P<n>\d+)\.txt$")


class DatasetError(UserFacingError, ValueError):
    """The dataset on disk does not match the configuration (missing root, list file, class...)."""


class CorruptVideoError(UserFacingError, RuntimeError):
    """A video file could not be decoded (or has no video frames)."""

    def __init__(self, path: Path | str, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(
            f"cannot decode video {path}: {reason}. If the dataset is known to contain broken "
            "files, set `data.skip_corrupt: true` in the QAT config (VideoDatasetConfig(skip_corrupt="
            "True) in Python) to skip them; they are then counted in the report"
        )

    def __reduce__(self):  # picklable across DataLoader worker processes
        return (type(self), (self.path, self.reason))


@dataclass
class VideoDatasetConfig:
    #: dataset root: holds ``<class>/<video>`` folders; relative list paths are resolved against it
    root: Path
    #: T: number of TSN segments; one frame is sampled from each
    num_segments: int = 8
    #: output height = width in pixels (after the crop)
    size: int = 32
    #: shorter side after resizing, before the crop; None => ``size * 8 // 7``
    resize: int | None = None
    #: 1 channel (ITU-R 601 luma) instead of 3 (RGB)
    grayscale: bool = False
    #: split list file (UCF101 / generic / one HMDB51 ``*_test_splitN.txt`` or their folder);
    #: None => folder per class, every video is used (no train/test split)
    split_file: Path | None = None
    #: "index name" (or "name") per line; None => ``classInd.txt`` next to split_file if present,
    #: else the sorted class folders of root
    class_index_file: Path | None = None
    #: skip unreadable videos (recorded in ``VideoClipDataset.skipped``) instead of raising
    skip_corrupt: bool = False
    #: horizontal-flip augmentation (p = 0.5, training only); requires hflip_label_map
    hflip: bool = False
    #: class renaming applied to flipped clips, e.g. {"left": "right", "right": "left"}; classes not
    #: in the map keep their label; {} = no class depends on direction. Required when hflip is True
    hflip_label_map: dict[str, str] | None = None
    #: folder of pre-extracted frames (quant/data/decode.py: CachedClipDataset); None = decode every time
    frame_cache: Path | None = None

    def __post_init__(self):
        self.root = Path(self.root)
        self.frame_cache = None if self.frame_cache is None else Path(self.frame_cache)
        self.split_file = None if self.split_file is None else Path(self.split_file)
        self.class_index_file = None if self.class_index_file is None else Path(self.class_index_file)
        if self.num_segments < 1 or self.size < 1:
            raise ValueError(f"num_segments and size must be >= 1, got {self.num_segments}, {self.size}")
        if self.resize is not None and self.resize < self.size:
            raise ValueError(f"resize ({self.resize}) must be >= size ({self.size}) to allow the crop")

    @property
    def resize_to(self) -> int:
        """Shorter side before the crop: ``resize`` or ``size * 8 // 7``."""
        return self.resize if self.resize is not None else self.size * 8 // 7


def segment_indices(num_frames: int, num_segments: int, train: bool, rng: np.random.Generator) -> np.ndarray:
    """TSN sampling: split ``num_frames`` into ``num_segments`` equal segments, take one frame each.

    Segment k covers ``[k*N//T, (k+1)*N//T)`` (at least one frame, so videos shorter than T repeat
    frames). Training draws a uniform offset inside each segment from ``rng``; evaluation takes the
    centre frame (the TSN ``int(tick/2 + tick*k)`` rule). Returns int64 indices of shape (T,).
    """
    if num_frames < 1 or num_segments < 1:
        raise ValueError(f"need num_frames >= 1 and num_segments >= 1, got {num_frames}, {num_segments}")
    k = np.arange(num_segments, dtype=np.int64)
    start = k * num_frames // num_segments
    end = np.maximum((k + 1) * num_frames // num_segments, start + 1)
    offset = rng.integers(0, end - start) if train else (end - start) // 2
    return np.minimum(start + offset, num_frames - 1).astype(np.int64)


def _scan(path: Path, choose: Callable[[int], Iterable[int] | None], stop_early: bool):
    """One PyAV decoding pass over the first video stream of ``path``.

    ``choose(declared_frame_count)`` (0 if the container does not say) returns the frame indices
    to keep as RGB arrays, or None to only count. Returns ``(kept, decoded_count)``; wanted
    indices past the last decoded frame get the last frame. ``stop_early`` stops after the
    largest wanted index (the count is then a lower bound).
    """
    import av

    kept: dict[int, np.ndarray] = {}
    n, last = 0, None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise CorruptVideoError(path, "the file has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            declared = max(int(stream.frames or 0), 0)
            sel = choose(declared)
            wanted = set() if sel is None else {int(i) for i in sel}
            stop = max(wanted, default=-1)
            for frame in container.decode(stream):
                if n in wanted:
                    kept[n] = frame.to_ndarray(format="rgb24")
                last, n = frame, n + 1
                if stop_early and n > stop:
                    break
            missing = [i for i in wanted if i >= n]
            if missing and last is not None:
                tail = kept.get(n - 1)
                tail = last.to_ndarray(format="rgb24") if tail is None else tail
                kept.update((i, tail) for i in missing)
    except CorruptVideoError:
        raise
    except (av.FFmpegError, OSError, EOFError, ValueError) as e:
        raise CorruptVideoError(path, f"{type(e).__name__}: {e}") from e
    if n == 0:
        raise CorruptVideoError(path, "no decodable video frames")
    return kept, n


def decode_frames(path: Path, indices) -> list[np.ndarray]:
    """Decode ``path`` with PyAV and return the RGB uint8 (H, W, 3) frames at ``indices``.

    Indices may repeat and come in any order; indices past the last decodable frame give the last
    frame. Raises CorruptVideoError (naming the file) on any decoding error or if no frame decodes.
    """
    idx = [int(i) for i in np.asarray(indices, dtype=np.int64).reshape(-1)]
    if any(i < 0 for i in idx):
        raise ValueError(f"frame indices must be >= 0, got {idx}")
    kept, _ = _scan(Path(path), lambda _declared: idx, stop_early=True)
    return [kept[i] for i in idx]


class VideoClipDataset:
    """Map-style dataset of ``(uint8 clip (T, C, H, W), int label)`` over real video files.

    Random choices (training offsets, crop, flip) come from a generator seeded by
    ``(seed, epoch, index)``, so an item is a pure function of those and of the file:
    reproducible under any access order or worker split. ``set_epoch(e)`` varies them per epoch.
    """

    def __init__(self, cfg: VideoDatasetConfig, train: bool, seed: int = 0):
        self.cfg, self.train, self.seed, self.epoch = cfg, bool(train), int(seed) % 2**63, 0
        self.root = Path(cfg.root)
        if not self.root.is_dir():
            raise DatasetError(f"dataset root {self.root} does not exist or is not a directory: download/"
                               "extract the dataset there or point VideoDatasetConfig.root at it")
        self.classes: list[str] = []
        self.samples: list[tuple[Path, int]] = []
        self.skipped: list[tuple[Path, str]] = []  # (file, reason) of unreadable videos (skip_corrupt)
        self._bad: set[int] = set()
        self._num_frames: dict[Path, int] = {}  # true frame counts, found by decoding
        self._dir_cache: dict[Path, dict[str, str]] = {}
        if cfg.split_file is None:
            self._index_folders()
        else:
            self._index_split_list(self._existing(cfg.split_file, "split_file"))
        self._flip_label = self._flip_table()

    # ----------------------------------------------------------------------------- indexing
    def _existing(self, path: Path, what: str) -> Path:
        for p in (path, self.root / path):
            if p.exists():
                return p
        raise DatasetError(f"{what} {path} not found (also tried {self.root / path}): "
                           f"fix VideoDatasetConfig.{what}")

    def _class_folders(self) -> list[str]:
        return sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))

    def _index_folders(self) -> None:
        self.classes = self._class_folders()
        if not self.classes:
            raise DatasetError(f"dataset root {self.root} has no class folders: expected ROOT/<class_name>/"
                               "<video files>, or set VideoDatasetConfig.split_file to a list file")
        for label, name in enumerate(self.classes):
            for f in sorted((self.root / name).rglob("*")):
                if f.suffix.lower() in VIDEO_EXTENSIONS and not f.name.startswith(".") and f.is_file():
                    self.samples.append((f, label))
        if not self.samples:
            raise DatasetError(f"no video files ({' '.join(VIDEO_EXTENSIONS)}) in the class folders of "
                               f"{self.root}: is the dataset extracted there?")

    def _resolve(self, rel: str) -> Path | None:
        """``root / rel`` (or an absolute path), falling back to a case-insensitive match per component
        (UCF101's lists spell some folders differently from the archive, e.g. HandStandPushups)."""
        cur = self.root / rel  # an absolute rel replaces root
        if cur.is_file() or Path(rel).is_absolute():
            return cur if cur.is_file() else None
        cur = self.root
        for part in Path(rel).parts:
            if cur not in self._dir_cache:
                self._dir_cache[cur] = {c.name.lower(): c.name for c in cur.iterdir()} if cur.is_dir() else {}
            if (name := self._dir_cache[cur].get(part.lower())) is None:
                return None
            cur = cur / name
        return cur if cur.is_file() else None

    def _folder_class(self, path: Path, lookup: dict[str, int]) -> int | None:
        """Class of a file from its first folder under root (or its parent folder outside root)."""
        try:
            parts = path.relative_to(self.root).parts
            name = parts[0] if len(parts) > 1 else None
        except ValueError:
            name = path.parent.name
        return None if name is None else lookup.get(name, lookup.get(name.lower()))

    def _index_split_list(self, list_file: Path) -> None:
        if list_file.is_dir() or _HMDB_SPLIT.match(list_file.name):
            return self._index_hmdb(list_file)
        class_file, base = self.cfg.class_index_file, 0
        if class_file is None and (list_file.parent / "classInd.txt").is_file():
            class_file = list_file.parent / "classInd.txt"
        if class_file is not None:
            self.classes, base = _read_class_index(self._existing(class_file, "class_index_file"))
        else:
            self.classes = self._class_folders()
        entries = []  # (line number, path text, label token or None)
        for lineno, raw in enumerate(list_file.read_text(encoding="utf-8-sig").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.rsplit(None, 1)
            entries.append((lineno, parts[0], parts[1] if len(parts) == 2 else None))
        if not self.classes:
            if not entries or not all(t is not None and t.lstrip("-").isdigit() for _, _, t in entries):
                raise DatasetError(
                    f"{list_file}: cannot determine the classes: no class_index_file, no class "
                    f"folders under {self.root}, and the list does not give an integer label per line"
                )
            self.classes = [str(k) for k in range(max(int(t) for _, _, t in entries) + 1)]
        lookup = {c: k for k, c in enumerate(self.classes)}
        lookup.update({c.lower(): k for k, c in enumerate(self.classes) if c.lower() not in lookup})
        for lineno, text, tok in entries:
            where = f"{list_file}, line {lineno}"
            is_int = tok is not None and tok.lstrip("-").isdigit()
            if tok is not None and not is_int and tok not in lookup and tok.lower() not in lookup:
                if self._resolve(f"{text} {tok}") is not None:  # a path containing a space
                    text, tok = f"{text} {tok}", None
                else:
                    known = ", ".join(self.classes[:20]) + (" ..." if len(self.classes) > 20 else "")
                    raise DatasetError(f"{where}: unknown class name {tok!r}; classes: {known}")
            path = self._resolve(text)
            if path is None:
                raise DatasetError(f"{where}: video {text!r} not found under {self.root}: check root/list")
            from_folder = self._folder_class(path, lookup)
            if tok is None:
                if from_folder is None:
                    raise DatasetError(f"{where}: no label, and the folder of {text!r} is not a class name")
                label = from_folder
            elif is_int:
                label = int(tok) - base
                if not 0 <= label < len(self.classes):
                    raise DatasetError(f"{where}: label {tok} out of range for {len(self.classes)} "
                                       f"classes (first index {base})")
                if from_folder is not None and from_folder != label:
                    raise DatasetError(
                        f"{where}: label {tok} is class {self.classes[label]!r} but the video lies in "
                        f"folder {self.classes[from_folder]!r}: wrong class_index_file or 0/1-based labels?"
                    )
            else:
                label = lookup.get(tok, lookup.get(tok.lower()))
            self.samples.append((path, label))
        if not self.samples:
            raise DatasetError(f"split list {list_file} has no entries")

    def _index_hmdb(self, split: Path) -> None:
        """HMDB51: one ``<class>_test_split<N>.txt`` per class, lines "<video> <0|1|2>"."""
        n = "1" if split.is_dir() else _HMDB_SPLIT.match(split.name)["n"]
        folder = split if split.is_dir() else split.parent
        files = sorted(folder.glob(f"*_test_split{n}.txt"))
        if not files:
            raise DatasetError(f"no HMDB51 split files *_test_split{n}.txt in {folder}")
        self.classes = [_HMDB_SPLIT.match(f.name)["cls"] for f in files]
        want = "1" if self.train else "2"
        for label, f in enumerate(files):
            for lineno, line in enumerate(f.read_text(encoding="utf-8-sig").splitlines(), 1):
                parts = line.split()
                if len(parts) != 2 or parts[1] != want:
                    continue
                path = self._resolve(f"{self.classes[label]}/{parts[0]}")
                if path is None:
                    raise DatasetError(f"{f}, line {lineno}: video {self.classes[label]}/{parts[0]} "
                                       f"not found under {self.root}")
                self.samples.append((path, label))
        if not self.samples:
            raise DatasetError(f"HMDB51 split {n} in {folder} lists no {'train' if self.train else 'test'} video")

    def _flip_table(self) -> np.ndarray:
        cfg = self.cfg
        table = np.arange(len(self.classes), dtype=np.int64)
        if not cfg.hflip:
            return table
        if cfg.hflip_label_map is None:
            raise DatasetError(
                "hflip=True needs hflip_label_map: a horizontal flip turns e.g. 'moves left' into "
                "'moves right', so direction-dependent classes must be relabelled. Pass a map such "
                "as {'left': 'right', 'right': 'left'}, or {} if no class depends on direction"
            )
        index = {c: k for k, c in enumerate(self.classes)}
        unknown = sorted({n for kv in cfg.hflip_label_map.items() for n in kv} - index.keys())
        if unknown:
            raise DatasetError(f"hflip_label_map names unknown classes {unknown}; classes are {self.classes}")
        for src, dst in cfg.hflip_label_map.items():
            table[index[src]] = index[dst]
        return table

    # ----------------------------------------------------------------------------- items
    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Vary the random training choices per epoch (deterministically, given the seed)."""
        self.epoch = int(epoch)

    def _rngs(self, i: int) -> tuple[np.random.Generator, np.random.Generator]:
        seq = np.random.SeedSequence([self.seed, self.epoch % 2**63, i])
        seg, aug = seq.spawn(2)
        return np.random.default_rng(seg), np.random.default_rng(aug)

    def _frames(self, path: Path, rng: np.random.Generator) -> list[np.ndarray]:
        cfg, state = self.cfg, rng.bit_generator.state

        def pick(n: int) -> np.ndarray:
            rng.bit_generator.state = state  # same draws whatever count we retry with
            return segment_indices(n, cfg.num_segments, self.train, rng)

        n = self._num_frames.get(path)
        if n is not None:  # count known from an earlier full pass: stop after the last wanted frame
            idx = pick(n)
            kept, _ = _scan(path, lambda _d: idx, stop_early=True)
            return [kept[i] for i in idx]
        chosen: list[np.ndarray] = []

        def first(declared: int):  # provisional choice from the container's count (if any)
            chosen.append(pick(declared) if declared > 0 else np.zeros(0, np.int64))
            return chosen[0]

        kept, n = _scan(path, first, stop_early=False)  # decode everything: count the frames
        self._num_frames[path] = n
        idx = pick(n)
        if not np.array_equal(idx, chosen[0]):  # container count was missing or wrong
            kept, _ = _scan(path, lambda _d: idx, stop_early=True)
        return [kept[i] for i in idx]

    def _load(self, i: int) -> tuple[np.ndarray, int]:
        path, label = self.samples[i]
        seg_rng, aug_rng = self._rngs(i)
        clip, flipped = self._transform(self._frames(path, seg_rng), aug_rng)
        return clip, int(self._flip_label[label] if flipped else label)

    def _transform(self, frames: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, bool]:
        from PIL import Image

        cfg, size, short = self.cfg, self.cfg.size, self.cfg.resize_to
        h, w = frames[0].shape[:2]
        if h <= w:
            nh, nw = short, max(size, round(w * short / h))
        else:
            nh, nw = max(size, round(h * short / w)), short
        if self.train:
            top, left = int(rng.integers(0, nh - size + 1)), int(rng.integers(0, nw - size + 1))
        else:
            top, left = (nh - size) // 2, (nw - size) // 2
        flip = bool(self.train and cfg.hflip and rng.random() < 0.5)
        out = np.empty((len(frames), 1 if cfg.grayscale else 3, size, size), dtype=np.uint8)
        done: dict[int, np.ndarray] = {}  # repeated frames (short videos) are transformed once
        for t, f in enumerate(frames):
            if id(f) not in done:
                img = Image.fromarray(f, "RGB")
                img = img.convert("L") if cfg.grayscale else img  # ITU-R 601 luma
                if img.size != (nw, nh):
                    img = img.resize((nw, nh), Image.Resampling.BILINEAR)
                a = np.asarray(img.crop((left, top, left + size, top + size)))
                a = a[:, ::-1] if flip else a
                done[id(f)] = a[None] if cfg.grayscale else a.transpose(2, 0, 1)
            out[t] = done[id(f)]
        return out, flip

    def _skip(self, i: int, err: CorruptVideoError) -> None:
        self._bad.add(i)
        if all(p != self.samples[i][0] for p, _ in self.skipped):
            self.skipped.append((self.samples[i][0], err.reason))

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        """``(uint8 clip (T, C, H, W), label)``. With skip_corrupt an unreadable video is recorded
        in ``skipped`` and the next readable item is returned instead."""
        n = len(self.samples)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} videos")
        i %= n
        for k in ((i + j) % n for j in range(n)):
            if k in self._bad:
                continue
            try:
                return self._load(k)
            except CorruptVideoError as e:
                if not self.cfg.skip_corrupt:
                    raise
                self._skip(k, e)
        raise DatasetError(f"all {n} videos under {self.root} are unreadable (see .skipped)")

    def load_all(self, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Decode every item: ``(N, T, C, H, W)`` uint8 clips and ``(N,)`` int64 labels.

        With skip_corrupt, unreadable videos are left out and recorded in ``skipped``."""
        cfg, n = self.cfg, len(self.samples)
        c = 1 if cfg.grayscale else 3
        clips = np.empty((n, cfg.num_segments, c, cfg.size, cfg.size), dtype=np.uint8)
        labels = np.empty(n, dtype=np.int64)
        from tqdm import tqdm

        bar = tqdm(total=n, desc=f"decoding {self.root.name}", unit="video", disable=not progress)
        k = 0
        for i in range(n):
            try:
                if i in self._bad:
                    continue
                clips[k], labels[k] = self._load(i)
                k += 1
            except CorruptVideoError as e:
                if not cfg.skip_corrupt:
                    raise
                self._skip(i, e)
            finally:
                bar.update(1)
                if self.skipped:
                    bar.set_postfix(skipped=len(self.skipped), refresh=False)
        bar.close()
        if k == 0:
            raise DatasetError(f"none of the {n} videos under {self.root} could be decoded (see .skipped)")
        return clips[:k], labels[:k]


def _read_class_index(path: Path) -> tuple[list[str], int]:
    """classInd.txt: "1 ApplyEyeMakeup" ("0 name", or just "name") per line -> (classes, first index).
    Names may contain spaces (Kinetics style)."""
    pairs = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        parts = line.split(None, 1)
        if parts and parts[0].isdigit() and len(parts) == 2:
            pairs.append((int(parts[0]), parts[1].strip()))
        elif parts and not parts[0].isdigit():
            pairs.append((len(pairs), line.strip()))
        elif parts:
            raise DatasetError(f"{path}, line {lineno}: expected 'index class_name', got {line!r}")
    if not pairs:
        raise DatasetError(f"class index file {path} is empty")
    base = min(k for k, _ in pairs)
    if base not in (0, 1) or sorted(k for k, _ in pairs) != list(range(base, base + len(pairs))):
        raise DatasetError(f"{path}: class indices must be consecutive from 0 or 1")
    return [name for _, name in sorted(pairs)], base
