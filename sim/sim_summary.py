"""The one-screen text of a ``tsmfpga sim`` report (``DIR/sim/report.json``), apart from the run
that writes it (:mod:`tsmfpga.sim.fullsim`)."""

from __future__ import annotations


def summary(r: dict) -> str:
    lat = r["latency_cycles"]
    lines = [
        f"sim ({r['simulator']}, rtl_sim): {r['frames']} frames of {r['clips']} clip(s) from {r['inputs']}",
        *([f"  TIMEOUT after {r['sim_cycles']} cycles: not all output beats arrived (deadlock or a far too "
           "slow design); the missing values count as mismatches"] if r["timeout"] else []),
        *(["  STATUS ERROR: a clip-start flag was lost (status_error)"] if r["status_error"] else []),
        f"  bit exact vs integer HW graph: {r['bit_exact']} ({r['mismatches']} mismatches over {r['values']} values)",
        (f"  latency: {lat.get('min')}..{lat.get('max')} cycles (max - min = "
         f"{(lat.get('max', 0) - lat.get('min', 0)) if lat else None}), {r['latency_us']} us at {r['clock_mhz']} MHz"
         if not lat.get("percentiles") else
         "  latency under backpressure (a distribution, not a fixed-latency claim): "
         + ", ".join(f"{k} {v:.0f}" for k, v in lat["percentiles"].items()) + " cycles"),
        f"  interval: {r['ii_cycles']} cycles/frame measured vs {r['ideal_ii_cycles']} ideal "
        f"(efficiency {r['efficiency']}) -> {r['fps']} fps",
        f"  simulation speed: {r['sim_speed_fps']} frames/s wall clock ({r['sim_wall_s']} s, "
        f"{r.get('sim_processes', 1)} simulator process(es))",
        *(["  stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in r["stage_seconds"].items())
           + (" (model from the build cache)" if r.get("build", {}).get("cached") else "")]
          if r.get("stage_seconds") else []),
        *(f"  FAILED: {f}" for f in r["failures"]),
    ]
    if r.get("taps"):
        t = r["taps"]
        d = t["first_divergence"]
        lines.append(f"  layer taps (clip 0): {t['streams']} streams, {t['values']} values, "
                     + ("all equal" if d is None else
                        f"first divergence at {d['producer']} frame {d['frame']} beat {d['beat']}"))
    if r.get("x_propagation"):
        x = r["x_propagation"]
        lines.append(f"  X propagation ({len(x['seeds'])} random-init seeds): "
                     + ("identical outputs" if x["identical"] else f"DIFFERENT outputs {x['mismatches_per_seed']}"))
    if r.get("streams"):
        s = r["streams"]
        lat = s["latency_cycles"]
        lines.append(f"  streams: {s['cameras']} cameras, {s['frames']} frames in a random schedule "
                     f"({s['schedule']['camera_switches']} camera switches): bit exact vs each camera's own "
                     f"golden: {s['bit_exact']} ({s['mismatches']} mismatches)"
                     + (f"; latency {lat['min']}..{lat['max']} cycles over {lat['steady_frames']} steady frames"
                        if lat else ""))
    if r.get("golden"):
        lines.append(f"  HW graph vs QONNX golden: {r['golden']['hw_graph_vs_qonnx_mismatches']} mismatches")
    if r.get("accuracy"):
        a = r["accuracy"]
        fl = f"{a['float']:.4f}" if a.get("float") is not None else "n/a"
        lines.append(f"  accuracy on these {a['clips']} clips: hw {a['hw']:.4f}, quant {a['quant']:.4f}, float {fl}")
    return "\n".join(lines)
