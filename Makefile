# tsmfpga — every target sets up what it needs (`setup` is idempotent and cheap when done).
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tsmfpga-setup
BOARD ?= pynq-z2
PYTEST_ARGS ?=

.PHONY: setup doctor test test-all fuzz regress qat qat-ddp qat-seeds bench-decode bench-bnn compile sim bitstream deploy demo demo-camera bench-camera clean

setup: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	@touch $@

doctor: setup
	$(BIN)/tsmfpga doctor

## fast tier (what CI runs): everything not marked slow
test: setup
	$(BIN)/python -m pytest -m "not slow" -n 2 $(PYTEST_ARGS)

## everything, slow tests included
test-all: setup
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

QAT_CONFIG ?= reference
QAT_OUT ?= out/qat

## stage 1: QAT of TSN / float TSM / quantized TSM on the embedded task, QONNX step-graph export
qat: setup
	$(BIN)/tsmfpga qat --config $(QAT_CONFIG) --out $(QAT_OUT)

QAT_NPROC ?= 2
## stage 1 data-parallel on this machine: torchrun --nproc-per-node $(QAT_NPROC) -m tsmfpga.quant
qat-ddp: setup
	$(BIN)/tsmfpga qat --config $(QAT_CONFIG) --out $(QAT_OUT) --nproc $(QAT_NPROC)

QAT_SEEDS ?= 0,1,2
QAT_SEEDS_OUT ?= out/qat_seeds
## stage 1 seed spread: the QAT config under seeds $(QAT_SEEDS), one run each in $(QAT_SEEDS_OUT)/seed_K,
## per-seed figures and mean ± std in $(QAT_SEEDS_OUT)/report.json (out/qat is not touched)
qat-seeds: setup
	$(BIN)/tsmfpga qat --config $(QAT_CONFIG) --seeds $(QAT_SEEDS) --out $(QAT_SEEDS_OUT) $(if $(RESUME),--resume,)

## video decoding throughput (clips/s with 0, 1, 2 DataLoader workers, frame cache) -> out/bench/decode.json
bench-decode: setup
	$(BIN)/python -m tsmfpga.quant.data.bench --out out/bench/decode.json

BNN_NETS ?= tfc_2w2a cnv_1w1a cnv_1w1a@3050
## brevitas_examples BNN-PYNQ nets as published: compile (declared UINT8 input), rtl_sim, finn-plus estimate -> out/bench/bnn_pynq.json
bench-bnn: setup
	$(BIN)/python scripts/bench_bnn_pynq.py --nets $(BNN_NETS) --board $(BOARD)

## one LUT MAC (hw/rtl/lut_mult.sv) synthesized per operand type vs finn-plus' LUT-multiplier model -> out/bench/lut_mac.json
bench-lut-mac: setup
	$(BIN)/python scripts/bench_lut_mac.py

BENCH_NETS ?= reference tfc_2w2a cnv_1w1a@3050 cnv_2w2a@870
.PHONY: bench bench-lut-mac
## efficiency vs FINN (issue 14): compile + rtl_sim + yosys + finn-plus estimates -> out/bench/report.json
bench: setup
	$(BIN)/python scripts/bench.py --nets $(BENCH_NETS) --board $(BOARD)

COMPILE_OUT ?= out/compile
TARGET_FPS ?=
COMPILE_ARGS = --board $(BOARD) --out $(COMPILE_OUT) $(if $(TARGET_FPS),--target-fps $(TARGET_FPS),)

## stage 2: the QAT output through the FINN front end to folded HW layers (+ Python bit-exactness)
compile: setup
	@test -f $(QAT_OUT)/report.json || { echo "no finished QAT run in $(QAT_OUT): run 'make qat' first" >&2; exit 2; }
	$(BIN)/tsmfpga compile $(QAT_OUT)/model.onnx --inputs $(QAT_OUT)/test_clips.npy $(COMPILE_ARGS)

SIM_CLIPS ?= 16
SIMULATOR ?= verilator

## stage 3: the stitched RTL simulated on whole clips (bit-exactness, latency, interval; rtl_sim)
sim: setup
	@test -f $(COMPILE_OUT)/rtl/manifest.json || { echo "no RTL in $(COMPILE_OUT): run 'make compile' first" >&2; exit 2; }
	$(BIN)/tsmfpga sim $(COMPILE_OUT) --clips $(SIM_CLIPS) --simulator $(SIMULATOR)

## stage 4: yosys estimate, Vivado project (bitstream where Vivado exists), deploy package
## (exits 3 without Vivado after building everything up to it). ECP5 boards (BOARD=ulx3s-85f, compiled
## for that board): synth_ecp5, nextpnr-ecp5, timing, ecppack -> .bit (exits 4 if timing is not met)
bitstream: setup
	@test -f $(COMPILE_OUT)/rtl/manifest.json || { echo "no RTL in $(COMPILE_OUT): run 'make compile' first" >&2; exit 2; }
	$(BIN)/tsmfpga bitstream $(COMPILE_OUT) --board $(BOARD) $(if $(wildcard $(QAT_OUT)/report.json),--qat-report $(QAT_OUT)/report.json,)

.PHONY: timing-modules
## post-route fmax of every RTL module of ours alone on ECP5 (nextpnr) -> out/timing/report.json
timing-modules: setup
	$(BIN)/python scripts/ecp5_timing.py --out out/timing/report.json

HOST ?=
## copy the deploy package to a board: make deploy BOARD=pynq-z2 HOST=192.168.2.99
deploy: setup
	$(BIN)/tsmfpga deploy $(COMPILE_OUT) --host "$(HOST)"

REGRESS_FUZZ ?= 10

## the reference design end to end: two compiles (byte-identical RTL), sim with taps + 3 X seeds +
## extremes, mutation, 1,000 frames under random backpressure and a bursty DMA, REGRESS_FUZZ
## config-space examples -> out/regress/report.json and summary.txt
regress: setup
	@test -f $(QAT_OUT)/report.json || { echo "no finished QAT run in $(QAT_OUT): run 'make qat' first" >&2; exit 2; }
	$(BIN)/python scripts/regress.py --qat $(QAT_OUT) --out out/regress --board $(BOARD) --fuzz $(REGRESS_FUZZ)

FUZZ_EXAMPLES ?= 200

## the config space as a property: random TSM configs -> tiny QAT -> compile -> RTL sim, bit-exact or
## refused up front (long; every outcome appended to out/regress/fuzz.jsonl)
fuzz: setup
	$(BIN)/python -m pytest tests/sim/test_fuzz.py -m slow -k fuzz_config_space --fuzz-examples $(FUZZ_EXAMPLES) --fuzz-log out/regress/fuzz.jsonl -p no:randomly $(PYTEST_ARGS)

## the training budget of `make demo`: demo (fewer epochs than `make qat`, said on screen and in
## the QAT report, so the whole flow fits in 20 minutes on 2 cores) or full (as `make qat`)
DEMO_BUDGET ?= demo

## the whole flow, end to end, on the embedded default
demo: setup
	$(BIN)/tsmfpga doctor
	$(BIN)/tsmfpga qat --config $(QAT_CONFIG) --out $(QAT_OUT) --budget $(DEMO_BUDGET)
	$(BIN)/tsmfpga compile $(QAT_OUT)/model.onnx --inputs $(QAT_OUT)/test_clips.npy $(COMPILE_ARGS)
	$(BIN)/tsmfpga sim $(COMPILE_OUT) --clips $(SIM_CLIPS) --simulator $(SIMULATOR)
	$(BIN)/tsmfpga bitstream $(COMPILE_OUT) --board $(BOARD) --qat-report $(QAT_OUT)/report.json || test $$? -eq 3

CAMERA_FPS ?= 300
CAMERA_CLIPS ?= 4

## the camera-scale hardware path alone: the camera config's model with random weights -> compile at
## $(CAMERA_FPS) fps, RTL sim of $(CAMERA_CLIPS) whole clips, yosys estimate -> out/bench/camera/report.json
bench-camera: setup
	$(BIN)/python scripts/bench_camera.py --fps $(CAMERA_FPS) --clips $(CAMERA_CLIPS) --board $(BOARD)

CAMERA_OUT ?= out/camera

## the camera-scale path end to end: QAT of the MobileNetV2-style TSM on the 96x96 RGB camera task
## (QAT_CONFIG=camera), compile for $(CAMERA_FPS) frames/s, RTL sim of $(CAMERA_CLIPS) whole test clips,
## yosys estimate + Vivado project -> $(CAMERA_OUT)/{qat,compile}
demo-camera: setup
	$(BIN)/tsmfpga doctor
	$(BIN)/tsmfpga qat --config camera --out $(CAMERA_OUT)/qat
	$(BIN)/tsmfpga compile $(CAMERA_OUT)/qat/model.onnx --inputs $(CAMERA_OUT)/qat/test_clips.npy --board $(BOARD) --out $(CAMERA_OUT)/compile --target-fps $(CAMERA_FPS)
	$(BIN)/tsmfpga sim $(CAMERA_OUT)/compile --clips $(CAMERA_CLIPS) --simulator $(SIMULATOR)
	$(BIN)/tsmfpga bitstream $(CAMERA_OUT)/compile --board $(BOARD) --qat-report $(CAMERA_OUT)/qat/report.json || test $$? -eq 3

clean:
	rm -rf out .pytest_cache
