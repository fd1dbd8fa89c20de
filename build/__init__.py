"""Compiler front end (imported as ``tsmfpga.flow``): QONNX -> FINN dataflow graph -> RTL."""
