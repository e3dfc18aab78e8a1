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
#   make install    install under $(DESTDIR)$(PREFIX); make uninstall
#                   removes it again

PREFIX	?= /usr/local
MNT	?= /mnt/ipc
CC	?= cc
PKG_CONFIG ?= pkg-config

# The bridge to NATS (bridge.c) is built when pkg-config knows libnats
# (Debian's libnats-dev); without it bridge_none.c refuses -o nats.
# NATS=no builds without it even so.
NATS	?= $(shell $(PKG_CONFIG) --exists libnats 2>/dev/null && echo yes)
# libcrypto (OpenSSL, which libnats uses too) works out the public key of
# an NKey seed (bridge/auth.c).
PKGS	 = fuse3 libbsd-overlay $(if $(filter yes,$(NATS)),libnats libcrypto)
BRIDGE	 = $(if $(filter yes,$(NATS)),$(BRIDGE_SRCS),bridge_none.c)
# The bridge's files; bridge/wire.c has no libnats in it and is built
# either way, for the fuzzer and the unit tests.
BRIDGE_SRCS = bridge/auth.c bridge/bridge.c bridge/names.c \
	   bridge/presence.c bridge/recv.c bridge/send.c bridge/watch.c \
	   bridge/worker.c
WARN	 = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wno-unused-parameter
CFLAGS	?= -O2 -g
# The usual variables work the usual way: CPPFLAGS and CFLAGS go on every
# compile by $(CC), the user's CFLAGS after ours so they override them;
# LDFLAGS go before the objects and the libraries after them.  The fuzzers
# are built by clang, which takes CPPFLAGS, LDFLAGS and FUZZ_CFLAGS.
# Every object records the headers it read (-MMD -MP) in a .d file beside
# it, included at the end.
# Installing the packages first is what makes a bare 'make check' work on a
# fresh machine; pkg-config is only asked once they are there.
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell $(PKG_CONFIG) --libs check 2>/dev/null)
ALL_CFLAGS = -std=gnu11 $(WARN) -Isrc $(PKG_CFLAGS) $(CPPFLAGS) -MMD -MP \
	   $(CFLAGS)
LDLIBS	 = $(PKG_LIBS)
SAN	 = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined

SRCS	 = $(BRIDGE) bridge/wire.c budget.c chan.c fs.c hist.c kfeat.c log.c loop.c main.c node.c opts.c \
	   region.c ring.c spin.c xattr.c xmalloc.c
PURE	 = bridge/wire.c budget.c chan.c hist.c log.c node.c opts.c region.c ring.c spin.c \
	   xattr.c xmalloc.c
UNITS	 = ring chan hist node opts spin wire xattr

OBJS	 = $(SRCS:%.c=build/%.o)
SOBJS	 = $(SRCS:%.c=build/san/%.o)
PURE_SOBJS = $(PURE:%.c=build/san/%.o)
UNIT_BINS = $(UNITS:%=build/san/check_%)

# libFuzzer targets: tests/fuzz/fuzz_<name>.c, linked with the pure modules
# built by clang.  make check runs each briefly; make fuzz runs them longer.
CLANG	?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS ?= -g -O1
FUZZ_FLAGS = -std=gnu11 -Isrc $(PKG_CFLAGS) $(CPPFLAGS) -MMD -MP \
	   -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
	   $(FUZZ_CFLAGS)
FUZZERS	 = $(patsubst tests/fuzz/fuzz_%.c,build/fuzz/fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OBJS = $(PURE:%.c=build/fuzz/obj/%.o)
# Every C file in tests/integration is a test helper; every C file in
# docs/examples is a shipped example.  Both are built for make check.
HELPERS	 = $(patsubst tests/integration/%.c,build/%,$(wildcard tests/integration/*.c))
EXAMPLES = $(patsubst docs/examples/%.c,build/examples/%,$(wildcard docs/examples/*.c))

.PHONY: all run stop check unit integration deps install uninstall \
	clean fuzz stress valgrind bench pkgcheck
# Objects that a chain of rules makes are kept, so that one changed file
# rebuilds only what depends on it.
.SECONDARY: $(FUZZ_OBJS) $(FUZZERS:=.o) $(UNIT_BINS:=.o)

DURATION ?= 300
.DELETE_ON_ERROR:

all: ipcfs ipcfs-stat

ipcfs: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

ipcfs-stat: build/tools/ipcfs-stat.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ build/tools/ipcfs-stat.o

build/tools/%.o: tools/%.c | build
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) $(CPPFLAGS) -MMD -MP $(CFLAGS) -c -o $@ $<

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
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/san/ipcfs: $(SOBJS)
	$(CC) $(CFLAGS) $(SAN) $(LDFLAGS) -o $@ $(SOBJS) $(LDLIBS)

build/san/%.o: src/%.c | build pkgcheck
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<

build/san/check_%.o: tests/unit/check_%.c | build
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) $(SAN) -c -o $@ $<

build/san/check_%: build/san/check_%.o $(PURE_SOBJS)
	$(CC) $(CFLAGS) $(SAN) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# Test helpers and examples are one file each: compiled and linked in one
# step, their .d is build/NAME.d.
build/%: tests/integration/%.c | build
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS) -lpthread

build/examples/%: docs/examples/%.c | build
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra $(CPPFLAGS) -MMD -MP $(CFLAGS) \
	    $(LDFLAGS) -o $@ $<

build/fuzz/obj/%.o: src/%.c | build pkgcheck
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_FLAGS) -c -o $@ $<

build/fuzz/fuzz_%.o: tests/fuzz/fuzz_%.c | build pkgcheck
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_FLAGS) -c -o $@ $<

build/fuzz/fuzz_%: build/fuzz/fuzz_%.o $(FUZZ_OBJS)
	$(CLANG) $(FUZZ_FLAGS) $(LDFLAGS) -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

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

# What make install puts where, under $(DESTDIR)$(PREFIX).  ipcfs is in
# section 1, as sshfs(1) is: users run it themselves (docs/ipcfs.1 says
# more).  The unit goes where systemd looks for the local administrator's
# units; the fstab lines are an example to copy, so they go with the docs.
# Each file is named: one that is missing fails the install.
BINDIR	 = $(PREFIX)/bin
MANDIR	 = $(PREFIX)/share/man
UNITDIR	 = $(PREFIX)/lib/systemd/system
DOCDIR	 = $(PREFIX)/share/doc/ipcfs
MAN1	 = docs/ipcfs.1 docs/ipcfs-stat.1
MAN7	 = docs/ipcfs.7
UNITS_SYSTEMD = mount/mnt-ipc.mount
FSTAB	 = mount/ipcfs.fstab
INSTALL_DIRS = $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man7 $(UNITDIR) $(DOCDIR)
# The directories make install made, those of INSTALL_DIRS and their
# parents that were not there before, one a line, under $(DESTDIR);
# make uninstall removes those that are empty then, and no others.  A
# second install keeps the first one's list.
MADE	 = $(DOCDIR)/installed-dirs

install: ipcfs ipcfs-stat $(MAN1) $(MAN7) $(UNITS_SYSTEMD) $(FSTAB)
	@made=$$(for d in $(INSTALL_DIRS); do \
		while [ "$$d" != / ] && [ "$$d" != . ] && \
		    [ ! -d "$(DESTDIR)$$d" ]; do \
			echo "$$d"; d=$$(dirname "$$d"); \
		done; \
	done); \
	old=$$(grep -v '^#' "$(DESTDIR)$(MADE)" 2>/dev/null); \
	echo install -d $(INSTALL_DIRS:%=$(DESTDIR)%); \
	install -d $(INSTALL_DIRS:%=$(DESTDIR)%) && { \
		echo "# Directories make install made;" \
		    "make uninstall removes them if empty."; \
		printf '%s\n' $$old $$made | LC_ALL=C sort -u; \
	} >"$(DESTDIR)$(MADE)" && chmod 644 "$(DESTDIR)$(MADE)"
	install -m 755 ipcfs ipcfs-stat $(DESTDIR)$(BINDIR)
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7
	install -m 644 $(UNITS_SYSTEMD) $(DESTDIR)$(UNITDIR)
	install -m 644 $(FSTAB) $(DESTDIR)$(DOCDIR)

# Remove what make install installed, then the directories it made (its
# list, deepest first) that are empty now.  Without a list, from an
# install older than it, only ipcfs's own directory and systemd's, which a
# system has only when something put a unit there.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ipcfs $(DESTDIR)$(BINDIR)/ipcfs-stat \
	    $(MAN1:docs/%=$(DESTDIR)$(MANDIR)/man1/%) \
	    $(MAN7:docs/%=$(DESTDIR)$(MANDIR)/man7/%) \
	    $(UNITS_SYSTEMD:mount/%=$(DESTDIR)$(UNITDIR)/%) \
	    $(FSTAB:mount/%=$(DESTDIR)$(DOCDIR)/%)
	@if [ -f "$(DESTDIR)$(MADE)" ]; then \
		made=$$(grep -v '^#' "$(DESTDIR)$(MADE)"); \
		rm -f "$(DESTDIR)$(MADE)"; \
	else \
		made="$(DOCDIR) $(UNITDIR) $(PREFIX)/lib/systemd"; \
	fi; \
	for d in $$(printf '%s\n' $$made | LC_ALL=C sort -r); do \
		rmdir "$(DESTDIR)$$d" 2>/dev/null || true; \
	done

clean:
	rm -rf build ipcfs ipcfs-stat

-include $(OBJS:.o=.d) $(SOBJS:.o=.d) $(UNIT_BINS:=.d) $(HELPERS:=.d) \
	$(EXAMPLES:=.d) $(FUZZERS:=.d) $(FUZZ_OBJS:.o=.d) build/tools/ipcfs-stat.d
