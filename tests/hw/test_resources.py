"""yosys estimate of a compiled build: per-instance figures that add up to the design total,
MVAU logic with its weight ROM really loaded, capacity and utilization of the board."""

import json
import time

import pytest

from tsmfpga.hw.boards import get_board
from tsmfpga.hw.ops.mvau import MVAU_SOURCES
from tsmfpga.hw.resources import KEYS, YOSYS_DEFINES, estimate_build
from tsmfpga.hw.synth import ESTIMATE_PATCHES, hierarchy_totals, summarize_cells


def test_hierarchy_totals_multiply_instance_counts():
    stat = {"modules": {
        "\\top": {"num_cells_by_type": {"LUT2": 1, "a": 2, "b": 1}},
        "\\a": {"num_cells_by_type": {"LUT6": 3, "FDRE": 1, "c": 2}},
        "\\b": {"num_cells_by_type": {"DSP48E1": 1}},
        "\\c": {"num_cells_by_type": {"FDRE": 5}},
    }}
    t = hierarchy_totals(stat)
    assert t["c"] == {"FDRE": 5}
    assert t["a"] == {"LUT6": 3, "FDRE": 11}
    assert t["top"] == {"LUT2": 1, "LUT6": 6, "FDRE": 22, "DSP48E1": 1}
    s = summarize_cells({"INV": 2, "LUT3": 1, "MUXF7": 4, "LDCE": 1})
    assert s["LUT"] == 3 and s["INV"] == 2 and s["MUXF"] == 4 and s["LATCH"] == 1


def test_thresholding_patch_matches_finn_rtllib():
    """The estimate-only rewrite must still find its text in the finn-rtllib copy we use."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("finn")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("finn-plus not installed")
    src = Path(list(spec.submodule_search_locations)[0]) / "finn-rtllib/thresholding/hdl/thresholding.sv"
    if not src.is_file():
        pytest.skip(f"{src} not found")
    text = src.read_text()
    for fname, old, _new, _why in ESTIMATE_PATCHES:
        if fname == "thresholding.sv":
            assert text.count(old) >= 1, old   # the rewrite still applies to this finn-plus


@pytest.fixture(scope="module")
def estimate(tsm_build, tmp_path_factory):
    build, _ = tsm_build
    t0 = time.time()
    est = estimate_build(build, tmp_path_factory.mktemp("yosys"), get_board("pynq-z2"))
    print(f"estimate_build: {time.time() - t0:.0f} s, total {est['total']}")
    return build, est


@pytest.mark.slow
def test_estimate_build_small_tsm(estimate):
    build, est = estimate
    json.dumps(est)   # the report stores it as JSON
    total = est["total"]
    assert est["source"] == "yosys"
    assert total["LUT"] > 0 and total["FF"] > 0
    manifest = json.loads((build / "rtl" / "manifest.json").read_text())
    names = {i["name"] for i in manifest["instances"]}
    assert names <= set(est["modules"])
    mvaus = [m for m in est["modules"].values() if m["kind"] == "MVAU"]
    assert mvaus and all(m["LUT"] > 0 for m in mvaus)
    assert est["by_kind"]["MVAU"]["LUT"] > 0 and est["by_kind"]["MVAU"]["instances"] == len(mvaus)
    assert est["by_kind"]["FIFO"]["instances"] >= 1
    # hierarchical totals: top-level glue + every instance = the design total
    for k in KEYS:
        summed = est["glue"][k] + sum(m[k] for m in est["modules"].values())
        assert summed == pytest.approx(total[k]), k
        assert sum(v[k] for v in est["by_kind"].values()) == pytest.approx(total[k]), k
    cap = est["capacity"]
    assert cap["LUT"] == 53200 and cap["DSP"] == 220
    for k, c in cap.items():
        assert est["utilization"][k] == pytest.approx(total[k] / c)
    assert est["over_capacity"] == sorted(k for k in cap if total[k] > cap[k])
    lut = [v["LUT"] for _, v in est["largest"]]
    assert len(lut) == min(5, len(est["modules"])) and lut == sorted(lut, reverse=True)
    assert lut[0] == max(m["LUT"] for m in est["modules"].values())
    assert any(s["file"] == "thresholding.sv" for s in est["substitutions"]) or not any(
        f.startswith("thresholding") for f in manifest["files"])
    assert est["seconds"] > 0


@pytest.mark.slow
def test_mvau_weights_are_loaded(estimate, tmp_path):
    """One MVAU of the build alone: all-zero weights must cost far less logic than the real ones
    (the ROM is loaded and drives the logic; with zeros the products fold to constants)."""
    from tsmfpga.hw.synth import yosys_estimate

    build, est = estimate
    rtl = build / "rtl"
    manifest = json.loads((rtl / "manifest.json").read_text())
    inst = max((i for i in manifest["instances"] if i["module"] == "mvau"),
               key=lambda i: est["modules"][i["name"]]["LUT"])
    p = dict(inst["params"], MAC_IMPL="lut")   # LUT MAC: products are logic fed by the ROM
    words = (rtl / p["WEIGHT_FILE"]).read_text().split()
    (tmp_path / "zero_weights.hex").write_text("\n".join("0" * len(w) for w in words) + "\n")
    in_w, out_w = p["SIMD"] * p["IN_BITS"], p["PE"] * p["OUT_BITS"]
    fixed = ", ".join(f".{k}({v if not isinstance(v, str) else chr(34) + v + chr(34)})"
                      for k, v in p.items() if k != "WEIGHT_FILE")
    (tmp_path / "wrap.sv").write_text(f"""
module wrap #(parameter WF = "x") (input wire clk, rst, input wire [{in_w - 1}:0] d, input wire v,
    output wire r, output wire [{out_w - 1}:0] q, output wire qv, input wire qr);
  mvau #({fixed}, .WEIGHT_FILE(WF)) u (.clk(clk), .rst(rst), .s_axis_tdata(d), .s_axis_tvalid(v),
    .s_axis_tready(r), .m_axis_tdata(q), .m_axis_tvalid(qv), .m_axis_tready(qr));
endmodule
module wrap_real (input wire clk, rst, input wire [{in_w - 1}:0] d, input wire v,
    output wire r, output wire [{out_w - 1}:0] q, output wire qv, input wire qr);
  wrap #(.WF("{p['WEIGHT_FILE']}")) w (.*);
endmodule
module wrap_zero (input wire clk, rst, input wire [{in_w - 1}:0] d, input wire v,
    output wire r, output wire [{out_w - 1}:0] q, output wire qv, input wire qr);
  wrap #(.WF("zero_weights.hex")) w (.*);
endmodule
""")
    data = [rtl / p["WEIGHT_FILE"], tmp_path / "zero_weights.hex"]
    if p.get("NSTEPS", 0) > 0:
        data.append(rtl / p["THRESH_FILE"])
    srcs = [*(rtl / n for n in MVAU_SOURCES), tmp_path / "wrap.sv"]
    real = yosys_estimate("wrap_real", srcs, tmp_path / "real", data_files=data, defines=YOSYS_DEFINES)["total"]
    zero = yosys_estimate("wrap_zero", srcs, tmp_path / "zero", data_files=data, defines=YOSYS_DEFINES)["total"]
    print(f"{inst['name']} (MAC_IMPL lut) real weights: {real}\nall-zero weights: {zero}")
    assert real["LUT"] > 2 * zero["LUT"] and real["LUT"] - zero["LUT"] > 20 * p["PE"] * p["SIMD"] // 4
