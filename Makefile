# cloudroute build.  Plain make, pkg-config for every library.
#   make               ./cloudroute
#   make SANITIZE=1    ./cloudroute with ASan+UBSan (objects in build-san/)
#   make SANITIZE=thread  ThreadSanitizer (objects in build-tsan/); unit-dp runs
#                      the data-plane tests under it (part of make check)
#   make check         deps, lint, -Werror build, unit tests (ASan+UBSan), integration tests
#   make demo          connectors in simulated AWS, GCP, OCI and OpenStack clouds (network namespaces)
#   make bench         throughput against wireguard-go and OpenVPN
#   make fuzz          libFuzzer harnesses (clang)
#   make install       PREFIX=/usr/local DESTDIR=

PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/cloudroute
MANDIR     ?= $(PREFIX)/share/man
BASHCOMPDIR?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR ?= /etc
VERSION    := 0.1.0

CC         ?= cc
PKG_CONFIG ?= pkg-config
PKGS       := libnl-3.0 libnl-route-3.0 libnftables json-c libcurl openssl libsystemd expat libqrencode libmicrohttpd yaml-0.1

ifeq ($(SANITIZE),1)
B          := build-san
SANFLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT        := -O1
else ifeq ($(SANITIZE),thread)
B          := build-tsan
SANFLAGS   := -fsanitize=thread -fno-omit-frame-pointer
OPT        := -O1
else
B          := build
SANFLAGS   :=
OPT        := -O2
endif

WARN       := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
ifeq ($(WERROR),1)
WARN       += -Werror
endif
HARDEN     := -fstack-protector-strong -fPIE
ifeq ($(SANITIZE),)
HARDEN     += -D_FORTIFY_SOURCE=2
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

CFLAGS     ?= -g $(OPT)
ALL_CFLAGS := -std=gnu11 $(CFLAGS) $(WARN) $(HARDEN) $(SANFLAGS) -I. \
              -DCLOUDROUTE_VERSION='"$(VERSION)"' $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS:= -pie -Wl,-z,relro,-z,now $(SANFLAGS) $(LDFLAGS)
LIBS       := $(PKG_LIBS) -lpthread

LIB_SRCS   := $(filter-out agent/main.c, $(wildcard common/*.c netcfg/*.c dataplane/*.c \
              providers/*.c providers/*/*.c agent/*.c))
LIB_OBJS   := $(LIB_SRCS:%.c=$(B)/%.o)
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
DP_UNIT_BINS := $(filter $(B)/tests/test_dp_%, $(UNIT_BINS))

.PHONY: all clean check deps lint unit unit-dp integration demo bench fuzz install deb deb-check
all: cloudroute

cloudroute: $(B)/cloudroute
	cp $< $@

$(B)/cloudroute: $(B)/agent/main.o $(B)/libcloudroute.a
	@echo "  LD      $@"
	@$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(B)/libcloudroute.a: $(LIB_OBJS)
	@rm -f $@
	@ar rcs $@ $^

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(B)/libcloudroute.a
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(ALL_CFLAGS) -Wno-unused-parameter $(shell $(PKG_CONFIG) --cflags cmocka) -o $@ $< \
	    $(B)/libcloudroute.a $(ALL_LDFLAGS) $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka)

# Small drivers used by integration tests (tests/tools/*.c).
$(B)/tests/tools/%: tests/tools/%.c $(B)/libcloudroute.a
	@mkdir -p $(dir $@)
	@echo "  TOOL    $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libcloudroute.a $(ALL_LDFLAGS) $(LIBS)

BENCH_SRCS := $(wildcard tests/bench/bench_*.c) tests/bench/hsflood.c
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(B)/bench/%)
$(B)/bench/%: tests/bench/%.c $(B)/libcloudroute.a
	@mkdir -p $(dir $@)
	@echo "  BENCH   $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libcloudroute.a $(ALL_LDFLAGS) $(LIBS)

unit: $(UNIT_BINS)
	@tests/run-unit.sh $(UNIT_BINS)

# The data-plane tests alone (with SANITIZE=thread: its threads under TSan).
unit-dp: $(DP_UNIT_BINS)
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 $(TSAN_OPTIONS)" \
	    tests/run-unit.sh $(DP_UNIT_BINS)

deps:
	@tests/install-deps.sh

lint:
	@tests/lint.sh

integration: cloudroute
	@tests/integration/run.sh

# The order matters: deps first (a fresh machine has no libraries), then a
# -Werror build, then unit tests under sanitizers, then namespaces.
check: deps
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory WERROR=1 cloudroute
	@$(MAKE) --no-print-directory WERROR=1 SANITIZE=1 unit
	@$(MAKE) --no-print-directory WERROR=1 SANITIZE=thread unit-dp
	@$(MAKE) --no-print-directory WERROR=1 integration

demo: deps
	@$(MAKE) --no-print-directory cloudroute
	@rc=0; tests/sim/demo.sh || rc=1; tests/sim/demo_gcp.sh || rc=1; tests/sim/demo_oci.sh || rc=1; tests/sim/demo_openstack.sh || rc=1; exit $$rc

bench: deps
	@$(MAKE) --no-print-directory cloudroute $(BENCH_BINS)
	@tests/bench/run.sh
	@bash tests/bench/fleet_scale.sh
	@bash tests/bench/fleet_failover.sh

FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS  := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_LIBOBJS := $(LIB_SRCS:%.c=build-fuzz/%.o)
FUZZ_CFLAGS := -std=gnu11 -g -O1 -I. -DCLOUDROUTE_VERSION='"$(VERSION)"' -fsanitize=fuzzer-no-link,address,undefined $(PKG_CFLAGS) -MMD -MP

fuzz: $(FUZZ_BINS)
# keep the objects: a rebuild after one change recompiles one file
.SECONDARY: $(FUZZ_LIBOBJS) $(FUZZ_SRCS:%.c=build-fuzz/%.o)
build-fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@clang $(FUZZ_CFLAGS) -c -o $@ $<
build-fuzz/fuzz_%: build-fuzz/tests/fuzz/fuzz_%.o $(FUZZ_LIBOBJS)
	@echo "  FUZZ    $@"
	@clang -g -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)

install: cloudroute
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 cloudroute $(DESTDIR)$(SBINDIR)/cloudroute
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' units/cloudroute.service > $(DESTDIR)$(UNITDIR)/cloudroute.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/cloudroute.service
	install -m 0644 contrib/cloudroute.example.json README.md $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 man/cloudroute.8 $(DESTDIR)$(MANDIR)/man8/cloudroute.8
	install -m 0644 man/cloudroute.json.5 $(DESTDIR)$(MANDIR)/man5/cloudroute.json.5
	install -m 0644 contrib/bash-completion/cloudroute $(DESTDIR)$(BASHCOMPDIR)/cloudroute
	install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/cloudroute

# The Debian package from contrib/debian, built in a scratch copy of the tree
# (build-deb/); deb-check also runs lintian on it.
DEB_SRC    := build-deb/cloudroute-$(VERSION)
deb:
	@rm -rf build-deb && mkdir -p $(DEB_SRC)
	@tar -c --anchored --exclude=./.git --exclude=./build --exclude=./build-san \
	    --exclude=./build-fuzz --exclude=./build-deb --exclude=./cloudroute . | tar -x -C $(DEB_SRC)
	@cp -r contrib/debian $(DEB_SRC)/debian
	cd $(DEB_SRC) && dpkg-buildpackage -us -uc -b
	@ls build-deb/*.deb

deb-check: deb
	lintian --fail-on error,warning build-deb/*.changes

clean:
	rm -rf build build-san build-tsan build-fuzz build-deb cloudroute

-include $(shell find $(B) build-fuzz -name '*.d' 2>/dev/null)
