# rajoints: `make run` starts the node on its embedded defaults; `make test` installs
# everything the tests need (Debian packages, Python wheels, ONNX Runtime) and runs them.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
ORT_VERSION := 1.31.1
ORT_LIB := .ort/libonnxruntime.so
TEST_MODELS := target/test-models
# Debian packages the tests drive for real: DCMTK (storescu, storescp, echoscu, dsrdump,
# dcmcjpeg, dcmcrle), dicom3tools (dciodvfy), GDCM (gdcmconv, the JPEG 2000 encoder),
# Orthanc (the PACS of the end-to-end test; its routing script calls curl), openssl (the
# certificates of the DICOM TLS test), Chromium and chromedriver (the review UI's browser
# test and the viewer checks, driven by Selenium from tests/requirements.txt), Orthanc's
# DICOMweb plugin and npm (OHIF, the viewer of plugins/orthanc/viewer-check, comes from the
# npm registry), and Slurm (slurmctld, slurmd, slurm-client: tests/batch.rs runs the job
# array of plugins/batch on a one-node cluster on loopback).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test bench deps apt venv ort test-models lint fmt clean viewer-check fuzz-tools fuzz-check

all: build

build: ort
	cargo build --release

run: build
	./target/release/rajoints serve

test: deps test-models .stamp/venv-train
	cargo fmt --check
	cargo clippy --all-targets --quiet -- -D warnings
	cargo test --all-targets
	$(MAKE) fuzz-check
	conformance/check
	plugins/orthanc/viewer-check
	plugins/viewers/gsps-check
	bash models/training/smoke.sh
	bash benches/run --quick
	@echo "make test: all checks passed"

# The benchmarks of issue 7 in one run (release builds, tens of minutes on 2 cores); writes
# benches/RESULTS.md. `make test` runs `benches/run --quick` so the harness keeps working.
bench: deps test-models .stamp/venv-train
	bash benches/run

deps: apt venv ort

# Installs only what is missing (cheap to check every time, so no stamp).
apt:
	@missing=""; \
	command -v dsrdump >/dev/null || missing="$$missing dcmtk"; \
	command -v dciodvfy >/dev/null || missing="$$missing dicom3tools"; \
	command -v gdcmconv >/dev/null || missing="$$missing libgdcm-tools"; \
	command -v Orthanc >/dev/null || missing="$$missing orthanc"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || missing="$$missing orthanc-dicomweb"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v slurmctld >/dev/null || missing="$$missing slurmctld"; \
	command -v slurmd >/dev/null || missing="$$missing slurmd"; \
	command -v sbatch >/dev/null || missing="$$missing slurm-client"; \
	python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

venv: .stamp/venv
.stamp/venv: models/requirements-test.txt tests/requirements.txt | apt
	[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r models/requirements-test.txt -r tests/requirements.txt
	@mkdir -p .stamp && touch $@

# The training recipe's wheels (PyTorch with its CUDA runtime wheels: PyPI has no CPU-only
# build; they also train on a GPU when there is one).
.stamp/venv-train: models/training/requirements.txt .stamp/venv
	$(PY) -m pip install -q --disable-pip-version-check -r models/training/requirements.txt
	@mkdir -p .stamp && touch $@

# ONNX Runtime from the PyPI wheel (the `ort` crate is built with load-dynamic, so nothing
# is downloaded at build time); the binary finds .ort/ from the repository.
ort: $(ORT_LIB)
$(ORT_LIB): | apt
	@mkdir -p .ort
	[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check onnxruntime==$(ORT_VERSION)
	cp "$$($(PY) -c 'import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))')/capi/libonnxruntime.so.$(ORT_VERSION)" $(ORT_LIB)

test-models: $(TEST_MODELS)/ankylosis.toml
$(TEST_MODELS)/ankylosis.toml: models/make_test_models.py .stamp/venv
	$(PY) models/make_test_models.py --out $(TEST_MODELS)

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo fmt --check --manifest-path fuzz/Cargo.toml
	cargo clippy --manifest-path fuzz/Cargo.toml -- -D warnings

# Fuzzing (fuzz/README.md): cargo-fuzz on the stable toolchain. `--sanitizer none`: the
# AddressSanitizer build needs nightly's -Zsanitizer, and safe Rust needs no ASan to find
# panics, aborts, timeouts and oversized allocations (seen as RSS, -rss_limit_mb: the
# malloc hooks behind -malloc_limit_mb need a sanitizer runtime), which is what the
# targets look for. Each target runs FUZZ_SECONDS from its seeds (fuzz/corpus/<t>);
# what it finds goes to fuzz/target/corpus/<t> (git-ignored) and, on a crash, the input
# to fuzz/artifacts/<t>/ and make fails.
FUZZ_SECONDS ?= 25
FUZZ_TARGETS := dataset pdu
FUZZ_FLAGS := -seed=1 -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -print_final_stats=1

fuzz-tools:
	@cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz

fuzz-check: fuzz-tools
	cargo fmt --check --manifest-path fuzz/Cargo.toml
	cargo clippy --manifest-path fuzz/Cargo.toml --quiet -- -D warnings
	cargo fuzz build --sanitizer none -O
	@set -o pipefail; for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/target/corpus/$$t; \
		echo "fuzzing $$t for $(FUZZ_SECONDS) s (log: fuzz/target/fuzz-$$t.log)"; \
		if ! cargo fuzz run --sanitizer none -O $$t fuzz/target/corpus/$$t fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) > fuzz/target/fuzz-$$t.log 2>&1; then \
			tail -n 60 fuzz/target/fuzz-$$t.log; echo "fuzz target $$t failed"; exit 1; \
		fi; \
		grep -E '^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb' fuzz/target/fuzz-$$t.log; \
	done

fmt:
	cargo fmt

clean:
	cargo clean
	rm -rf .stamp .ort $(VENV)

# The viewer checks of `make test`, writing their screenshots into docs/img for
# docs/viewing.md.
viewer-check: deps test-models
	cargo build
	plugins/orthanc/viewer-check --out-dir docs/img
	plugins/viewers/gsps-check --out docs/img/gsps-larvitar.png
