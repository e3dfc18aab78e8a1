# ipcfs: a FUSE filesystem whose files are channels.
#
#   make            build ./ipcfs
#   make run        install what is missing, build, mount on $(MNT)
#   make stop       unmount $(MNT)
#   make check      install what is missing, build, run every test
#   make bench      benchmarks against pipes, sockets, /dev/shm, POSIX
#                   message queues and ZeroMQ
#   make stress     a long stress run (DURATION seconds)
#   make fuzz       the fuzzers, FUZZ_SECONDS each
#   make valgrind   a memcheck run of the daemon
#   make install    install under $(DESTDIR)$(PREFIX)

PREFIX	?= /usr/local
MNT	?= /mnt/ipc
CC	?= cc
PKG_CONFIG ?= pkg-config

PKGS	 = fuse3 libbsd-overlay
WARN	 = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wno-unused-parameter
CFLAGS	?= -O2 -g
# Installing the packages first is what makes a bare 'make check' work on a
# fresh machine; pkg-config is only asked once they are there.
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell $(PKG_CONFIG) --libs check 2>/dev/null)
ALL_CFLAGS = -std=gnu11 $(WARN) -Isrc $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
SAN	 = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined

SRCS	 = budget.c chan.c fs.c hist.c kfeat.c log.c loop.c main.c node.c opts.c \
	   region.c ring.c spin.c xattr.c xmalloc.c
PURE	 = budget.c chan.c hist.c log.c node.c opts.c region.c ring.c spin.c \
	   xattr.c xmalloc.c
UNITS	 = ring chan hist node opts spin xattr

OBJS	 = $(SRCS:%.c=build/%.o)
SOBJS	 = $(SRCS:%.c=build/san/%.o)
PURE_SOBJS = $(PURE:%.c=build/san/%.o)
UNIT_BINS = $(UNITS:%=build/san/check_%)

# libFuzzer targets: tests/fuzz/fuzz_<name>.c, linked with the pure modules
# built by clang.  make check runs each briefly; make fuzz runs them longer.
CLANG	?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -std=gnu11 -g -O1 -Isrc $(PKG_CFLAGS) \
	   -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
FUZZERS	 = $(patsubst tests/fuzz/fuzz_%.c,build/fuzz/fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
# Every C file in tests/integration is a test helper; every C file in
# docs/examples is a shipped example.  Both are built for make check.
HELPERS	 = $(patsubst tests/integration/%.c,build/%,$(wildcard tests/integration/*.c))
EXAMPLES = $(patsubst docs/examples/%.c,build/examples/%,$(wildcard docs/examples/*.c))

.PHONY: all run stop check unit integration deps install clean fuzz \
	stress valgrind bench pkgcheck

DURATION ?= 300
.DELETE_ON_ERROR:

all: ipcfs ipcfs-stat

ipcfs: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $(OBJS) $(PKG_LIBS) $(LDFLAGS)

ipcfs-stat: tools/ipcfs-stat.c
	$(CC) -std=gnu11 $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ \
	    tools/ipcfs-stat.c $(LDFLAGS)

# Without the -dev packages pkg-config knows neither library: say which
# Debian packages are missing and what installs them, rather than let the
# compiler fail on a missing header.
pkgcheck:
	@missing=; \
	command -v $(PKG_CONFIG) >/dev/null 2>&1 || missing=" pkg-config"; \
	$(PKG_CONFIG) --exists fuse3 2>/dev/null || \
	    missing="$$missing libfuse3-dev"; \
	$(PKG_CONFIG) --exists libbsd-overlay 2>/dev/null || \
	    missing="$$missing libbsd-dev"; \
	if [ -n "$$missing" ]; then \
		echo "ipcfs: missing Debian packages:$$missing" >&2; \
		echo "ipcfs: 'make run' or 'make check' installs them" \
		    "(tools/install-deps)" >&2; \
		exit 1; \
	fi

build/%.o: src/%.c | build pkgcheck
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/san/ipcfs: $(SOBJS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $(SOBJS) $(PKG_LIBS) $(LDFLAGS)

build/san/%.o: src/%.c | build pkgcheck
	$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<

build/san/check_%.o: tests/unit/check_%.c | build
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) $(SAN) -c -o $@ $<

build/san/check_%: build/san/check_%.o $(PURE_SOBJS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS) $(LDFLAGS)

build/%: tests/integration/%.c | build
	$(CC) $(ALL_CFLAGS) -o $@ $< $(PKG_LIBS) -lpthread $(LDFLAGS)

build/examples/%: docs/examples/%.c | build
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -O2 -g -o $@ $< $(LDFLAGS)

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(PURE:%=src/%) src/ipcfs.h | build
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_FLAGS) -o $@ $< $(PURE:%=src/%) $(PKG_LIBS)

build:
	@mkdir -p build/san build/examples build/fuzz

deps:
	@tools/install-deps

run: deps
	@$(MAKE) --no-print-directory all
	@tools/ipcfs-run $(MNT)

stop:
	@tools/ipcfs-run --stop $(MNT)

check: deps
	@$(MAKE) --no-print-directory all build/san/ipcfs $(UNIT_BINS) \
	    $(HELPERS) $(EXAMPLES) $(FUZZERS)
	@tests/run-all $(UNIT_BINS)

stress: deps
	@$(MAKE) --no-print-directory all build/stress
	@tools/stress-run $(DURATION)

valgrind: deps
	@$(MAKE) --no-print-directory all build/stress
	@tools/valgrind-run

bench: deps
	@$(MAKE) --no-print-directory all
	@tools/bench-run

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZERS)
	@tests/fuzz/run $(FUZZ_SECONDS) $(FUZZERS)

unit: $(UNIT_BINS)
	@tests/run-all --unit-only $(UNIT_BINS)

install: ipcfs ipcfs-stat
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 ipcfs $(DESTDIR)$(PREFIX)/bin/ipcfs
	install -m 755 ipcfs-stat $(DESTDIR)$(PREFIX)/bin/ipcfs-stat

clean:
	rm -rf build ipcfs ipcfs-stat

-include $(OBJS:.o=.d) $(SOBJS:.o=.d)
