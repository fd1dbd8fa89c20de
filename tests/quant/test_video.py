"""Real-video loader: layouts, TSN sampling, decoding, transforms, corrupt files, label-aware flips.

The videos are written here with PyAV's built-in 'mpeg4' encoder (near-lossless, qmax=2):
 - "ramp" videos: frame i is a solid gray level 10*i, so a decoded value tells the frame index;
 - "bar" videos: a bright vertical bar moving left (or right, or standing still).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from tsmfpga.quant.data.video import (  # noqa: E402
    CorruptVideoError,
    DatasetError,
    VideoClipDataset,
    VideoDatasetConfig,
    decode_frames,
    segment_indices,
)

H, W = 48, 64


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        s.codec_context.qmax = 2
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def ramp(path: Path, n: int) -> Path:
    return write_video(path, [np.full((H, W, 3), 10 * i, np.uint8) for i in range(n)])


def bar(path: Path, direction: int, n: int = 16) -> Path:
    """Bar moving left (-1), right (+1) or static at the left (0); 48x48 so it stays in the crop."""
    frames = []
    for i in range(n):
        f = np.zeros((48, 48, 3), np.uint8)
        x = {-1: 36 - (3 * i) // 2, 1: 12 + (3 * i) // 2, 0: 10}[direction]
        f[:, x - 2 : x + 2] = 255
        frames.append(f)
    return write_video(path, frames)


def frame_ids(clip: np.ndarray) -> list[int]:
    """Frame indices of a clip of ramp frames (solid gray 10*i)."""
    means = clip.reshape(clip.shape[0], -1).mean(1)
    ids = np.rint(means / 10).astype(int)
    assert np.all(np.abs(means - 10 * ids) <= 4), means  # codec tolerance
    return ids.tolist()


def bar_x(frame: np.ndarray) -> int:
    return int(np.argmax(frame.astype(float).mean(axis=(0, 1))))


@pytest.fixture(scope="module")
def folder_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folders")
    ramp(root / "alpha" / "a20.avi", 20)
    ramp(root / "alpha" / "a3.AVI", 3)  # shorter than T; upper-case extension
    ramp(root / "beta" / "b16.mp4", 16)
    ramp(root / "beta" / "nested.mp4" / "b24.mkv", 24)  # DCSASS-style nested folder; mkv: no frame count
    (root / "beta" / "notes.txt").write_text("not a video")
    (root / "gamma").mkdir()  # a class with no videos keeps its label slot
    return root


def ds(root, train=False, seed=0, **kw) -> VideoClipDataset:
    kw.setdefault("num_segments", 8)
    return VideoClipDataset(VideoDatasetConfig(root=root, **kw), train=train, seed=seed)


def item(d: VideoClipDataset, name: str):
    return d[[p.name for p, _ in d.samples].index(name)]


# --------------------------------------------------------------------------- sampling


def test_segment_indices_eval_is_tsn_centre():
    rng = np.random.default_rng(0)
    assert segment_indices(20, 8, False, rng).tolist() == [1, 3, 6, 8, 11, 13, 16, 18]
    assert segment_indices(16, 4, False, rng).tolist() == [2, 6, 10, 14]
    assert segment_indices(3, 8, False, rng).tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert segment_indices(1, 4, True, rng).tolist() == [0, 0, 0, 0]


def test_segment_indices_train_covers_each_segment():
    rng = np.random.default_rng(1)
    draws = np.stack([segment_indices(20, 8, True, rng) for _ in range(400)])
    start = np.arange(8) * 20 // 8
    end = (np.arange(8) + 1) * 20 // 8
    assert np.all((draws >= start) & (draws < end))
    for k in range(8):  # every offset inside each segment gets drawn
        assert set(draws[:, k]) == set(range(start[k], end[k]))
    short = np.stack([segment_indices(5, 8, True, rng) for _ in range(50)])
    assert short.min() >= 0 and short.max() <= 4 and np.all(np.diff(short, axis=1) >= 0)


# --------------------------------------------------------------------------- decoding


def test_decode_frames_picks_requested_frames(folder_root):
    frames = decode_frames(folder_root / "alpha" / "a20.avi", [5, 0, 19, 5, 40])
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in frames)
    assert frame_ids(np.stack(frames)) == [5, 0, 19, 5, 19]  # past the end -> last frame


def test_folder_layout_discovery(folder_root):
    d = ds(folder_root)
    assert d.classes == ["alpha", "beta", "gamma"]
    found = sorted((p.name, y) for p, y in d.samples)
    assert found == [("a20.avi", 0), ("a3.AVI", 0), ("b16.mp4", 1), ("b24.mkv", 1)]
    assert len(d) == 4


def test_eval_takes_centre_frames_exactly(folder_root):
    d = ds(folder_root)
    clip, label = item(d, "a20.avi")
    assert clip.shape == (8, 3, 32, 32) and clip.dtype == np.uint8 and label == 0
    assert frame_ids(clip) == [1, 3, 6, 8, 11, 13, 16, 18]
    # mkv reports no frame count: frames are counted by decoding
    assert frame_ids(item(d, "b24.mkv")[0]) == segment_indices(24, 8, False, np.random.default_rng()).tolist()
    assert frame_ids(item(ds(folder_root, seed=99), "a20.avi")[0]) == [1, 3, 6, 8, 11, 13, 16, 18]


def test_train_offsets_random_within_segments_and_seeded(folder_root):
    start, end = np.arange(8) * 20 // 8, (np.arange(8) + 1) * 20 // 8
    seen = set()
    for seed in range(6):
        ids = frame_ids(item(ds(folder_root, train=True, seed=seed), "a20.avi")[0])
        assert np.all((ids >= start) & (ids < end)), ids
        seen.add(tuple(ids))
    assert len(seen) > 1  # offsets vary with the seed


def test_determinism_seed_and_epoch(folder_root):
    a, b = ds(folder_root, train=True, seed=3), ds(folder_root, train=True, seed=3)
    for i in reversed(range(len(a))):  # access order does not matter
        xa, ya = a[i]
        xb, yb = b[i]
        assert np.array_equal(xa, xb) and ya == yb
    i = [p.name for p, _ in a.samples].index("a20.avi")
    x0 = a[i][0]
    epochs = []
    for e in range(4):
        a.set_epoch(e)
        epochs.append(frame_ids(a[i][0]))
    assert epochs[0] == frame_ids(x0) and len({tuple(e) for e in epochs}) > 1
    a.set_epoch(2)
    assert frame_ids(a[i][0]) == epochs[2]


def test_short_video_repeats_frames(folder_root):
    for train in (False, True):
        clip, _ = item(ds(folder_root, train=train, seed=5), "a3.AVI")
        ids = frame_ids(clip)
        assert clip.shape[0] == 8 and set(ids) <= {0, 1, 2} and ids == sorted(ids)


def test_grayscale_and_rgb_shapes(folder_root):
    rgb, _ = item(ds(folder_root, num_segments=4, size=24), "b16.mp4")
    gray, _ = item(ds(folder_root, num_segments=4, size=24, grayscale=True), "b16.mp4")
    assert rgb.shape == (4, 3, 24, 24) and gray.shape == (4, 1, 24, 24) and gray.dtype == np.uint8
    assert frame_ids(gray) == frame_ids(rgb) == [2, 6, 10, 14]
    x, y = ds(folder_root, num_segments=2, size=16, resize=20, grayscale=True).load_all(progress=False)
    assert x.shape == (4, 2, 1, 16, 16) and x.dtype == np.uint8 and y.dtype == np.int64
    assert sorted(y.tolist()) == [0, 0, 1, 1]


# --------------------------------------------------------------------------- split lists


@pytest.fixture(scope="module")
def ucf_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ucf")
    for c in ("ApplyEyeMakeup", "Archery", "HandstandPushups"):
        for g in (1, 8):
            ramp(root / c / f"v_{c}_g0{g}_c01.avi", 4)
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\r\n2 Archery\r\n3 HandstandPushups\r\n")
    (lists / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n"
        "Archery/v_Archery_g08_c01.avi 2\n"
        "HandStandPushups/v_HandstandPushups_g08_c01.avi 3\n"  # UCF101's case mismatch
    )
    (lists / "testlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\n\nArchery/v_Archery_g01_c01.avi\n")
    return root


def test_ucf101_split_lists(ucf_root):
    lists = ucf_root / "ucfTrainTestlist"
    tr = ds(ucf_root, train=True, split_file=lists / "trainlist01.txt",
            class_index_file=lists / "classInd.txt")
    assert tr.classes == ["ApplyEyeMakeup", "Archery", "HandstandPushups"]
    assert [(p.name, y) for p, y in tr.samples] == [
        ("v_ApplyEyeMakeup_g08_c01.avi", 0),
        ("v_Archery_g08_c01.avi", 1),
        ("v_HandstandPushups_g08_c01.avi", 2),
    ]
    te = ds(ucf_root, split_file=lists / "testlist01.txt")  # classInd.txt found next to the list
    found = [(p.name, y) for p, y in te.samples]
    assert found == [("v_ApplyEyeMakeup_g01_c01.avi", 0), ("v_Archery_g01_c01.avi", 1)]
    x, y = te.load_all(progress=False)
    assert x.shape == (2, 8, 3, 32, 32) and y.tolist() == [0, 1]


def test_generic_lists_names_and_zero_based(ucf_root, tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("# comment\nArchery/v_Archery_g01_c01.avi Archery\n"
                     "Archery/v_Archery_g08_c01.avi archery\n")
    assert [y for _, y in ds(ucf_root, split_file=names).samples] == [1, 1]
    zero = tmp_path / "zero.txt"
    zero.write_text("Archery/v_Archery_g01_c01.avi 1\nApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 0\n")
    assert [y for _, y in ds(ucf_root, split_file=zero).samples] == [1, 0]  # sorted folders, 0-based
    off = tmp_path / "off.txt"
    off.write_text("Archery/v_Archery_g01_c01.avi 2\n")  # 1-based label without classInd
    with pytest.raises(DatasetError, match=r"off\.txt, line 1.*0/1-based"):
        ds(ucf_root, split_file=off)


def test_split_list_errors_name_file_and_line(ucf_root, tmp_path):
    bad = tmp_path / "list.txt"
    bad.write_text("Archery/v_Archery_g01_c01.avi 2\nArchery/v_missing.avi 2\n")
    cls = ucf_root / "ucfTrainTestlist" / "classInd.txt"
    with pytest.raises(DatasetError, match=r"list\.txt, line 2.*v_missing\.avi"):
        ds(ucf_root, split_file=bad, class_index_file=cls)
    bad.write_text("Archery/v_Archery_g01_c01.avi Archery\n\nArchery/v_Archery_g08_c01.avi Archer\n")
    with pytest.raises(DatasetError, match=r"list\.txt, line 3.*'Archer'"):
        ds(ucf_root, split_file=bad, class_index_file=cls)
    with pytest.raises(DatasetError, match="nolist.txt"):
        ds(ucf_root, split_file=tmp_path / "nolist.txt")


def test_hmdb51_split_files(tmp_path):
    root, splits = tmp_path / "hmdb", tmp_path / "splits"
    splits.mkdir()
    for c in ("brush_hair", "wave"):
        for v in ("a", "b", "c"):
            ramp(root / c / f"{c}_{v}.avi", 3)
        (splits / f"{c}_test_split1.txt").write_text(f"{c}_a.avi 1 \n{c}_b.avi 2 \n{c}_c.avi 0 \n")
    tr = ds(root, train=True, split_file=splits / "wave_test_split1.txt")
    te = ds(root, train=False, split_file=splits)
    assert tr.classes == te.classes == ["brush_hair", "wave"]
    assert [(p.name, y) for p, y in tr.samples] == [("brush_hair_a.avi", 0), ("wave_a.avi", 1)]
    assert [(p.name, y) for p, y in te.samples] == [("brush_hair_b.avi", 0), ("wave_b.avi", 1)]


# --------------------------------------------------------------------------- errors


def test_missing_or_empty_root(tmp_path):
    with pytest.raises(DatasetError, match="does_not_exist"):
        ds(tmp_path / "does_not_exist")
    with pytest.raises(DatasetError, match="no class folders"):
        ds(tmp_path)
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match="no video files"):
        ds(tmp_path)


@pytest.fixture()
def corrupt_root(tmp_path) -> Path:
    ramp(tmp_path / "a" / "good.avi", 8)
    (tmp_path / "a" / "broken.avi").write_bytes(b"RIFF\x00\x00garbage" * 64)
    ramp(tmp_path / "b" / "good2.avi", 8)
    return tmp_path


def test_corrupt_file_raises_naming_it(corrupt_root):
    d = ds(corrupt_root, num_segments=2)
    with pytest.raises(CorruptVideoError, match=r"broken\.avi.*skip_corrupt"):
        item(d, "broken.avi")
    with pytest.raises(CorruptVideoError, match=r"broken\.avi"):
        d.load_all(progress=False)
    with pytest.raises(CorruptVideoError, match=r"broken\.avi"):
        decode_frames(corrupt_root / "a" / "broken.avi", [0])


def test_skip_corrupt_skips_and_counts(corrupt_root):
    d = ds(corrupt_root, num_segments=2, skip_corrupt=True)
    x, y = d.load_all(progress=False)
    assert x.shape == (2, 2, 3, 32, 32) and y.tolist() == [0, 1]
    assert [p.name for p, _ in d.skipped] == ["broken.avi"]
    clip, label = ds(corrupt_root, num_segments=2, skip_corrupt=True)[0]  # broken.avi sorts first
    assert clip.shape == (2, 3, 32, 32) and label == 0  # next readable video instead


def test_truncated_file_counts_real_frames(tmp_path):
    """The AVI header still claims 24 frames; the loader must sample from the frames that decode."""
    path = ramp(tmp_path / "c" / "cut.avi", 24)
    data = path.read_bytes()
    for frac in (0.8, 0.85, 0.9):  # find a cut that decodes cleanly but short (codec-build dependent)
        path.write_bytes(data[: int(len(data) * frac)])
        try:
            with av.open(str(path)) as c:
                declared, n = c.streams.video[0].frames, sum(1 for _ in c.decode(video=0))
        except av.FFmpegError:
            continue
        if declared == 24 and 4 <= n < 24:
            break
    else:
        pytest.skip("no clean short cut with this FFmpeg build")
    d = ds(tmp_path, num_segments=4)
    for _ in range(2):  # first read counts by decoding; second uses the cached count
        assert frame_ids(d[0][0]) == segment_indices(n, 4, False, np.random.default_rng()).tolist()
        assert d._num_frames[path] == n
    a, b = ds(tmp_path, num_segments=4, train=True, seed=7), ds(tmp_path, num_segments=4, train=True, seed=7)
    b._num_frames[path] = n  # b skips the counting pass: same clip either way
    first = a[0][0]
    assert np.array_equal(first, b[0][0]) and np.array_equal(first, a[0][0])
    assert np.all(np.isin(frame_ids(first), np.arange(n)))


# --------------------------------------------------------------------------- flips


@pytest.fixture(scope="module")
def bar_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bars")
    bar(root / "left" / "l.avi", -1)
    bar(root / "right" / "r.avi", +1)
    bar(root / "still" / "s.avi", 0)
    return root


def test_hflip_remaps_direction_labels(bar_root):
    kw = dict(num_segments=4, hflip=True, hflip_label_map={"left": "right", "right": "left"})
    classes = ["left", "right", "still"]
    flips = {"l.avi": 0, "r.avi": 0, "s.avi": 0}
    for seed in range(12):
        d = ds(bar_root, train=True, seed=seed, **kw)
        assert d.classes == classes
        for i, (path, _) in enumerate(d.samples):
            clip, label = d[i]
            xs = [bar_x(f) for f in clip]
            if path.name == "s.avi":
                assert label == 2  # absent from the map: keeps its label
                flips["s.avi"] += xs[0] > 16  # bar stands at the left; flipped -> right
            else:
                moving = "right" if xs[-1] > xs[0] else "left"
                assert classes[label] == moving, (path.name, xs, label)
                flips[path.name] += moving != path.parent.name
    assert all(0 < v < 12 for v in flips.values()), flips  # p = 0.5 flips happen, not always
    ev = ds(bar_root, train=False, **kw)  # no flips in evaluation
    assert [ev[i][1] for i in range(3)] == [0, 1, 2]


def test_hflip_requires_label_map(bar_root):
    with pytest.raises(DatasetError, match="hflip_label_map"):
        ds(bar_root, train=True, hflip=True)
    with pytest.raises(DatasetError, match="unknown classes"):
        ds(bar_root, train=True, hflip=True, hflip_label_map={"lft": "right"})
    d = ds(bar_root, train=True, hflip=True, hflip_label_map={})  # {}: nothing depends on direction
    assert sorted(d[i][1] for i in range(3)) == [0, 1, 2]
