"""FIFO sizing by simulation refuses to report a depth measured against its own cap."""

import pytest


def test_sizing_run_that_hits_its_cap_fails(tsm_build, tmp_path, monkeypatch):
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core import toolenv
    from tsmfpga.flow import rtlgen

    out, _ = tsm_build
    toolenv.prepare_finn_env(tmp_path)
    model = ModelWrapper(str(out / "model_hw.onnx"))
    # every sizing FIFO 3 beats deep: the shortcut FIFOs of the residual blocks must overflow that
    monkeypatch.setattr(rtlgen, "SIZING_MAX_ADDR_WIDTH", 1)
    with pytest.raises(rtlgen.SizingCapError, match="filled up to their sizing capacity"):
        rtlgen.generate_rtl(model, tmp_path / "rtl", "xc7z020clg400-1", 100.0, log=lambda *a: None)
    assert not (tmp_path / "rtl").exists()
