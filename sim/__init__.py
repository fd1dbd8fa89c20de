"""Simulation: cocotb runners, AXI-Stream drivers, golden comparisons, latency measurement."""
