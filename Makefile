# Two commands do all set-up on a fresh clone: `make demo` and `make test`.
# CUDA users: make demo TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install weights clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@if [ -d runs/demo/checkpoints ]; then $(BIN)/videogan train --resume runs/demo; \
	else $(BIN)/videogan train --preset cpu --out runs/demo; fi
	$(BIN)/videogan sample runs/demo --n 16 --seed 0 --out runs/demo/samples-final

# the FVD network's weights (I3D, Kinetics-400): downloaded and converted once into ~/.cache/videogan
weights: $(STAMP)
	$(BIN)/videogan weights i3d

test: $(STAMP) weights
	$(BIN)/python -m pytest -q -n 2 tests

clean:
	rm -rf $(VENV) runs
