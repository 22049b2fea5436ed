# fragpool: `make run` and `make test` work on a fresh machine; both create .venv themselves.
# `make` alone builds: the venv, fragpool installed editable, its compiled core in place.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEPS   := $(VENV)/.deps
STAMP  := $(VENV)/.built
LOG    := $(VENV)/install.log
# Every source the compiled core is built from: an edit to any of them rebuilds it.
SOURCES := $(shell find fragpool -name '*.py' -o -name '*.pxd') setup.py
# pip's own chatter goes to the log; it is shown only when a step fails.
QUIET  = >>$(LOG) 2>&1 || { cat $(LOG); exit 1; }
ASAN_LIB = $(shell gcc -print-file-name=libasan.so)
ASAN_DIR := build/asan

.DEFAULT_GOAL := build
.PHONY: build run test test-compiled test-pure test-asan test-debug test-versions tools lint \
	format bench clean fuzz

$(DEPS): pyproject.toml
	@echo "setting up $(VENV) (pip's output: $(LOG))"
	@$(PYTHON) -m venv $(VENV)
	@: >$(LOG)
	@$(PY) -m pip install -q --upgrade pip $(QUIET)
	@$(PY) -m pip install -q 'setuptools>=77' 'Cython>=3.1' wheel $(QUIET)
	@FRAGPOOL_NO_EXTENSIONS=1 $(PY) -m pip install -q --no-build-isolation -e '.[test,bench,dev]' $(QUIET)
	@touch $@

# The compiled modules, built in place beside their sources (cythonize skips the unchanged).
# The editable install above skips them, so a fresh clone compiles once, two at a time.
$(STAMP): $(DEPS) $(SOURCES)
	@echo "compiling fragpool's core (Cython)"
	@$(PY) setup.py -q build_ext --inplace -j 2 $(QUIET)
	@$(PY) -c 'import fragpool, sys; print("fragpool", fragpool.__version__, \
	  "compiled" if fragpool.compiled else "pure Python (" + fragpool._why + ")")'
	@touch $@

build: $(STAMP)

# System tools the tests drive (tcpdump, tshark, trafgen from netsniff-ng, ip from iproute2)
# and libpcap, whose filter compiler fragpool calls. Installed only where missing, and only
# as root (CI runs as root).
TOOLS := tcpdump tshark trafgen ip
tools:
	@missing=""; for t in $(TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	ldconfig -p 2>/dev/null | grep -q 'libpcap\.so' || missing="$$missing libpcap"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	      tcpdump tshark netsniff-ng iproute2 libpcap0.8 >/dev/null; \
	  else echo "missing tools:$$missing (run as root to install them)"; fi; \
	fi

run: $(STAMP)
	$(VENV)/bin/fragpool driver

# The whole suite twice: compiled (every compiled module must be in use), then the same
# sources interpreted; then the reader's fuzz and damage tests against an AddressSanitizer
# build; then the reader's fuzz tests and the live tests once more in debug mode; then the
# compiled suite on every other Python the package claims.
test: test-compiled test-pure test-asan test-debug test-versions

# The Pythons pyproject claims beyond $(PYTHON)'s (3.11): each gets a venv of its own
# (.venv-3.12, ...) with fragpool built in place for it (compiled modules of different
# Pythons sit side by side, their file names carry the ABI tag) and runs the compiled
# suite. scripts/find-python finds each interpreter or installs it with pyenv, and fails
# when it can do neither: a claimed version is never skipped.
EXTRA_PYTHONS := 3.12 3.13
# The scapy each runs with: the versions users have (the main .venv gets the newest), so
# fragpool.scapy.L2ListenSocket is tested against each.
SCAPY_3.12 := 2.5.0
SCAPY_3.13 := 2.6.1
.PRECIOUS: .venv-%/.deps .venv-%/.built
test-versions: $(addprefix test-python,$(EXTRA_PYTHONS))

.venv-%/.deps: pyproject.toml
	@py=$$(scripts/find-python $*) && echo "setting up .venv-$* ($$py)" && \
	  $$py -m venv .venv-$*
	@: >.venv-$*/install.log
	@.venv-$*/bin/python -m pip install -q --upgrade pip >>.venv-$*/install.log 2>&1 \
	  || { cat .venv-$*/install.log; exit 1; }
	@.venv-$*/bin/python -m pip install -q 'setuptools>=77' 'Cython>=3.1' wheel \
	  >>.venv-$*/install.log 2>&1 || { cat .venv-$*/install.log; exit 1; }
	@FRAGPOOL_NO_EXTENSIONS=1 .venv-$*/bin/python -m pip install -q --no-build-isolation \
	  -e '.[test,bench,dev]' 'scapy==$(SCAPY_$*)' >>.venv-$*/install.log 2>&1 \
	  || { cat .venv-$*/install.log; exit 1; }
	@touch $@

.venv-%/.built: .venv-%/.deps $(SOURCES)
	@echo "compiling fragpool's core for Python $*"
	@.venv-$*/bin/python setup.py -q build_ext --inplace -j 2 >>.venv-$*/install.log 2>&1 \
	  || { cat .venv-$*/install.log; exit 1; }
	@touch $@

test-python%: .venv-%/.built tools
	FRAGPOOL_REQUIRE_EXTENSIONS=1 .venv-$*/bin/pytest -q -p no:cacheprovider

test-compiled: $(STAMP) tools
	FRAGPOOL_REQUIRE_EXTENSIONS=1 $(VENV)/bin/pytest -q

test-pure: $(STAMP) tools
	FRAGPOOL_NO_EXTENSIONS=1 $(VENV)/bin/pytest -q

# A separate build with -fsanitize=address (in build/asan, on PYTHONPATH ahead of the
# checkout), run with libasan preloaded and Python's allocator on malloc, so an
# out-of-bounds read of a heap buffer stops the run instead of reading a neighbour.
test-asan: $(STAMP)
	@echo "compiling an AddressSanitizer build in $(ASAN_DIR)"
	@FRAGPOOL_REQUIRE_EXTENSIONS=1 FRAGPOOL_CFLAGS="-fsanitize=address -fno-omit-frame-pointer -O1" \
	  $(PY) setup.py -q build --build-base $(ASAN_DIR) --build-lib $(ASAN_DIR)/lib -j 2 $(QUIET)
	PYTHONPATH=$(ASAN_DIR)/lib LD_PRELOAD=$(ASAN_LIB) PYTHONMALLOC=malloc \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 FRAGPOOL_REQUIRE_EXTENSIONS=1 \
	  FRAGPOOL_EXPECT_BUILD=$(ASAN_DIR)/lib \
	  $(VENV)/bin/pytest -q -p no:cacheprovider tests/test_compiled.py tests/io/files/test_pcap_errors.py

# Debug mode (FRAGPOOL_DEBUG=1: views counted, poison and quarantine, red zones, free
# checks) over the reader's fuzz and damage tests, the live captures and the skb state
# machine: fragpool's own code must trip none of them.
test-debug: $(STAMP) tools
	FRAGPOOL_DEBUG=1 FRAGPOOL_REQUIRE_EXTENSIONS=1 $(VENV)/bin/pytest -q -p no:cacheprovider \
	  tests/io tests/commands/test_live_capture_cli.py tests/commands/test_privilege_drop.py \
	  tests/commands/test_capture_habits.py::test_a_slow_pipe_hands_out_each_record_as_it_arrives \
	  tests/skb/test_skb_hypothesis.py \
	  tests/mm/test_mm_state_machine.py tests/mm/test_debug.py

lint: $(STAMP)
	$(VENV)/bin/ruff check fragpool tests benchmarks examples fuzz setup.py
	$(VENV)/bin/ruff format --check fragpool tests benchmarks examples fuzz setup.py

format: $(STAMP)
	$(VENV)/bin/ruff format fragpool tests benchmarks examples fuzz setup.py

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
	@mkdir -p build/bench  # bench_live's C anchors and its paced sender
	gcc -O2 -Wall -o build/bench/live_anchor benchmarks/live_anchor.c
	gcc -O2 -Wall -o build/bench/paced_sender benchmarks/paced_sender.c
	-$(PY) benchmarks/bench_frag.py
	-$(PY) benchmarks/bench_skb.py
	-$(PY) benchmarks/bench_read.py
	-$(PY) benchmarks/bench_reclaim.py
	-$(PY) benchmarks/bench_driver.py
	-$(PY) benchmarks/bench_print.py $$([ "$$(id -u)" = 0 ] && echo --live)
	-$(PY) benchmarks/bench_live.py

clean:
	rm -rf $(VENV) $(addprefix .venv-,$(EXTRA_PYTHONS)) build *.egg-info
	find fragpool \( -name '*.so' -o -name '*.c' -o -name '*.html' \) -delete
	rm -f fragpool/_build_info.json

# Coverage-guided fuzzing (fuzz/): atheris built from source against Debian's clang, the
# compiled modules built again by that clang with -fsanitize=address,fuzzer-no-link, each
# target run for FUZZ_SECONDS under atheris' ASan runtime. A separate build, not in `test`.
FUZZ_SECONDS ?= 60
FUZZ_DIR := build/fuzz
FUZZ_PY := $(FUZZ_DIR)/venv/bin/python
CLANG ?= clang-14

$(FUZZ_DIR)/.venv: pyproject.toml
	@if ! command -v $(CLANG) >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a >/dev/null 2>&1; then \
	  echo "installing clang and its libFuzzer runtime"; export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev || { apt-get update -qq && \
	    apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev; }; } >/dev/null; fi
	@echo "building atheris against $(CLANG) (pip's output: $(FUZZ_DIR)/install.log)"
	@mkdir -p $(FUZZ_DIR) && $(PYTHON) -m venv $(FUZZ_DIR)/venv
	@CLANG_BIN=$(CLANG) $(FUZZ_PY) -m pip install -q --no-binary atheris 'atheris>=2.3' \
	  'Cython>=3.1' 'setuptools>=77' wheel 'psutil>=5.9' >$(FUZZ_DIR)/install.log 2>&1 \
	  || { cat $(FUZZ_DIR)/install.log; exit 1; }
	@touch $@

$(FUZZ_DIR)/.built: $(FUZZ_DIR)/.venv $(SOURCES)
	@echo "compiling fragpool's core with $(CLANG) -fsanitize=address,fuzzer-no-link"
	@CC=$(CLANG) LDSHARED="$(CLANG) -shared" FRAGPOOL_REQUIRE_EXTENSIONS=1 \
	  FRAGPOOL_CFLAGS="-fsanitize=address,fuzzer-no-link -fno-omit-frame-pointer -O1 -g" \
	  $(FUZZ_PY) setup.py -q build --build-base $(FUZZ_DIR)/build --build-lib $(FUZZ_DIR)/lib -j 2 \
	  >>$(FUZZ_DIR)/install.log 2>&1 || { tail -30 $(FUZZ_DIR)/install.log; exit 1; }
	@touch $@

fuzz: $(FUZZ_DIR)/.built tools
	FUZZ_SECONDS=$(FUZZ_SECONDS) FRAGPOOL_NO_EXTENSIONS=1 PYTHONPATH=$(FUZZ_DIR)/lib $(FUZZ_PY) fuzz/run.py
