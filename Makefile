# fragpool: `make run` and `make test` work on a fresh machine; both create .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test tools lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

# System tools the tests drive (tcpdump, tshark, trafgen from netsniff-ng, ip from iproute2).
# Installed only where missing, and only as root (CI runs as root).
TOOLS := tcpdump tshark trafgen ip
tools:
	@missing=""; for t in $(TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	      tcpdump tshark netsniff-ng iproute2 >/dev/null; \
	  else echo "missing tools:$$missing (run as root to install them)"; fi; \
	fi

run: $(STAMP)
	$(VENV)/bin/fragpool driver

test: $(STAMP) tools
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check fragpool tests benchmarks examples
	$(VENV)/bin/ruff format --check fragpool tests benchmarks examples

format: $(STAMP)
	$(VENV)/bin/ruff format fragpool tests benchmarks examples

# bench_live compares with pcapy-ng (libpcap) where it builds: libpcap-dev is installed as
# root, pcapy-ng with pip; without them bench_live still runs and says so.
bench: $(STAMP) tools
	@if [ "$$(id -u)" = 0 ] && ! [ -e /usr/include/pcap/pcap.h ]; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get install -y -qq --no-install-recommends libpcap-dev || { apt-get update -qq && \
	    apt-get install -y -qq --no-install-recommends libpcap-dev; }; } >/dev/null 2>&1 \
	  || echo "libpcap-dev not installed: pcapy-ng skipped"; \
	fi
	@$(PY) -c 'import pcapy' 2>/dev/null || $(PY) -m pip install -q 'pcapy-ng>=2.1.0' \
	  || echo "pcapy-ng not installed: bench_live runs without it"
	-$(PY) benchmarks/bench_frag.py
	-$(PY) benchmarks/bench_skb.py
	-$(PY) benchmarks/bench_read.py
	-$(PY) benchmarks/bench_live.py

clean:
	rm -rf $(VENV) build *.egg-info
