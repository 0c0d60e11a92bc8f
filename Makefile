# ngx_http_sse_module
#   make          build/ngx_http_sse_module.so
#   make deps     install missing Debian packages
#   make run      nginx in the foreground with nginx.conf.example, 127.0.0.1:8080
#   make test     the whole suite (t/)
#   make test-valgrind   the suite under valgrind, leak checks on

SHELL := /bin/bash
MODULE := build/ngx_http_sse_module.so
PROVE_ARGS ?= -r t/

.PHONY: all deps run test test-valgrind clean FORCE

all: $(MODULE)

# build.sh is incremental (nginx's own Makefile tracks the sources) and
# reconfigures when NGINX_SRC or the flags change, so it always runs
$(MODULE): FORCE
	@scripts/deps.sh build
	@scripts/build.sh

deps:
	@scripts/deps.sh build test

run: $(MODULE)
	@scripts/run.sh

test: deps $(MODULE)
	prove $(PROVE_ARGS)

test-valgrind: deps $(MODULE)
	TEST_NGINX_VALGRIND=1 prove $(PROVE_ARGS)

clean:
	rm -rf build run t/servroot
