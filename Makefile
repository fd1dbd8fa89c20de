# tsmfpga — every target sets up what it needs (`setup` is idempotent and cheap when done).
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tsmfpga-setup
BOARD ?= pynq-z2
PYTEST_ARGS ?=

.PHONY: setup doctor test test-all qat compile demo clean

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

COMPILE_OUT ?= out/compile
TARGET_FPS ?=
COMPILE_ARGS = --board $(BOARD) --out $(COMPILE_OUT) $(if $(TARGET_FPS),--target-fps $(TARGET_FPS),)

## stage 2: the QAT output through the FINN front end to folded HW layers (+ Python bit-exactness)
compile: setup
	@test -f $(QAT_OUT)/report.json || { echo "no finished QAT run in $(QAT_OUT): run 'make qat' first" >&2; exit 2; }
	$(BIN)/tsmfpga compile $(QAT_OUT)/model.onnx --inputs $(QAT_OUT)/test_clips.npy $(COMPILE_ARGS)

## the whole flow so far, end to end, on the embedded default
demo: setup
	$(BIN)/tsmfpga doctor
	$(BIN)/tsmfpga qat --config $(QAT_CONFIG) --out $(QAT_OUT)
	$(BIN)/tsmfpga compile $(QAT_OUT)/model.onnx --inputs $(QAT_OUT)/test_clips.npy $(COMPILE_ARGS)

clean:
	rm -rf out .pytest_cache
