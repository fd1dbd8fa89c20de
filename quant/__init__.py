"""QAT stage: datasets, TSM/TSN models, Brevitas quantization-aware training, QONNX export."""
