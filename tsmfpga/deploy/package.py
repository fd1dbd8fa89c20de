"""`tsmfpga deploy`: the folder to copy onto the board.

``write_deploy(DIR, OUT)`` writes ``OUT/accel.json`` (everything the host driver needs: input
quantization and stream format, output format and per-class scale/bias, class names, alarm,
clock, register map, bitstream names), ``OUT/driver.py`` (the standalone driver: numpy + pynq),
``OUT/README.md`` and, when a bitstream folder holds them, ``tsmfpga.bit`` / ``tsmfpga.hwh``.
The folder is written to a temporary sibling and renamed into place (atomic); identical inputs
give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.graph import hw_core, output_affine
from tsmfpga.deploy.driver import REGISTERS
from tsmfpga.hw.boards import get_board

FORMAT = "tsmfpga-accel/1"
BITFILE, HWH = "tsmfpga.bit", "tsmfpga.hwh"
#: block-design instance names the PYNQ driver looks for (it falls back to searching the overlay)
DEFAULT_IP = {"accel": "tsmfpga_accel_0", "dma": "axi_dma_0"}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _metadata(model) -> dict:
    out = {}
    for p in list(model.model.metadata_props) + list(model.graph.metadata_props):
        if p.key.startswith("tsmfpga."):
            try:
                out[p.key] = json.loads(p.value)
            except ValueError:
                out[p.key] = p.value
    return out


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserFacingError(f"{what} {path} not found") from None
    except ValueError as exc:
        raise UserFacingError(f"{what} {path} is not valid JSON ({exc})") from None


def _alarm(meta: dict, k: int, class_names: list[str], qat: dict | None, alarm_class, alarm_threshold):
    """None or {class_index, class_name, threshold, source}."""
    task = meta.get("tsmfpga.task")
    is_alarm_model = k == 2 and (task == "alarm" or "tsmfpga.alarm_threshold" in meta)
    positive = int(meta.get("tsmfpga.alarm_positive_class", 1))
    if alarm_threshold is not None:
        if alarm_class is None:
            if k != 2:
                raise UserFacingError(f"alarm_threshold given for a {k}-class model: also give alarm_class "
                                      f"(0..{k - 1}), the class whose clip score raises the alarm")
            alarm_class = positive if is_alarm_model else 1
        thr, source = float(alarm_threshold), "argument"
    elif alarm_class is not None:
        if not is_alarm_model:
            raise UserFacingError("alarm_class given without alarm_threshold (the compiled model is not a "
                                  "2-class alarm model, so no threshold can come from the QAT report)")
        thr, source = None, None
    elif is_alarm_model:
        alarm_class, thr, source = positive, None, None
    else:
        return None
    if thr is None:  # a 2-class alarm model: its QAT threshold
        q = (qat or {}).get("alarm") or {}
        if q.get("threshold") is not None:
            thr, source = float(q["threshold"]), "qat_report alarm.threshold"
        elif meta.get("tsmfpga.alarm_threshold") is not None:
            thr, source = float(meta["tsmfpga.alarm_threshold"]), "model metadata tsmfpga.alarm_threshold"
        else:
            return None
    alarm_class = int(alarm_class)
    if not 0 <= alarm_class < k:
        raise UserFacingError(f"alarm_class {alarm_class} out of range: the model has {k} classes (0..{k - 1})")
    if not 0.0 <= thr <= 1.0:
        raise UserFacingError(f"alarm threshold {thr} must be a clip score (softmax) in 0..1")
    return {"class_index": alarm_class, "class_name": class_names[alarm_class], "threshold": thr,
            "rule": "alarm when the clip score (softmax of the mean logits) of class_index >= threshold",
            "source": source}


def build_config(build_dir, qat_report=None, board: str = "pynq-z2", alarm_class: int | None = None,
                 alarm_threshold: float | None = None, ip: dict | None = None) -> dict:
    """The accel.json content for the build in ``build_dir`` (no bitstream section)."""
    d = Path(build_dir)
    for rel, what in {"model_hw.onnx": "tsmfpga compile", "report.json": "tsmfpga compile",
                      "rtl/manifest.json": "tsmfpga compile (with the rtl step)",
                      "rtl/tsmfpga_top.sv": "tsmfpga compile (with the rtl step)"}.items():
        if not (d / rel).is_file():
            raise UserFacingError(f"{d / rel} not found: run `{what}` into {d} first")
    brd = get_board(board)
    report = _read_json(d / "report.json", "compile report")
    manifest = _read_json(d / "rtl" / "manifest.json", "RTL manifest")
    qat = qat_report if isinstance(qat_report, dict) or qat_report is None else _read_json(Path(qat_report), "QAT report")
    model = ModelWrapper(str(d / "model_hw.onnx"))
    meta = _metadata(model)
    core = hw_core(model)
    out_name = core.graph.output[0].name
    out_dt = core.get_tensor_datatype(out_name)
    k = int(math.prod(core.get_tensor_shape(out_name)))
    i_m, o_m = manifest["input"], manifest["output"]
    if int(o_m["frame_beats"]) * int(o_m["lanes"]) != k:
        raise UserFacingError(f"{d}: output of {k} values but the RTL output frame is "
                              f"{o_m['frame_beats']} beats x {o_m['lanes']} lanes; recompile")

    # input: quantization + layout
    hw_in = meta.get("tsmfpga.hw_input") or {}
    rin = report.get("input") or {}
    shape = [int(x) for x in (rin.get("shape") or core.get_tensor_shape(core.graph.input[0].name))]
    layout = rin.get("layout") or "NCHW"
    if len(shape) != 4 or shape[0] != 1:
        raise UserFacingError(f"{d}: input shape {shape}: the driver handles image frames (1, H, W, C)")
    hwc = shape[1:] if layout == "NHWC" else [shape[2], shape[3], shape[1]]
    if math.prod(hwc) != int(i_m["frame_beats"]) * int(i_m["lanes"]):
        raise UserFacingError(f"{d}: input frame {hwc} does not match the RTL input "
                              f"({i_m['frame_beats']} beats x {i_m['lanes']} lanes); recompile")
    in_bits = int(i_m["elem_bits"])
    scale = float(rin.get("scale", hw_in.get("scale", 1.0)))
    zp = int(round(float(rin.get("zero_point", hw_in.get("zero_point", 0)))))
    code_min = int(hw_in.get("code_min", 0))
    code_max = int(hw_in.get("code_max", (1 << in_bits) - 1))

    # output: host post-processing (per-class scale / bias)
    pp = output_affine(model)
    sc = np.broadcast_to(np.asarray(pp[0] if pp else [1.0], np.float64), (k,))
    bi = np.broadcast_to(np.asarray(pp[1] if pp else [0.0], np.float64), (k,))
    out_bytes_min = -(-int(o_m["width"]) // 8)
    out_bytes = 1 << max(0, (out_bytes_min - 1).bit_length())

    # classes + alarm
    names = meta.get("tsmfpga.class_names")
    cands = [names, ((qat or {}).get("data") or {}).get("class_names"), ((qat or {}).get("alarm") or {}).get("class_names")]
    class_names = next((list(map(str, c)) for c in cands if isinstance(c, list) and len(c) == k),
                       [f"class_{j}" for j in range(k)])
    alarm = _alarm(meta, k, class_names, qat, alarm_class, alarm_threshold)
    frames = meta.get("tsmfpga.frames") or (8 if report.get("temporal_shift") else 1)

    return {
        "format": FORMAT,
        "board": brd.name,
        "clock_mhz": float(report.get("clock_mhz") or brd.clock_mhz),
        "frames_per_clip": int(frames),
        "streams": int((manifest.get("streams") or {}).get("streams", 1)),
        "task": meta.get("tsmfpga.task"),
        "input": {
            "shape_hwc": [int(x) for x in hwc],
            "layout": layout,
            "dtype": str(i_m.get("dtype") or hw_in.get("dtype")),
            "scale": scale,
            "zero_point": zp,
            "code_min": code_min,
            "code_max": code_max,
            "quantization": "code = clip(round(x / scale) + zero_point, code_min, code_max); "
                            "x = pixel / 255 for 8-bit pixels (code = pixel)",
            "lanes": int(i_m["lanes"]),
            "elem_bits": in_bits,
            "width": int(i_m["width"]),
            "frame_beats": int(i_m["frame_beats"]),
            "bytes": -(-int(i_m["width"]) // 8),
        },
        "output": {
            "values": k,
            "dtype": str(o_m.get("dtype") or out_dt.name),
            "lanes": int(o_m["lanes"]),
            "elem_bits": int(o_m["elem_bits"]),
            "width": int(o_m["width"]),
            "signed": bool(out_dt.signed()),
            "frame_beats": int(o_m["frame_beats"]),
            "bytes": out_bytes,
            "scale": [float(x) for x in sc],
            "bias": [float(x) for x in bi],
            "logits": "raw * scale + bias per class; clip score = softmax(mean over frames of the logits)",
        },
        "class_names": class_names,
        "alarm": alarm,
        "registers": dict(REGISTERS),
        "register_bits": {"CTRL": {"CLIP_START": 0, "CLEAR_STATS": 1},
                          "STATUS": {"ERROR": 0, "CLIP_START_PENDING": 1, "BUSY": 2},
                          "INFO": {"IN_FRAME_BEATS": [0, 15], "OUT_FRAME_BEATS": [16, 31]}},
        "ip": {**DEFAULT_IP, **(ip or {})},
        "bitstream": {"bitfile": BITFILE, "hwh": HWH},
        "source": {
            "model_hw_sha256": _sha256(d / "model_hw.onnx"),
            "rtl_top_sha256": _sha256(d / "rtl" / "tsmfpga_top.sv"),
            "rtl_manifest_sha256": _sha256(d / "rtl" / "manifest.json"),
            "top": manifest.get("top", "tsmfpga_top"),
        },
    }


_README = """# tsmfpga accelerator: board package

Files: `accel.json` (stream format, quantization, classes, alarm, register map), `driver.py`
(host driver: numpy + pynq only), {bitnote}.

## On the board (PYNQ image, e.g. {board})

Copy this folder to the board (`scp -r` to `/home/xilinx/`), then in Python / Jupyter:

```python
import numpy as np
from driver import Accelerator

acc = Accelerator("tsmfpga.bit", "accel.json")   # loads the overlay, checks the INFO register
clip = np.zeros(({frames}, {h}, {w}, {c}), np.uint8)         # (T, H, W[, C]) uint8 pixels or floats in [0, 1]
r = acc.classify_clip(clip)
print(r.class_name, r.scores.max(), r.alarm, r.latency_cycles, "cycles")

for f in acc.stream(frames, clip_length={frames}):  # one frame at a time, running clip score
    print(f.index, f.class_name, f.clip_scores.max(), f.alarm)

print(acc.stats())                                  # registers decoded (frames, latency, interval)
```

Model: {k} classes ({classes}); {frames} frames per clip; input {h}x{w}x{c} {dtype}
(scale {scale:.6g}, zero point {zp}); clock {clock:g} MHz. Alarm: {alarm}.

The same API runs without a board on the RTL simulation of the build:
`tsmfpga.deploy.twin.SimulatedAccelerator(BUILD_DIR)` on the development machine.
"""


def _readme(cfg: dict, missing: list[str]) -> str:
    i, o = cfg["input"], cfg["output"]
    h, w, c = i["shape_hwc"]
    names = ", ".join(cfg["class_names"][:12]) + (", ..." if len(cfg["class_names"]) > 12 else "")
    a = cfg["alarm"]
    alarm = (f"class {a['class_index']} ({a['class_name']}) when its clip score >= {a['threshold']:.4f}"
             if a else "none")
    bitnote = ("`tsmfpga.bit` / `tsmfpga.hwh` (the bitstream and its hardware handoff)" if not missing else
               f"MISSING: {', '.join(missing)} -- generate the bitstream and put `tsmfpga.bit` + "
               "`tsmfpga.hwh` next to these files (PYNQ needs both)")
    return _README.format(bitnote=bitnote, board=cfg["board"], frames=cfg["frames_per_clip"], h=h, w=w, c=c,
                          k=o["values"], classes=names, dtype=i["dtype"], scale=i["scale"], zp=i["zero_point"],
                          clock=cfg["clock_mhz"], alarm=alarm)


def write_deploy(build_dir, out_dir, qat_report=None, board: str = "pynq-z2", bitstream_dir=None,
                 alarm_class: int | None = None, alarm_threshold: float | None = None,
                 ip: dict | None = None) -> dict:
    """Write the deploy folder ``out_dir`` for the build ``build_dir``; returns the accel.json dict.

    ``qat_report``: the QAT report (path or dict): class names, and the alarm threshold when the
    compiled model is a 2-class alarm model. ``bitstream_dir``: folder holding ``tsmfpga.bit`` /
    ``tsmfpga.hwh`` (copied when present; their absence is recorded in accel.json and README.md).
    ``alarm_class`` / ``alarm_threshold``: an explicit alarm rule (any model).
    """
    build_dir, out_dir = Path(build_dir), Path(out_dir)
    cfg = build_config(build_dir, qat_report=qat_report, board=board, alarm_class=alarm_class,
                       alarm_threshold=alarm_threshold, ip=ip)
    out_abs, build_abs = out_dir.resolve(), build_dir.resolve()
    if out_abs == build_abs or out_abs in build_abs.parents:
        raise UserFacingError(f"deploy folder {out_dir} would replace the build folder {build_dir}: pick another")
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / "accel.json").is_file())):
        raise UserFacingError(f"{out_dir} exists and is not a deploy folder (no accel.json): pick a new folder")

    bits = {}
    src = Path(bitstream_dir) if bitstream_dir is not None else None
    for name in (BITFILE, HWH):
        if src is not None and (src / name).is_file():
            bits[name] = src / name
    missing = [n for n in (BITFILE, HWH) if n not in bits]
    cfg["bitstream"] = {"bitfile": BITFILE, "hwh": HWH, "present": not missing, "missing": missing,
                        "sha256": {n: _sha256(p) for n, p in sorted(bits.items())}}
    if missing:
        cfg["bitstream"]["note"] = (f"{', '.join(missing)} not found" +
                                    (f" in {src}" if src is not None else " (no bitstream folder given)") +
                                    ": add them next to accel.json before using the board")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        (tmp / "accel.json").write_text(json.dumps(cfg, indent=2, sort_keys=False) + "\n")
        shutil.copyfile(Path(__file__).with_name("driver.py"), tmp / "driver.py")
        (tmp / "README.md").write_text(_readme(cfg, missing))
        for name, p in sorted(bits.items()):
            shutil.copyfile(p, tmp / name)
        os.chmod(tmp, 0o755)
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.rmdir(old)
            os.rename(out_dir, old)
        os.rename(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return cfg
