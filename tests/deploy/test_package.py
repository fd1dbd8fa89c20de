"""`write_deploy`: accel.json has what the driver needs (matching the build), driver.py is
standalone, the folder is deterministic and atomic, a missing bitstream is noted, alarm rules."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import sys

import numpy as np
import pytest
from model_zoo import TSM_SIZE, TSM_T

from tsmfpga.deploy.package import _alarm, write_deploy
from tsmfpga.core.errors import UserFacingError

NUM_CLASSES = 6  # tests/conftest.py tsm_step_graph


@pytest.fixture(scope="module")
def deployed(tsm_build, tmp_path_factory):
    out, _ = tsm_build
    d = tmp_path_factory.mktemp("deploy") / "pkg"
    cfg = write_deploy(out, d)
    return out, d, cfg


def test_accel_json_contents(deployed):
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core.graph import output_affine as _postproc

    out, d, cfg = deployed
    assert sorted(p.name for p in d.iterdir()) == ["README.md", "accel.json", "driver.py"]
    acc = json.loads((d / "accel.json").read_text())
    assert acc == cfg
    manifest = json.loads((out / "rtl" / "manifest.json").read_text())
    i, o = acc["input"], acc["output"]
    assert acc["frames_per_clip"] == TSM_T and acc["board"] == "pynq-z2" and acc["clock_mhz"] > 0
    assert i["shape_hwc"] == [TSM_SIZE, TSM_SIZE, 1] and i["layout"] == "NHWC" and i["dtype"] == "UINT8"
    for key in ("lanes", "elem_bits", "width", "frame_beats"):
        assert i[key] == manifest["input"][key] and o[key] == manifest["output"][key], key
    assert i["bytes"] == -(-manifest["input"]["width"] // 8)
    assert o["bytes"] >= -(-manifest["output"]["width"] // 8) and o["bytes"] & (o["bytes"] - 1) == 0
    assert o["bytes"] < 2 * -(-manifest["output"]["width"] // 8)
    assert i["scale"] > 0 and i["zero_point"] == 0 and (i["code_min"], i["code_max"]) == (0, 255)
    assert o["values"] == NUM_CLASSES and o["signed"] is True
    scale, bias = _postproc(ModelWrapper(str(out / "model_hw.onnx")))
    np.testing.assert_allclose(o["scale"], np.broadcast_to(scale, (NUM_CLASSES,)))
    np.testing.assert_allclose(o["bias"], np.broadcast_to(bias, (NUM_CLASSES,)))
    assert acc["class_names"] == [f"class_{k}" for k in range(NUM_CLASSES)]  # no names in this model
    assert acc["alarm"] is None
    assert acc["registers"] == {"CTRL": 0x00, "STATUS": 0x04, "FRAMES_IN": 0x08, "FRAMES_OUT": 0x0C,
                                "LAT_LAST": 0x10, "LAT_MIN": 0x14, "LAT_MAX": 0x18, "II_LAST": 0x1C,
                                "CYCLES": 0x20, "INFO": 0x24, "STREAM": 0x28, "OUT_STREAM": 0x2C}
    b = acc["bitstream"]
    assert b["bitfile"] == "tsmfpga.bit" and b["hwh"] == "tsmfpga.hwh"
    assert b["present"] is False and b["missing"] == ["tsmfpga.bit", "tsmfpga.hwh"] and "not found" in b["note"]
    readme = (d / "README.md").read_text()
    assert "MISSING: tsmfpga.bit, tsmfpga.hwh" in readme and "Accelerator(" in readme


def test_driver_is_standalone(deployed):
    _, d, _ = deployed
    src = (d / "driver.py").read_text()
    from tsmfpga.deploy import driver

    assert src == open(driver.__file__).read()
    mods = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mods.add((node.module or "").split(".")[0])
    assert "tsmfpga" not in mods
    assert mods <= {"__future__", "json", "dataclasses", "pathlib", "numpy", "pynq"}, mods
    assert not any("tsmfpga" in line for line in src.splitlines() if line.lstrip().startswith(("import", "from")))


def test_deployed_driver_drives_the_twin(deployed):
    """The copied driver.py (imported from the deploy folder) + accel.json on the simulated RTL."""
    from tsmfpga.deploy.twin import SimTransport

    out, d, cfg = deployed
    spec = importlib.util.spec_from_file_location("deployed_driver", d / "driver.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # as `import driver` on the board (dataclasses need the module)
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(spec.name, None)
    transport = SimTransport(out, cfg)
    try:
        acc = mod.Accelerator.from_backend(transport, d / "accel.json")
        clip = np.random.default_rng(3).integers(0, 256, size=(TSM_T, TSM_SIZE, TSM_SIZE), dtype=np.uint8)
        r = acc.classify_clip(clip)
        assert r.raw.shape == (TSM_T, NUM_CLASSES) and r.latency_cycles > 0
        assert 0 <= r.label < NUM_CLASSES and r.scores.sum() == pytest.approx(1.0)
    finally:
        transport.close()


def test_deterministic_and_atomic(deployed, tmp_path):
    out, d, _ = deployed
    a, b = tmp_path / "a", tmp_path / "b"
    write_deploy(out, a)
    write_deploy(out, b)
    write_deploy(out, b)  # overwrite in place
    for p in sorted(d.iterdir()):
        assert (a / p.name).read_bytes() == p.read_bytes() == (b / p.name).read_bytes(), p.name
    assert sorted(q.name for q in tmp_path.iterdir()) == ["a", "b"]  # no temporary folders left
    # a folder that is not a deploy folder is never replaced; nor is the build folder
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("x")
    with pytest.raises(UserFacingError, match="not a deploy folder"):
        write_deploy(out, other)
    assert (other / "precious.txt").read_text() == "x"
    with pytest.raises(UserFacingError, match="build folder"):
        write_deploy(out, out)
    with pytest.raises(UserFacingError, match="not found"):
        write_deploy(tmp_path / "nope", tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_bitstream_copied(deployed, tmp_path):
    out, _, _ = deployed
    bits = tmp_path / "bits"
    bits.mkdir()
    (bits / "tsmfpga.bit").write_bytes(b"\x00\x09bitstream")
    (bits / "tsmfpga.hwh").write_text("<hwh/>")
    cfg = write_deploy(out, tmp_path / "d", bitstream_dir=bits)
    assert cfg["bitstream"]["present"] is True and cfg["bitstream"]["missing"] == []
    assert (tmp_path / "d" / "tsmfpga.bit").read_bytes() == b"\x00\x09bitstream"
    assert cfg["bitstream"]["sha256"]["tsmfpga.hwh"] == hashlib.sha256(b"<hwh/>").hexdigest()
    assert "MISSING" not in (tmp_path / "d" / "README.md").read_text()
    (bits / "tsmfpga.hwh").unlink()
    cfg = write_deploy(out, tmp_path / "d", bitstream_dir=bits)
    assert cfg["bitstream"]["present"] is False and cfg["bitstream"]["missing"] == ["tsmfpga.hwh"]


def test_alarm_rules(deployed, tmp_path):
    out, _, _ = deployed
    qat = {"alarm": {"threshold": 0.66, "class_names": ["put_back", "concealed"]},
           "data": {"class_names": [f"m{k}" for k in range(NUM_CLASSES)]}}
    # a 6-class model: the QAT alarm threshold does not apply; the class names do
    cfg = write_deploy(out, tmp_path / "d", qat_report=qat)
    assert cfg["alarm"] is None and cfg["class_names"] == [f"m{k}" for k in range(NUM_CLASSES)]
    cfg = write_deploy(out, tmp_path / "d", alarm_class=2, alarm_threshold=0.4)
    assert cfg["alarm"]["class_index"] == 2 and cfg["alarm"]["threshold"] == 0.4
    assert cfg["alarm"]["source"] == "argument"
    with pytest.raises(UserFacingError, match="alarm_class"):
        write_deploy(out, tmp_path / "d", alarm_threshold=0.4)
    with pytest.raises(UserFacingError, match="out of range"):
        write_deploy(out, tmp_path / "d", alarm_class=9, alarm_threshold=0.4)
    with pytest.raises(UserFacingError, match="without alarm_threshold"):
        write_deploy(out, tmp_path / "d", alarm_class=1)
    # a 2-class alarm model: the threshold comes from the QAT report (else from its metadata)
    names = ["put_back", "concealed"]
    a = _alarm({"tsmfpga.task": "alarm", "tsmfpga.alarm_positive_class": 1}, 2, names, qat, None, None)
    assert a["class_index"] == 1 and a["class_name"] == "concealed" and a["threshold"] == 0.66
    assert a["source"] == "qat_report alarm.threshold"
    a = _alarm({"tsmfpga.task": "alarm", "tsmfpga.alarm_threshold": 0.5}, 2, names, None, None, None)
    assert a["threshold"] == 0.5 and a["source"].startswith("model metadata")
    assert _alarm({"tsmfpga.task": "motion"}, 2, ["a", "b"], qat, None, None) is None
    assert _alarm({"tsmfpga.task": "alarm"}, 2, names, None, None, 0.9)["threshold"] == 0.9
