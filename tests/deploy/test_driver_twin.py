"""Host driver + simulated twin: the driver's API on the RTL simulation of a small TSM build gives
exactly the integer HW graph's outputs (Python execution), streaming equals whole clips, the
latency registers come from the simulation; bit packing round trips; quantization errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_zoo import TSM_SIZE, TSM_T

from tsmfpga.deploy.driver import Accelerator, pack_frames, softmax, unpack_frames

# ------------------------------------------------------------------------------------------------
# pure numpy: bit packing
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lanes,bits,signed", [(1, 8, False), (1, 19, True), (3, 5, True), (4, 7, False),
                                               (2, 13, True), (5, 1, False), (1, 1, True), (2, 31, True),
                                               (3, 21, False)])
def test_pack_unpack_round_trip(lanes, bits, signed):
    rng = np.random.default_rng(bits * 10 + lanes)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    f, beats = 3, 7
    vals = rng.integers(lo, hi + 1, size=(f, beats * lanes), endpoint=False)
    vals[0, :2] = [lo, hi][: min(2, vals.shape[1])]
    nbytes = -(-(lanes * bits) // 8)
    for beat_bytes in (nbytes, 1 << (nbytes - 1).bit_length(), nbytes + 3):
        data = pack_frames(vals, lanes, bits, beat_bytes)
        assert data.dtype == np.uint8 and data.shape == (f, beats, beat_bytes)
        np.testing.assert_array_equal(unpack_frames(data, lanes, bits, signed), vals)
        # layout: lane 0 at the LSBs of a little-endian beat, zero padded (= the harness' words)
        from tsmfpga.core.streams import pack_beats, unpack_beats

        words = pack_beats(vals, lanes, bits)
        got = [[int.from_bytes(data[i, j].tobytes(), "little") for j in range(beats)] for i in range(f)]
        assert got == [[int(w) for w in row] for row in words]
        np.testing.assert_array_equal(unpack_beats([w for row in got for w in row], lanes, bits, signed),
                                      vals.reshape(-1))


def test_pack_errors():
    with pytest.raises(ValueError, match="lanes"):
        pack_frames(np.zeros((1, 5)), 2, 8, 2)
    with pytest.raises(ValueError, match="do not fit"):
        pack_frames(np.zeros((1, 4)), 2, 9, 2)
    with pytest.raises(ValueError, match="expected"):
        unpack_frames(np.zeros((4, 2), np.uint8), 1, 8, False)


# ------------------------------------------------------------------------------------------------
# driver on a numpy loopback backend (no simulation): quantize, registers, protocol checks
# ------------------------------------------------------------------------------------------------

def _config(h=4, w=5, c=1, k=3, alarm=None):
    return {
        "frames_per_clip": 2, "clock_mhz": 100.0,
        "input": {"shape_hwc": [h, w, c], "layout": "NHWC", "dtype": "UINT8", "scale": 1 / 255, "zero_point": 0,
                  "code_min": 0, "code_max": 255, "lanes": 1, "elem_bits": 8, "width": 8,
                  "frame_beats": h * w * c, "bytes": 1},
        "output": {"values": k, "lanes": 1, "elem_bits": 11, "width": 11, "signed": True, "frame_beats": k,
                   "bytes": 2, "scale": [0.5] * k, "bias": [0.0, 1.0, -1.0][:k]},
        "class_names": [f"c{j}" for j in range(k)], "alarm": alarm,
    }


class Loopback:
    """Transport: output value j of a frame = (sum of its codes) * (j - 1) (signed), INFO as configured."""

    def __init__(self, cfg, info=None):
        self.cfg, self.writes, self.pending = cfg, [], False
        i, o = cfg["input"], cfg["output"]
        self.info = info if info is not None else i["frame_beats"] | (o["frame_beats"] << 16)

    def write_reg(self, addr, value):
        self.writes.append((addr, value))
        self.pending = self.pending or bool(addr == 0 and value & 1)

    def read_reg(self, addr):
        return {0x24: self.info, 0x04: 2 if self.pending else 0}.get(addr, 0)

    def transfer(self, data):
        o = self.cfg["output"]
        self.pending = False
        s = data.astype(np.int64).sum(axis=(1, 2))
        vals = s[:, None] * (np.arange(o["values"]) - 1)[None]
        return pack_frames(vals, 1, o["elem_bits"], o["bytes"])


def test_quantize_and_errors():
    cfg = _config()
    acc = Accelerator.from_backend(Loopback(cfg), cfg)
    px = np.arange(2 * 4 * 5, dtype=np.uint8).reshape(2, 4, 5)
    q = acc.quantize(px)
    assert q.shape == (2, 4, 5, 1) and q.dtype == np.int64
    np.testing.assert_array_equal(q[..., 0], px)                       # uint8 pixels are the codes
    np.testing.assert_array_equal(acc.quantize(px.astype(np.float32) / 255)[..., 0], px)
    np.testing.assert_array_equal(acc.quantize(np.full((1, 4, 5), 1.7))[..., 0], 255)  # clipped
    np.testing.assert_array_equal(acc.quantize(np.full((1, 4, 5), -0.3))[..., 0], 0)
    for bad in (np.zeros((2, 5, 4), np.uint8), np.zeros((4, 5), np.uint8), np.zeros((2, 4, 5, 3), np.uint8)):
        with pytest.raises(ValueError, match=r"expected \(T, 4, 5, 1\) or \(T, 4, 5\)"):
            acc.quantize(bad)
    with pytest.raises(ValueError, match="channel-first"):
        Accelerator.from_backend(Loopback(_config(c=3)), _config(c=3)).quantize(np.zeros((2, 3, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="outside the input code range"):
        acc.quantize(np.full((1, 4, 5), 300, np.int32))
    with pytest.raises(ValueError, match="NaN"):
        acc.quantize(np.full((1, 4, 5), np.nan))
    with pytest.raises(ValueError, match="one frame at a time"):
        list(acc.stream([np.zeros((2, 4, 5, 1), np.uint8)]))


def test_driver_on_loopback():
    cfg = _config(alarm={"class_index": 2, "threshold": 0.5})
    be = Loopback(cfg)
    acc = Accelerator.from_backend(be, cfg)
    clip = np.ones((2, 4, 5), np.uint8)
    clip[1] *= 2
    r = acc.classify_clip(clip)
    np.testing.assert_array_equal(r.raw, [[-20, 0, 20], [-40, 0, 40]])  # signed lanes decoded
    np.testing.assert_allclose(r.logits, r.raw * 0.5 + [0.0, 1.0, -1.0])
    np.testing.assert_allclose(r.scores, softmax(r.logits.mean(0)))
    assert r.label == 2 and r.class_name == "c2" and r.alarm is True and r.alarm_score == pytest.approx(r.scores[2])
    assert be.writes[-1] == (0x00, 1)  # CLIP_START before the transfer
    res = list(acc.stream(list(clip) * 2, clip_length=2))
    assert [f.clip_start for f in res] == [True, False, True, False]
    assert [(f.clip_index, f.frame_in_clip) for f in res] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    np.testing.assert_allclose(res[1].clip_scores, r.scores)
    acc.reset_clip()
    assert acc.stats()["status"]["clip_start_pending"] is True
    with pytest.raises(RuntimeError, match="different builds"):
        Accelerator.from_backend(Loopback(cfg, info=0x0001_0001), cfg)


# ------------------------------------------------------------------------------------------------
# the simulated twin on a real (small) build
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def twin(tsm_build):
    from tsmfpga.deploy.twin import SimulatedAccelerator

    out, _ = tsm_build
    acc = SimulatedAccelerator(out)
    yield acc
    acc.close()


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, size=(2, TSM_T, TSM_SIZE, TSM_SIZE, 1), dtype=np.uint8)


@pytest.fixture(scope="module")
def golden(tsm_build, clips):
    """Integer HW graph executed in Python (per-clip state) and the host scale / bias."""
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core.graph import hw_core
    from tsmfpga.core.clip import run_clip as run_hw_clip
    from tsmfpga.core.graph import output_affine as _postproc

    out, _ = tsm_build
    model = ModelWrapper(str(out / "model_hw.onnx"))
    meta = json.loads(model.get_metadata_prop("tsmfpga.hw_input"))
    assert json.loads((out / "report.json").read_text())["input"]["layout"] == "NHWC"
    core = hw_core(model)
    expected = np.stack([np.stack([np.asarray(o).reshape(-1) for o in
                                   run_hw_clip(core, [f[None].astype(np.float32) for f in clip])])
                         for clip in clips])
    assert np.all(expected == np.round(expected))
    scale, bias = _postproc(model)
    return expected.astype(np.int64), scale, bias, meta


def test_twin_classify_clip_is_the_hw_graph(twin, clips, golden):
    expected, scale, bias, _ = golden
    twin.clear_stats()
    for c, clip in enumerate(clips):
        r = twin.classify_clip(clip)
        assert r.raw.dtype == np.int64 and r.raw.shape == expected[c].shape
        np.testing.assert_array_equal(r.raw, expected[c])                     # exact integers
        np.testing.assert_allclose(r.logits, expected[c] * scale + bias)
        np.testing.assert_allclose(r.scores, softmax((expected[c] * scale + bias).mean(0)))
        assert r.label == int(np.argmax(r.scores)) and r.class_name == twin.class_names[r.label]
        assert r.alarm is None and r.frames == TSM_T
        assert 0 < r.latency_min_cycles <= r.latency_cycles <= r.latency_max_cycles < 1_000_000
        assert r.interval_cycles > 0
        assert r.latency_us == pytest.approx(r.latency_cycles / twin.clock_mhz)
    # the 3-D (T, H, W) form and floats in [0, 1] give the same codes, hence the same outputs
    r = twin.classify_clip(clips[0][..., 0].astype(np.float64) / 255.0)
    np.testing.assert_array_equal(r.raw, expected[0])
    s = twin.stats()
    assert s["frames_in"] == s["frames_out"] == 3 * TSM_T
    assert s["status"] == {"error": False, "clip_start_pending": False, "busy": False, "raw": 0}
    assert s["info"] == {"in_frame_beats": twin.in_frame_beats, "out_frame_beats": twin.out_frame_beats}
    assert s["cycles"] > 3 * TSM_T * s["interval_cycles"] * 0.5 and s["fps"] > 0


def test_twin_stream_equals_classify(twin, clips, golden):
    expected = golden[0]
    frames = [f for clip in clips for f in clip]
    res = list(twin.stream(frames, clip_length=TSM_T))
    assert [(f.clip_index, f.frame_in_clip) for f in res] == [(c, t) for c in range(2) for t in range(TSM_T)]
    assert [f.clip_start for f in res] == [t == 0 for c in range(2) for t in range(TSM_T)]
    raw = np.stack([f.raw for f in res]).reshape(expected.shape)
    np.testing.assert_array_equal(raw, expected)
    for c in range(2):
        whole = twin.classify_clip(clips[c])
        np.testing.assert_array_equal(np.stack([f.raw for f in res[c * TSM_T:(c + 1) * TSM_T]]), whole.raw)
        np.testing.assert_allclose(res[(c + 1) * TSM_T - 1].clip_scores, whole.scores)
        np.testing.assert_allclose(np.stack([f.logits for f in res[c * TSM_T:(c + 1) * TSM_T]]), whole.logits)
    # latency: from the simulation's stamps, > 0, one value once the pipeline is in its steady state
    # (each simulation starts from reset: a clip's first frame sees the post-reset pipeline)
    lat = [f.latency_cycles for f in res]
    assert all(0 < x < 1_000_000 for x in lat), lat
    steady = [x for f, x in zip(res, lat) if f.frame_in_clip > 0]
    assert len(set(steady)) == 1, lat
    # without clip_length: one clip from the first frame (same as classify_clip of that clip)
    res1 = list(twin.stream(iter(clips[1])))
    np.testing.assert_array_equal(np.stack([f.raw for f in res1]), expected[1])
    assert [f.clip_start for f in res1] == [True] + [False] * (TSM_T - 1)


def test_twin_clip_start_and_state(twin, clips, golden):
    """Temporal state carries over between frames until CLIP_START (the twin replays it)."""
    expected = golden[0]
    twin.reset_clip()
    assert twin.stats()["status"]["clip_start_pending"] is True
    a = twin.infer_raw(twin.quantize(clips[0][:2]), clip_start=False)   # clip start still pending
    assert twin.stats()["status"]["clip_start_pending"] is False
    b = twin.infer_raw(twin.quantize(clips[0][2:]), clip_start=False)   # continues the same clip
    np.testing.assert_array_equal(np.concatenate([a, b]), expected[0])
    # a frame without a clip start differs from the same frame starting a clip (state is used)
    mid = twin.infer_raw(twin.quantize(clips[1][:1]), clip_start=False)
    fresh = twin.infer_raw(twin.quantize(clips[1][:1]), clip_start=True)
    np.testing.assert_array_equal(fresh[0], expected[1][0])
    assert not np.array_equal(mid[0], fresh[0])


# ------------------------------------------------------------------------------------------------
# many cameras: a design compiled with --streams 4, the driver's submit(camera, frame) on the twin
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cams(tsm_streams_build):
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core.clip import run_clip as run_hw_clip
    from tsmfpga.core.graph import hw_core
    from tsmfpga.deploy.twin import SimulatedAccelerator

    out, _ = tsm_streams_build
    rng = np.random.default_rng(11)
    clips = rng.integers(0, 256, size=(3, TSM_T, TSM_SIZE, TSM_SIZE, 1), dtype=np.uint8)
    core = hw_core(ModelWrapper(str(out / "model_hw.onnx")))
    expected = np.stack([np.stack([np.asarray(o).reshape(-1) for o in
                                   run_hw_clip(core, [f[None].astype(np.float32) for f in clip])])
                         for clip in clips]).astype(np.int64)
    acc = SimulatedAccelerator(out, alarm_class=0, alarm_threshold=0.3)
    yield acc, clips, expected
    acc.close()


def test_twin_cameras_never_mix_state(cams):
    """Three cameras' clips interleaved frame by frame: every frame equals its camera's own clip run
    alone (independent golden), results carry camera, index, clip scores and alarm per camera."""
    acc, clips, expected = cams
    assert acc.streams == 4
    order = [0, 1, 0, 2, 2, 1, 0, 1, 2, 0, 2, 1]      # each camera TSM_T = 4 frames, interleaved
    assert sorted(order) == sorted(list(range(3)) * TSM_T)
    seen = {c: 0 for c in range(3)}
    running = {c: [] for c in range(3)}
    for cam in order:
        k = seen[cam]
        r = acc.submit(cam, clips[cam][k])
        assert (r.camera, r.index, r.clip_index, r.frame_in_clip, r.clip_start) == (cam, k, 0, k, k == 0)
        np.testing.assert_array_equal(r.raw, expected[cam][k])
        running[cam].append(r.logits)
        np.testing.assert_allclose(r.clip_scores, softmax(np.mean(running[cam], axis=0)))
        assert r.alarm == (r.clip_scores[0] >= 0.3) and r.alarm_score == pytest.approx(r.clip_scores[0])
        assert 0 < r.latency_cycles < 1_000_000
        seen[cam] += 1
    assert acc.read("OUT_STREAM") == order[-1]
    # a camera that restarts its clip starts from zeros; the others keep theirs
    acc.start_clip(1)
    r = acc.submit(1, clips[1][0])
    assert r.clip_start and r.clip_index == 1 and r.frame_in_clip == 0
    np.testing.assert_array_equal(r.raw, expected[1][0])
    # camera 3 (never used) and a camera out of range
    with pytest.raises(ValueError, match="camera 4"):
        acc.submit(4, clips[0][0])


def test_twin_camera_state_is_really_used(cams):
    """Without its clip start, a camera's frame depends on that camera's previous frame (state is
    kept per camera, not per accelerator): the same frame differs from a fresh clip's."""
    acc, clips, expected = cams
    acc.start_clip(3)
    acc.submit(3, clips[2][0])
    acc.submit(0, clips[0][0], clip_start=True)   # another camera in between
    cont = acc.submit(3, clips[2][1])            # camera 3 continues from clips[2][0]
    np.testing.assert_array_equal(cont.raw, expected[2][1])
    fresh = acc.submit(3, clips[2][1], clip_start=True)
    assert not np.array_equal(cont.raw, fresh.raw)
