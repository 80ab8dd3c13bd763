# rs: GNU make, no configure step. `make`, `make check`, `make install`.
# `make check SANITIZE=1` builds with ASan+UBSan; objects are rebuilt
# whenever the flags change (.cflags records them).
PREFIX  ?= /usr/local
BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
DATADIR  = $(PREFIX)/share/rs
PKGS     = libcurl libsodium libjpeg libpng zlib sqlite3
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
           -Wall -Wextra -Werror -Ilib -DSYSCONFDIR='"$(SYSCONFDIR)"' \
           $(shell pkg-config --cflags $(PKGS)) $(shell pkg-config --cflags libpq)
# libpq's header only: lib/pg.c loads the library with dlopen when
# RS_DATABASE asks for PostgreSQL, so no program links it
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -ljq -lonig -lm -lpthread -ldl
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

PROGS = $(patsubst cmd/%.c,bin/%,$(wildcard cmd/rs-*.c))
LIBO  = $(patsubst %.c,%.o,$(wildcard lib/*.c))
TESTPROGS = tests/mkimg tests/imgcmp

all: $(PROGS)

# program objects live under bin/.o, so cmd/ holds only the sources
bin/.o/%.o: cmd/%.c
	@mkdir -p bin/.o
	$(CC) $(CFLAGS) -c -o $@ $<

# programs are linked beside and renamed into place, so a test running
# bin/rs-x while make relinks it never finds a half-written file
bin/%: bin/.o/%.o lib/librs.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@.$$$$ $< lib/librs.a $(LDLIBS) && mv -f $@.$$$$ $@

# rs-serve is exec'd once per connection: dynamic linking would cost each
# one more than the request. Link its libraries statically where Debian
# ships the archives (libjq and libonig have none), else as usual; and not
# position-independent, which spares thousands of relocations per exec.
SERVE_A   = sodium sqlite3 png16 jpeg z
SERVE_LIB = $(if $(strip $(foreach l,$(SERVE_A),$(if $(filter /%,$(shell $(CC) -print-file-name=lib$(l).a)),,x))), \
	$(LDLIBS), -Wl,-Bstatic $(addprefix -l,$(SERVE_A)) -Wl,-Bdynamic -ljq -lonig -lm -lpthread -ldl)
bin/rs-serve: bin/.o/rs-serve.o lib/librs.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -no-pie -o $@.$$$$ $< lib/librs.a $(SERVE_LIB) && mv -f $@.$$$$ $@

tests/%: tests/%.o lib/librs.a
	$(CC) $(LDFLAGS) -o $@ $< lib/librs.a $(LDLIBS)

# etc/plans.json and etc/stripe.json are compiled in as defaults
# (RS_PLANS and RS_STRIPE_CONF override them)
lib/%.inc: etc/%.json
	sed 's/\\/\\\\/g; s/"/\\"/g; s/^/"/; s/$$/\\n"/' $< >$@
lib/ledger.o: lib/plans.inc
lib/stripe.o: lib/stripe.inc
lib/openapi.inc: lib/openapi.json
	sed 's/\\/\\\\/g; s/"/\\"/g; s/^/"/; s/$$/\\n"/' $< >$@
lib/api.o: lib/openapi.inc
lib/api.o: CFLAGS += -DDATADIR='"$(DATADIR)"'

lib/librs.a: $(LIBO)
	$(AR) rcs $@ $(LIBO)

$(LIBO) $(patsubst cmd/%.c,bin/.o/%.o,$(wildcard cmd/*.c)) $(patsubst %.c,%.o,$(wildcard tests/*.c bench/*.c)): $(wildcard lib/*.h) Makefile .cflags

.cflags: FORCE
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(LDFLAGS)' >$@

# Runs the whole suite; its last line is "N passed, N failed".
check: all $(TESTPROGS)
	RS_SANITIZE=$(SANITIZE) tests/run

bench/ledger: bench/ledger.o lib/librs.a
	$(CC) $(LDFLAGS) -o $@ $< lib/librs.a $(LDLIBS)

# libFuzzer targets (clang): make fuzz; see fuzz/README
FUZZ_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -Ilib \
	-fsanitize=fuzzer,address,undefined $(shell pkg-config --cflags $(PKGS))
fuzz: fuzz/fuzz-img fuzz/fuzz-http fuzz/fuzz-multipart
fuzz/fuzz-http: fuzz/fuzz-http.c lib/http.c lib/http.h lib/util.c lib/util.h
	clang $(FUZZ_CFLAGS) -o $@ fuzz/fuzz-http.c lib/http.c lib/util.c $(LDLIBS)
fuzz/fuzz-multipart: fuzz/fuzz-http.c lib/http.c lib/http.h lib/util.c lib/util.h
	clang $(FUZZ_CFLAGS) -DFUZZ_MULTIPART -o $@ fuzz/fuzz-http.c lib/http.c lib/util.c $(LDLIBS)
fuzz/fuzz-img: fuzz/fuzz-img.c lib/img.c lib/img.h lib/util.c lib/util.h lib/conf.c
	clang $(FUZZ_CFLAGS) -o $@ fuzz/fuzz-img.c lib/img.c lib/util.c lib/conf.c $(LDLIBS)

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(DATADIR)
	install -m 0755 $(PROGS) $(DESTDIR)$(BINDIR)
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/man1
	install -m 0644 man/*.7 $(DESTDIR)$(MANDIR)/man7
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8
	for f in etc/*; do install -m 0644 $$f $(DESTDIR)$(DATADIR)/$$(basename $$f).sample; done
	test -e $(DESTDIR)$(SYSCONFDIR)/rs.conf || install -m 0644 etc/rs.conf $(DESTDIR)$(SYSCONFDIR)/rs.conf
	if [ -d web ]; then mkdir -p $(DESTDIR)$(DATADIR)/web && cp -R web/. $(DESTDIR)$(DATADIR)/web/; fi

lint:
	mandoc -Tlint -Wwarning man/*.1 man/*.7 man/*.8

clean:
	rm -rf .cflags bin lib/*.o lib/*.inc lib/librs.a tests/*.o bench/*.o bench/ledger $(TESTPROGS) fuzz/fuzz-img fuzz/fuzz-http fuzz/fuzz-multipart

.PHONY: all check fuzz install lint clean FORCE
.PRECIOUS: bin/.o/%.o tests/%.o
