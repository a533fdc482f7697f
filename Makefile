# The two commands a newcomer needs: `make demo` and `make test`.
# Both create .venv on a fresh machine, install the project, regenerate the gRPC code when proto/
# changed, then run. Re-running is quick: every step is guarded by a stamp file.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_INSTALL := $(VENV)/.installed
STAMP_PROTO := .proto.stamp
PROTOS := $(wildcard proto/sortyard/v1/*.proto)

.PHONY: demo test lint typecheck bench bench-quick proto setup clean

setup: $(STAMP_INSTALL) $(STAMP_PROTO)

$(STAMP_INSTALL): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# Generated code is not committed; it is rebuilt whenever a .proto file is newer than the stamp.
$(STAMP_PROTO): $(PROTOS) $(STAMP_INSTALL)
	$(PY) -m grpc_tools.protoc -Iproto --python_out=proto --pyi_out=proto --grpc_python_out=proto $(PROTOS)
	@touch $@

proto: $(STAMP_PROTO)

demo: setup
	$(VENV)/bin/sortyard demo

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy engine rules server adapters benchmarks

bench: setup
	$(VENV)/bin/sortyard bench

bench-quick: setup
	$(VENV)/bin/sortyard bench --quick

clean:
	rm -rf $(VENV) $(STAMP_PROTO) proto/sortyard/v1/*_pb2*.py proto/sortyard/v1/*_pb2*.pyi
