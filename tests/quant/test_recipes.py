"""Dataset recipes (UCF101 / HMDB51 / DCSASS / folders) on generated folders of real encoded videos,
decode workers, the pre-extracted frame cache and the decode benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from tsmfpga.quant.config import DataConfig  # noqa: E402
from tsmfpga.quant.data.bench import run_benchmark, write_videos  # noqa: E402
from tsmfpga.quant.data.decode import CachedClipDataset, decode_all  # noqa: E402
from tsmfpga.quant.data.recipes import load_recipe  # noqa: E402
from tsmfpga.quant.data.video import DatasetError, VideoDatasetConfig  # noqa: E402


def video(path: Path, level: int, n: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.height, s.width, s.pix_fmt = 24, 32, "yuv420p"
        for i in range(n):
            f = np.full((24, 32, 3), level, np.uint8)
            f[:, (2 * i) % 28:(2 * i) % 28 + 4] = 255
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def dcfg(root: Path, dataset: str, **kw) -> DataConfig:
    return DataConfig(task="video", video_root=str(root), dataset=dataset, frames=4, size=16, **kw)


@pytest.fixture(scope="module")
def ucf(tmp_path_factory) -> Path:
    top = tmp_path_factory.mktemp("ucf")
    root = top / "UCF-101"
    classes = ["ApplyEyeMakeup", "Biking"]
    lists = top / "ucfTrainTestlist"  # beside the video folder, as the official archives unpack
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{k + 1} {c}\n" for k, c in enumerate(classes)))
    train, test = [], []
    for k, c in enumerate(classes):
        for g in range(1, 6):
            for clip in (1, 2):
                rel = f"{c}/v_{c}_g{g:02d}_c{clip:02d}.avi"
                video(root / rel, 40 + 80 * k)
                (test if g == 5 else train).append((rel, k + 1))
    (lists / "trainlist01.txt").write_text("".join(f"{r} {k}\n" for r, k in train))
    (lists / "testlist01.txt").write_text("".join(f"{r}\n" for r, _ in test))
    return root


def test_ucf101_official_split_grouped_val(ucf, tmp_path):
    r = load_recipe(dcfg(ucf, "ucf101", val_fraction=0.25), 1, seed=0, cache=tmp_path / "cache")
    assert r.class_names == ("ApplyEyeMakeup", "Biking")
    assert len(r.test[0]) == 4 and sorted(r.test[1].tolist()) == [0, 0, 1, 1]
    assert len(r.train[0]) + len(r.val[0]) == 16
    assert len(r.val[0]) % 2 == 0  # whole groups (2 clips each) held out
    assert r.train[0].shape[1:] == (4, 1, 16, 16) and r.train[0].dtype == np.uint8
    assert r.info["dataset"] == "ucf101" and r.info["videos"] == 20
    assert len(list((tmp_path / "cache").glob("video_ucf101_*.npz"))) == 1
    again = load_recipe(dcfg(ucf, "ucf101", val_fraction=0.25), 1, seed=0, cache=tmp_path / "cache")
    assert np.array_equal(again.train[0], r.train[0]) and np.array_equal(again.test[1], r.test[1])


def test_hmdb51_markers(tmp_path):
    root = tmp_path / "hmdb51"
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for k, c in enumerate(["brush_hair", "cartwheel"]):
        lines = []
        for i, marker in enumerate([1, 1, 1, 1, 2, 2, 0]):
            name = f"{c}_{i}.avi"
            video(root / c / name, 50 + 90 * k)
            lines.append(f"{name} {marker} \n")
        (splits / f"{c}_test_split1.txt").write_text("".join(lines))
    r = load_recipe(dcfg(root, "hmdb51", val_fraction=0.25), 3, seed=0)
    assert r.class_names == ("brush_hair", "cartwheel")
    assert len(r.train[0]) + len(r.val[0]) == 8 and len(r.val[0]) == 2  # marker 1; 0 = unused
    assert len(r.test[0]) == 4 and r.test[0].shape[2] == 3  # marker 2, RGB
    with pytest.raises(DatasetError, match="split2"):
        load_recipe(dcfg(root, "hmdb51", split=2), 3, seed=0)


def test_dcsass_csv_labels_split_by_source_video(tmp_path):
    root = tmp_path / "DCSASS Dataset"
    labels = root / "Labels"
    labels.mkdir(parents=True)
    for cat in ("Shoplifting", "Stealing"):
        rows = ["Name,Label,Anomaly"]  # a header line is tolerated
        for v in range(1, 5):
            for k in range(3):
                clip = f"{cat}{v:03d}_x264_{k}"
                video(root / cat / f"{cat}{v:03d}_x264.mp4" / f"{clip}.mp4", 30 * k + 20)
                rows.append(f"{clip},{cat},{int(k == 1)}")
        (labels / f"{cat}.csv").write_text("\n".join(rows) + "\n")
    r = load_recipe(dcfg(root, "dcsass"), 1, seed=0)
    assert r.class_names == ("Normal", "Shoplifting", "Stealing")
    assert len(r.train[0]) + len(r.val[0]) + len(r.test[0]) == 24
    for part in (r.train, r.val, r.test):
        assert len(part[0]) % 3 == 0  # the 3 clips of a source video stay together
    assert int((r.train[1] > 0).sum()) * 3 == len(r.train[1])


def test_folders_recipe_and_missing_split_folder(tmp_path):
    root = tmp_path / "f"
    for k in range(2):
        for i in range(5):
            video(root / f"c{k}" / f"{i}.mp4", 60 * k + 20)
    r = load_recipe(dcfg(root, "folders"), 1, seed=0)
    assert (len(r.train[0]), len(r.val[0]), len(r.test[0])) == (8, 1, 1)
    with pytest.raises(DatasetError, match="ucfTrainTestlist"):
        load_recipe(dcfg(root, "ucf101"), 1, seed=0)


def test_workers_and_frame_cache_give_identical_clips(ucf, tmp_path):
    for train in (False, True):
        cfg = VideoDatasetConfig(ucf, num_segments=4, size=16, grayscale=not train)
        ref, yref, _ = decode_all(CachedClipDataset(cfg, train=train, seed=3), 0, progress=False)
        par, ypar, _ = decode_all(CachedClipDataset(cfg, train=train, seed=3), 2, progress=False)
        cfg_c = VideoDatasetConfig(ucf, num_segments=4, size=16, grayscale=not train,
                                   frame_cache=tmp_path / f"fc{train}")
        fill, _, _ = decode_all(CachedClipDataset(cfg_c, train=train, seed=3), 2, progress=False)
        hit, yhit, _ = decode_all(CachedClipDataset(cfg_c, train=train, seed=3), 0, progress=False)
        assert len(list((tmp_path / f"fc{train}").glob("*.npy"))) == 20
        for other in (par, fill, hit):
            assert np.array_equal(ref, other)
        assert np.array_equal(yref, ypar) and np.array_equal(yref, yhit)


def test_decode_benchmark_reports_clips_per_second(tmp_path):
    rep = run_benchmark(tmp_path / "decode.json", videos=4, frames=12, workers=(0, 1, 2))
    assert json.loads((tmp_path / "decode.json").read_text()) == rep
    for w in (0, 1, 2):
        assert rep["clips_per_s"][f"video/workers={w}"] > 0
        assert rep["clips_per_s"][f"frame_cache/workers={w}"] > 0
    assert all(r["clips"] == 4 for r in rep["results"])
    assert len(list((tmp_path / "bench_videos").rglob("*.avi"))) == 2
    write_videos(tmp_path / "bench_videos", videos=4, frames=12)  # existing files are kept


@pytest.mark.parametrize("name", ["ucf101", "hmdb51", "dcsass"])
def test_recipe_configs_load(name):
    from tsmfpga.quant.config import load_config

    cfg = load_config(name)
    assert cfg.data.task == "video" and cfg.data.dataset == name and cfg.data.video_root
    assert cfg.model.input_size == cfg.data.size and not cfg.alarm.enabled
