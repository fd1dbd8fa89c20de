"""The MobileNetV2-style TSM family (model.family: mobilenetv2): shapes, shift, step mode,
float -> quant loading, hardware quantizer rules, export check and config validation."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn as nn

from tsmfpga.quant import export as qexport
from tsmfpga.quant import mobilenet_layout
from tsmfpga.quant.config import ConfigError, load_config
from tsmfpga.quant.mobilenet import MobileNetTSM
from tsmfpga.quant.models import ModelConfig, VideoNet, copy_matching, count_macs, load_float_into_quant
from tsmfpga.quant.nets import make_net

#: 16x16 RGB -> stem 8 (8x8) -> [1,8,1,1] -> [2,16,2,2] (4x4) -> [2,16,1,1] -> head 1x1 -> 4x4 pool
SMALL = dict(family="mobilenetv2", in_channels=3, input_size=16, num_classes=5, stem_width=8,
             stages=((1, 8, 1, 1), (2, 16, 2, 2), (2, 16, 1, 1)), head_width=16, head_kernel=1)


def small(**kw) -> ModelConfig:
    return ModelConfig(**{**SMALL, **kw})


def stats(net, frames=4, size=16, channels=3):
    """Train-mode forwards on random clips: non-trivial BN statistics (plain averages, not the
    few-step exponential ones, which leave the activations of a deep random net at zero) and
    activation scales."""
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = None
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, frames, channels, size, size))
    for bn in bns:
        bn.momentum = 0.1
    return net.eval()


def test_factory_picks_the_family():
    assert isinstance(make_net(small()), MobileNetTSM)
    assert isinstance(make_net(ModelConfig(in_channels=1, input_size=16, widths=(8,), blocks=(1,))), VideoNet)
    with pytest.raises(ValueError, match="make_net"):
        VideoNet(small())


@pytest.mark.parametrize("quantized", [False, True])
def test_shapes_states_and_macs(quantized):
    torch.manual_seed(0)
    net = make_net(small(), "tsm", quantized).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 3, 16, 16))
    assert out.shape == (2, 3, 5)
    lay = mobilenet_layout.layout(net.cfg)
    residual = [b for b in lay.blocks if b.residual]
    assert len(residual) == 2 and not lay.blocks[0].residual  # the stem ends in a ReLU: no skip
    assert net.state_shapes() == [(1, b.cin // 8, b.size_in, b.size_in) for b in residual]
    # the analytical MAC count equals one counted from the layers a frame runs through
    macs = []

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            macs.append(out[0].numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1])
        elif isinstance(mod, nn.Linear):
            macs.append(mod.in_features * mod.out_features)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        net(torch.rand(1, 1, 3, 16, 16))
    for h in handles:
        h.remove()
    assert sum(macs) == count_macs(net.cfg)


@pytest.mark.parametrize("quantized", [False, True])
def test_tsn_and_tsm_differ_only_by_the_shift(quantized):
    torch.manual_seed(0)
    tsm = stats(make_net(small(), "tsm", quantized))
    tsn = stats(make_net(small(), "tsn", quantized))  # Brevitas creates the scale parameters lazily
    assert {k: v.shape for k, v in tsm.state_dict().items()} == {k: v.shape for k, v in tsn.state_dict().items()}
    tsn.load_state_dict(tsm.state_dict())
    tsn.eval()
    clip = torch.rand(2, 4, 3, 16, 16)
    with torch.no_grad():
        a, b = tsm(clip), tsn(clip)
        assert not torch.allclose(a, b)  # the shift matters
        for blk in tsm.shift_points:
            blk.shift.enabled = False
        torch.testing.assert_close(tsm(clip), b, atol=0, rtol=0)  # ... and is the only difference
    assert tsn.state_shapes() == []


@pytest.mark.parametrize("quantized", [False, True])
def test_step_mode_equals_clip_mode(quantized):
    torch.manual_seed(0)
    net = stats(make_net(small(), "tsm", quantized))
    clip = torch.randint(0, 256, (1, 6, 3, 16, 16)).float() / 255
    with torch.no_grad():
        ref = net(clip)[0]
        states = [torch.zeros(s) for s in net.state_shapes()]
        steps = []
        for t in range(6):
            logits, *states = net.forward_step(clip[:, t], *states)
            steps.append(logits[0])
    torch.testing.assert_close(torch.stack(steps), ref, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="states"):
        net.forward_step(clip[:, 0])


def test_float_weights_load_into_quant_by_name():
    torch.manual_seed(0)
    f = make_net(small(), "tsm", quantized=False)
    q = make_net(small(), "tsm", quantized=True)
    extra = load_float_into_quant(q, f.state_dict())
    assert extra and all("quant" in k for k in extra)
    torch.testing.assert_close(q.blocks[1].dw.weight, f.blocks[1].dw.weight)
    torch.testing.assert_close(q.fc.weight, f.fc.weight)


def test_warm_start_copies_the_backbone_not_the_classifier():
    """The alarm's warm start: a 5-class TSM's backbone into a 2-class TSM; the classifier of the
    other class count stays as built; a state of another width is refused."""
    torch.manual_seed(0)
    main = make_net(small(), "tsm", quantized=False)
    torch.manual_seed(1)
    alarm = make_net(small(num_classes=2), "tsm", quantized=False)
    fc_before = alarm.fc.weight.detach().clone()
    copied = copy_matching(alarm, main.state_dict())
    assert "fc.weight" not in copied and any(k.startswith("blocks.1.dw") for k in copied)
    torch.testing.assert_close(alarm.blocks[1].dw.weight, main.blocks[1].dw.weight)
    torch.testing.assert_close(alarm.fc.weight, fc_before)
    assert not torch.equal(alarm.fc.weight, main.fc.weight[:2])
    other = make_net(small(stem_width=4, stages=((1, 4, 1, 1),), head_width=4), "tsm", quantized=False)
    with pytest.raises(ValueError, match="no tensor"):
        copy_matching(other, {k: torch.zeros(99) for k in main.state_dict()})


def test_hardware_quantizer_rules():
    """Shifted block inputs come from a zero-point-0 quantizer; both add inputs share one scale;
    depthwise weights have per-channel scales (per_channel: depthwise) or one (none)."""
    torch.manual_seed(0)
    net = stats(make_net(small(), "tsm", quantized=True))
    seen = []
    for blk in net.shift_points:
        blk.register_forward_pre_hook(lambda m, args: seen.append((m, args[0])))
    with torch.no_grad():
        net(torch.rand(1, 4, 3, 16, 16))
    assert len(seen) == len(net.shift_points) == 2
    for blk, x in seen:
        assert float(x.zero_point.abs().max()) == 0 and x.signed
        y = blk.branch(x)  # the branch output (add input) and the identity: one quantizer, one scale
        assert torch.equal(y.scale, x.scale) and y.bit_width == x.bit_width == net.cfg.act_bits
    dw_scale = net.blocks[1].dw.quant_weight().scale
    assert dw_scale.numel() == net.blocks[1].dw.out_channels
    flat = make_net(small(per_channel="none"), "tsm", quantized=True)
    assert flat.blocks[1].dw.quant_weight().scale.numel() == 1


def test_export_step_graph_passes_check(tmp_path):
    torch.manual_seed(0)
    cfg = small(input_size=32, stages=((1, 8, 1, 1), (2, 16, 3, 2), (2, 24, 2, 2)))
    net = stats(make_net(cfg, "tsm", quantized=True), size=32)
    path = qexport.export_step_graph(net, tmp_path / "m.onnx", {"tsmfpga.frames": 4})
    clips = np.random.default_rng(0).integers(0, 256, (2, 4, 3, 32, 32), dtype=np.uint8)
    check = qexport.check_step_graph(path, net, clips)
    with torch.no_grad():
        assert float(net(torch.from_numpy(clips / 255).float()).std(1).max()) > 0  # not a dead network
    assert check["frames"] == 8 and check["argmax_equal"] and check["max_abs_diff"] < 1e-4, check

    import onnx

    g = onnx.load(str(path)).graph
    n = len(net.state_shapes())
    assert n == 3
    assert [i.name for i in g.input] == ["frame", *(f"state_in_{i}" for i in range(n))]
    assert [o.name for o in g.output] == ["logits", *(f"state_out_{i}" for i in range(n))]
    ops = {node.op_type for node in g.node}
    assert "ReduceMean" not in ops and "Trunc" in ops
    groups = [a.i for node in g.node if node.op_type == "Conv" for a in node.attribute if a.name == "group"]
    assert sum(gr > 1 for gr in groups) == len(net.blocks)  # every block has its depthwise conv


@pytest.mark.parametrize("field,value,match", [
    ("family", "vgg", "model.family"),
    ("head_kernel", 2, "model.head_kernel"),
    ("head_kernel", 5, "larger than the 4x4 map"),
    ("stages", ((4, 16, 1),), r"model.stages\[0\]"),
    ("stages", ((4, 16, 1, 3),), r"model.stages\[0\]"),
    ("stages", (), "model.stages"),
    ("width_mult", 0.0, "model.width_mult"),
    ("per_channel", "some", "model.per_channel"),
    ("stem_width", 0, "model.stem_width"),
    ("input_size", 18, "model.input_size"),
])
def test_validation_names_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        small(**{field: value}).validate()


def test_non_power_of_two_final_map_says_how(tmp_path):
    with pytest.raises(ValueError, match="use model.head_kernel 3"):
        small(input_size=96, stages=((1, 8, 1, 1), (2, 16, 1, 2), (2, 16, 1, 2), (2, 16, 1, 2))).validate()
    p = tmp_path / "bad.yaml"
    p.write_text("data:\n  size: 48\nmodel:\n  family: mobilenetv2\n  input_size: 48\n  head_kernel: 1\n")
    with pytest.raises(ConfigError, match="model.head_kernel"):
        load_config(str(p))


def test_width_mult_rounds_to_shift_div():
    lay = mobilenet_layout.layout(small(width_mult=0.75))
    assert all(b.cout % 8 == 0 and b.cin % 8 == 0 for b in lay.blocks)
    assert lay.stem_width == 8 and lay.groups == (8, 16)  # 6 -> 8, 12 -> 16
    assert mobilenet_layout.layout(small(width_mult=1.5)).groups == (16, 24)


def test_camera_config():
    cfg = load_config("camera")
    m = cfg.model
    assert (m.family, m.in_channels, cfg.data.size, cfg.data.frames, cfg.data.task) == (
        "mobilenetv2", 3, 96, 8, "camera")
    assert (m.weight_bits, m.act_bits, m.first_weight_bits, m.last_weight_bits) == (4, 4, 8, 8)
    macs = count_macs(dataclasses.replace(m, num_classes=10))
    assert 5e6 <= macs <= 10e6, macs
    assert len(make_net(m).shift_points) >= 3


@pytest.mark.slow
def test_stage_runs_the_mobilenet_family(tmp_path):
    """`tsmfpga qat` end to end with model.family mobilenetv2 (tiny config sizes): both step graphs
    are exported and agree with torch; the report counts the family's MACs."""
    import json
    import subprocess
    import sys

    cfg = tmp_path / "mb.yaml"
    cfg.write_text("""seed: 0
data: {task: motion, train_clips: 64, val_clips: 32, test_clips: 32, frames: 6, size: 32}
model: {family: mobilenetv2, in_channels: 1, input_size: 32, stem_width: 8, head_width: 16,
        stages: [[1, 8, 1, 1], [2, 16, 2, 2], [2, 16, 1, 2]]}
train: {batch_size: 16, float_epochs: 1, tsn_epochs: 1, qat_epochs: 1, calib_batches: 2, bn_recal_batches: 2}
alarm: {enabled: true, train_clips: 32, val_clips: 32, test_clips: 32, float_epochs: 1, qat_epochs: 1}
export: {check_clips: 2}
""")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "tsmfpga", "qat", "--config", str(cfg), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["export"]["argmax_equal"] and report["export"]["max_abs_diff"] < 1e-4
    mcfg = ModelConfig(**{**report["config"]["model"], "stages": tuple(map(tuple, report["config"]["model"]["stages"])),
                          "widths": tuple(report["config"]["model"]["widths"]),
                          "blocks": tuple(report["config"]["model"]["blocks"]), "num_classes": 10})
    assert report["model"]["macs_per_frame"] == count_macs(mcfg)
    meta = qexport.read_metadata(out / "model.onnx")
    assert meta["tsmfpga.model_config"]["family"] == "mobilenetv2"
    assert len(meta["tsmfpga.states"]) == 1 and (out / "alarm.onnx").is_file()
