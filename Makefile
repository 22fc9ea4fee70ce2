# shoal - see README.md. `make run` and `make check` work on a bare Debian 12
# machine: as root they install the Debian packages that are missing first.

PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DESTDIR    ?=

VERSION := 0.1.0
CC      ?= cc
CLANG   ?= clang

WARN := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
	-Wpointer-arith -Wcast-qual
ifeq ($(WERROR),1)
WARN += -Werror
endif

PKGS     := yaml-0.1 libxxhash jansson libcrypto libisal
DEPCFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
DEPLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECKLIBS = $(shell pkg-config --libs check 2>/dev/null)

BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -DSHOAL_VERSION='"$(VERSION)"' \
	-Iinclude -Isrc $(WARN) $(DEPCFLAGS) -MMD -MP
CFLAGS  ?= -O2 -g
# The daemon is linked with link-time optimisation: the layers' small
# functions (conn_*, the index's entry, the peer set's sync) are called
# across files on every request, and LTO inlines them as one file would.
# Fat objects keep plain code beside, for the unit suites' archive.
LTO_FLAGS ?= -flto=auto -ffat-lto-objects
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
# For valgrind: plain code, little inlining, so its stacks read well.
VG_FLAGS  := -O1 -g -fno-omit-frame-pointer
LDLIBS_ALL = $(DEPLIBS) -lm -pthread

SRCS     := $(sort $(wildcard src/*/*.c))
LIB_SRCS := $(filter-out src/proc/main.c,$(SRCS))
OBJS     := $(LIB_SRCS:src/%.c=build/obj/%.o)
SAN_OBJS := $(LIB_SRCS:src/%.c=build/asan/obj/%.o)
VG_OBJS  := $(SRCS:src/%.c=build/vg/obj/%.o)
UNIT_SRCS := $(sort $(wildcard t/unit/check_*.c))
UNITS     := $(UNIT_SRCS:t/unit/%.c=build/t/%)
SAN_UNITS := $(UNIT_SRCS:t/unit/%.c=build/asan/t/%)
FUZZ_SRCS := $(sort $(wildcard t/fuzz/fuzz_*.c))
FUZZERS   := $(FUZZ_SRCS:t/fuzz/%.c=build/fuzz/%)
# How long `make fuzz` runs each driver; `make check` passes 10.
FUZZ_SECONDS ?= 60

# Debian packages the build, the tests and the demo need.
DEB_PKGS := gcc make libc6-dev pkg-config libyaml-dev libxxhash-dev check \
	libjansson-dev libssl-dev libisal-dev iproute2 iptables \
	curl clang libclang-rt-dev python3 procps wrk slowhttptest
# And those of `make compose-check`.
COMPOSE_PKGS := docker.io docker-compose debootstrap

# Debian packages of the browser test (t/blackbox/test_status.py): installed
# like the others, but a failure only skips that test, with the reason.
BROWSER_PKGS := chromium chromium-driver

.PHONY: sim all deps deps-browser run check compose-check layers docs unit unit-asan \
	blackbox blackbox-asan \
	blackbox-valgrind fuzz fuzz-build bench install uninstall clean

all: deps build/shoald

# Installs what is missing when root; otherwise prints the line to run.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -q --no-install-recommends $$missing || exit 1; \
	  else \
	    echo "missing Debian packages; run as root:"; \
	    echo "  apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# The browser test's packages: `make check` only (not `make run`).
deps-browser:
	@missing=""; for p in $(BROWSER_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing"; \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $$missing; } || \
	  echo "deps: cannot install$$missing: the browser test is skipped"; \
	elif [ -n "$$missing" ]; then \
	  echo "deps: without$$missing the browser test is skipped; as root:"; \
	  echo "  apt-get install -y$$missing"; \
	fi

build/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LTO_FLAGS) -c -o $@ $<

build/asan/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) -c -o $@ $<

build/vg/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(VG_FLAGS) -c -o $@ $<

build/libshoal.a: $(OBJS)
	rm -f $@ && ar rcs $@ $^

build/asan/libshoal.a: $(SAN_OBJS)
	rm -f $@ && ar rcs $@ $^

build/shoald: build/obj/proc/main.o $(OBJS)
	$(CC) $(CFLAGS) $(LTO_FLAGS) -o $@ $^ $(LDLIBS_ALL)

build/asan/shoald: build/asan/obj/proc/main.o build/asan/libshoal.a
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS_ALL)

build/vg/shoald: $(VG_OBJS)
	$(CC) $(VG_FLAGS) -o $@ $^ $(LDLIBS_ALL)

# A unit suite may #include the .c it tests to reach static functions; the
# archive then supplies only the other modules.
build/t/check_%: t/unit/check_%.c build/libshoal.a | build/t
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< build/libshoal.a \
	    $(CHECKLIBS) $(LDLIBS_ALL)

build/asan/t/check_%: t/unit/check_%.c build/asan/libshoal.a | build/asan/t
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) -o $@ $< build/asan/libshoal.a \
	    $(CHECKLIBS) $(LDLIBS_ALL)

# The library is built once for all the drivers, instrumented for the
# fuzzer's coverage without its main(); each driver links it.
FUZZ_FLAGS := -O1 -g -fsanitize=address,undefined
FUZZ_OBJS  := $(LIB_SRCS:src/%.c=build/fuzz/obj/%.o)

build/fuzz/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CLANG) $(BASE_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link \
	    -c -o $@ $<

build/fuzz/libshoal.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^

build/fuzz/fuzz_%: t/fuzz/fuzz_%.c t/fuzz/fuzz_common.h \
    build/fuzz/libshoal.a | build/fuzz
	$(CLANG) $(BASE_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< \
	    build/fuzz/libshoal.a $(LDLIBS_ALL)

build/t build/asan/t build/fuzz:
	mkdir -p $@

# Every include stays in its layer or below (t/layers.sh).
layers:
	@sh t/layers.sh

# The documents against the code: every key of conf/shoal.yaml in
# shoal.yaml(5), every /_/ route and shoal_ series in the manual pages,
# every file the README and doc/ name (t/docs.py).
docs:
	@python3 t/docs.py

run: deps build/shoald
	./t/demo.sh

unit: deps $(UNITS)
	@set -e; for t in $(UNITS); do echo "== $$t"; $$t; done

unit-asan: deps $(SAN_UNITS)
	@set -e; for t in $(SAN_UNITS); do echo "== $$t (asan)"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t; done

blackbox: deps build/shoald
	python3 t/blackbox/run.py --shoald build/shoald

blackbox-asan: deps build/asan/shoald
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  python3 t/blackbox/run.py --shoald build/asan/shoald --sanitized

# Not part of `make check`: slow. Every shoald runs under valgrind memcheck;
# the run fails on any error or definite leak in the logs
# (build/vg/log/vg.PID.log). Needs the valgrind package.
blackbox-valgrind: deps build/vg/shoald
	@command -v valgrind >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	      --no-install-recommends valgrind || exit 1; \
	  else echo "valgrind is missing; run as root:"; \
	    echo "  apt-get install -y valgrind"; exit 1; fi; }
	python3 t/blackbox/run.py --shoald build/vg/shoald --valgrind build/vg/log

fuzz-build: deps $(FUZZERS)

# Each driver t/fuzz/fuzz_NAME.c runs for FUZZ_SECONDS from its seed corpus
# t/fuzz/corpus/NAME/ (copied to build/fuzz/corpus-NAME/, so the committed
# seeds stay small) with the dictionary t/fuzz/NAME.dict.
fuzz: fuzz-build
	@set -e; for f in $(FUZZERS); do n=$${f#build/fuzz/fuzz_}; \
	  mkdir -p build/fuzz/corpus-$$n; \
	  cp -n t/fuzz/corpus/$$n/* build/fuzz/corpus-$$n/ 2>/dev/null || true; \
	  dict=""; [ -f t/fuzz/$$n.dict ] && dict="-dict=t/fuzz/$$n.dict"; \
	  echo "== $$f for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$dict \
	    -artifact_prefix=build/fuzz/ build/fuzz/corpus-$$n 2>&1 \
	    | grep -E '^(stat::number_of_executed_units|stat::peak_rss|==|#[0-9]+[[:space:]]+DONE)|ERROR|SUMMARY|check failed' ; \
	  test $${PIPESTATUS[0]} -eq 0; \
	done

check: SHELL := /bin/bash
# Everything is built first, two jobs at a time (CI calls plain `make
# check`). The plain and the sanitized suites then run side by side (one
# core each; the black-box tests mostly wait on sockets and timers; the
# fuzzers follow the plain black-box suite, which ends first), each
# into its log, shown whole once both are done.
check: deps deps-browser
	@$(MAKE) --no-print-directory -j2 build/shoald build/asan/shoald \
	    $(UNITS) $(SAN_UNITS) $(FUZZERS)
	@sh t/layers.sh
	@python3 t/docs.py
	@python3 t/bench/test_chart.py
	@$(MAKE) --no-print-directory unit > build/unit.log 2>&1 & plain=$$!; \
	  $(MAKE) --no-print-directory unit-asan > build/unit-asan.log 2>&1; \
	  san=$$?; wait $$plain; plain=$$?; \
	  cat build/unit.log build/unit-asan.log; \
	  test $$plain -eq 0 && test $$san -eq 0
	@rm -f build/fuzz.log; \
	  { $(MAKE) --no-print-directory blackbox > build/blackbox.log 2>&1 && \
	  $(MAKE) --no-print-directory fuzz SHELL=/bin/bash FUZZ_SECONDS=10 \
	    > build/fuzz.log 2>&1; } & plain=$$!; \
	  $(MAKE) --no-print-directory blackbox-asan > build/blackbox-asan.log \
	    2>&1; san=$$?; wait $$plain; plain=$$?; \
	  cat build/blackbox.log build/blackbox-asan.log; \
	  cat build/fuzz.log 2>/dev/null; \
	  test $$plain -eq 0 && test $$san -eq 0
	$(MAKE) --no-print-directory compose-check

fuzz: SHELL := /bin/bash

# The Dockerfile and docker-compose.yml brought up for real, with dockerd
# started when it is not running and a Debian 12 base image made with
# debootstrap when none is here (t/compose/check.sh).
compose-check: deps
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(COMPOSE_PKGS)"
	sh t/compose/check.sh

# The catalogue's simulation at full size (1,000 nodes, 10,000 objects;
# about a minute); make check runs a smaller cluster of the same shape.
sim: deps build/t/check_gossip_sim
	SHOAL_SIM_NODES=1000 SHOAL_SIM_OBJECTS=10000 build/t/check_gossip_sim

bench: deps build/shoald
	./t/bench/run.sh

install: build/shoald
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/shoal $(DESTDIR)$(SYSUSERSDIR)
	install -m 755 build/shoald $(DESTDIR)$(SBINDIR)/shoald
	install -m 644 man/shoald.8 $(DESTDIR)$(MANDIR)/man8/shoald.8
	install -m 644 man/shoal.yaml.5 $(DESTDIR)$(MANDIR)/man5/shoal.yaml.5
	install -m 644 man/shoal-cluster.7 $(DESTDIR)$(MANDIR)/man7/shoal-cluster.7
	sed 's|@SBINDIR@|$(SBINDIR)|g' systemd/shoald.service \
	    > $(DESTDIR)$(UNITDIR)/shoald.service
	chmod 644 $(DESTDIR)$(UNITDIR)/shoald.service
	install -m 644 systemd/shoal.sysusers $(DESTDIR)$(SYSUSERSDIR)/shoal.conf
	install -m 644 conf/shoal.yaml $(DESTDIR)$(SYSCONFDIR)/shoal/shoal.yaml.example
	test -e $(DESTDIR)$(SYSCONFDIR)/shoal/shoal.yaml || \
	    install -m 644 conf/shoal.yaml $(DESTDIR)$(SYSCONFDIR)/shoal/shoal.yaml

# The live configuration is the operator's; only the example goes.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/shoald $(DESTDIR)$(MANDIR)/man8/shoald.8 \
	    $(DESTDIR)$(MANDIR)/man5/shoal.yaml.5 \
	    $(DESTDIR)$(MANDIR)/man7/shoal-cluster.7 \
	    $(DESTDIR)$(UNITDIR)/shoald.service \
	    $(DESTDIR)$(SYSUSERSDIR)/shoal.conf \
	    $(DESTDIR)$(SYSCONFDIR)/shoal/shoal.yaml.example

clean:
	rm -rf build

-include $(wildcard build/obj/*/*.d build/asan/obj/*/*.d build/vg/obj/*/*.d \
	build/t/*.d build/asan/t/*.d build/fuzz/obj/*/*.d build/fuzz/*.d)
