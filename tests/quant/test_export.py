"""The QONNX step graph, run frame by frame with qonnx, reproduces the quantized torch model."""

import numpy as np
import torch

from tsmfpga.quant import export as qexport
from tsmfpga.quant.models import ModelConfig, VideoNet


def test_step_graph_matches_torch_on_clips(tmp_path):
    torch.manual_seed(0)
    net = VideoNet(ModelConfig(in_channels=1, input_size=16, widths=(8, 16), blocks=(1, 1),
                               num_classes=4), "tsm", quantized=True)
    # non-trivial activation scales and BN statistics
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, 4, 1, 16, 16))
    net.eval()
    meta = {"tsmfpga.frames": 4, "tsmfpga.class_names": ["a", "b", "c", "d"]}
    path = qexport.export_step_graph(net, tmp_path / "m.onnx", meta)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no side files left
    assert qexport.read_metadata(path) == meta
    clips = np.random.default_rng(0).integers(0, 256, (3, 4, 1, 16, 16), dtype=np.uint8)
    check = qexport.check_step_graph(path, net, clips)
    print(check)
    assert check["max_abs_diff"] < 1e-4 and check["argmax_equal"] and check["frames"] == 12

    import onnx
    g = onnx.load(str(path)).graph
    assert [i.name for i in g.input] == ["frame", "state_in_0", "state_in_1"]
    assert [o.name for o in g.output] == ["logits", "state_out_0", "state_out_1"]
    ops = {n.op_type for n in g.node}
    assert "ReduceMean" not in ops and "Trunc" in ops and "Quant" in ops
    scale, zp = qexport.input_quant_params(net)
    assert abs(scale - 1 / 255) < 1e-9 and zp == 0
