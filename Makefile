# ngx_http_sse_module
#   make          build/ngx_http_sse_module.so
#   make deps     install missing Debian packages
#   make run      nginx in the foreground with nginx.conf.example, 127.0.0.1:8080
#   make test     the whole suite (t/)
#   make test-valgrind   the suite under valgrind, leak checks on
#   make fuzz     libFuzzer over the parsers (FUZZ_SECONDS each, default 60)
#   make fuzz-http       HTTP-level fuzzer, ASan+UBSan nginx (FUZZ_HTTP_SECONDS, 600)
#   make test-asan       the suite against nginx built with ASan and UBSan
#   make bench    side by side with nchan;  make soak   bounded soak
#   make deb      a Debian package for Debian's nginx

SHELL := /bin/bash
MODULE := build/ngx_http_sse_module.so
PROVE_ARGS ?= -r t/

.PHONY: all deps run test test-prove test-fuzz test-browser test-valgrind \
        test-asan test-callgraph fuzz fuzz-http test-fuzz-http deb \
        clean FORCE

all: $(MODULE)

# build.sh is incremental (nginx's own Makefile tracks the sources) and
# reconfigures when NGINX_SRC or the flags change, so it always runs
$(MODULE): FORCE
	@scripts/deps.sh build
	@scripts/build.sh

deps:
	@scripts/deps.sh build test redis

run: $(MODULE)
	@scripts/run.sh

# the browser tests first: they install the npm packages the examples use;
# prove last, so that its summary closes the output
test: test-callgraph test-browser test-fuzz test-fuzz-http test-prove

# no two C files call each other, directly or in a circle (from nm)
test-callgraph: $(MODULE)
	@scripts/callgraph.sh

test-prove: deps $(MODULE)
	prove $(PROVE_ARGS)

# Chromium and Node clients against a real nginx
test-browser: $(MODULE)
	@scripts/browser-test.sh

# each fuzzer briefly, as part of make test
test-fuzz:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-10} scripts/fuzz.sh

fuzz:
	@scripts/fuzz.sh

# the HTTP-level fuzzer (fuzz/http/) against the ASan+UBSan nginx that
# make test-asan builds; briefly in make test, against Debian's nginx with
# the built module (no sanitizers there: crashes, alerts, answers, RSS)
fuzz-http:
	@scripts/fuzz-http.sh

test-fuzz-http: $(MODULE)
	FUZZ_HTTP_NGINX=module FUZZ_HTTP_SECONDS=$${FUZZ_HTTP_SECONDS:-20} scripts/fuzz-http.sh

test-asan:
	@scripts/asan.sh

# build/libnginx-mod-http-sse_<version>_<arch>.deb for Debian's nginx
deb: $(MODULE)
	@scripts/deb.sh

test-valgrind: deps $(MODULE)
	TEST_NGINX_VALGRIND=1 prove $(PROVE_ARGS)

clean:
	rm -rf build run t/servroot

# benchmark against nchan (not part of make test): BENCH_QUICK=1 for a
# quick pass; see scripts/bench.sh for the knobs
bench: $(MODULE)
	@scripts/deps.sh build bench
	@scripts/bench.sh
.PHONY: bench

# bounded soak (not part of make test): SOAK_SECONDS (600), SOAK_SUBSCRIBERS,
# SOAK_RATE, ...: see scripts/soak.sh; results in README, "Soak"
soak: $(MODULE)
	@scripts/soak.sh
.PHONY: soak
