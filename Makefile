# rs: GNU make, no configure step. `make`, `make check`, `make install`.
# After changing SANITIZE, run `make clean`: objects are not rebuilt when
# flags change.
PREFIX  ?= /usr/local
BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man
SYSCONFDIR ?= $(PREFIX)/etc
DATADIR  = $(PREFIX)/share/rs
PKGS     = libcurl libsodium libjpeg libpng zlib sqlite3
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
           -Wall -Wextra -Werror -Ilib -DSYSCONFDIR='"$(SYSCONFDIR)"' \
           $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -ljq -lonig -lm -lpthread
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

PROGS = $(patsubst cmd/%.c,bin/%,$(wildcard cmd/rs-*.c))
LIBO  = $(patsubst %.c,%.o,$(wildcard lib/*.c))
TESTPROGS = tests/mkimg

all: $(PROGS)

bin/%: cmd/%.o lib/librs.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $< lib/librs.a $(LDLIBS)

tests/%: tests/%.o lib/librs.a
	$(CC) $(LDFLAGS) -o $@ $< lib/librs.a $(LDLIBS)

lib/librs.a: $(LIBO)
	$(AR) rcs $@ $(LIBO)

$(LIBO) $(patsubst %.c,%.o,$(wildcard cmd/*.c tests/*.c)): $(wildcard lib/*.h) Makefile

# The README's test command. Deps are installed first when missing.
check: all $(TESTPROGS)
	@contrib/install-deps --check 2>/dev/null || contrib/install-deps
	tests/run

# libFuzzer targets (clang): make fuzz; see fuzz/README
FUZZ_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -Ilib \
	-fsanitize=fuzzer,address,undefined $(shell pkg-config --cflags $(PKGS))
fuzz: fuzz/fuzz-img
fuzz/fuzz-img: fuzz/fuzz-img.c $(wildcard lib/*.c lib/*.h)
	clang $(FUZZ_CFLAGS) -o $@ fuzz/fuzz-img.c $(wildcard lib/*.c) $(LDLIBS)

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 \
	    $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(DATADIR)
	install -m 0755 $(PROGS) $(DESTDIR)$(BINDIR)
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/man1
	install -m 0644 man/*.7 $(DESTDIR)$(MANDIR)/man7
	for f in etc/*; do install -m 0644 $$f $(DESTDIR)$(DATADIR)/$$(basename $$f).sample; done
	test -e $(DESTDIR)$(SYSCONFDIR)/rs.conf || install -m 0644 etc/rs.conf $(DESTDIR)$(SYSCONFDIR)/rs.conf
	if [ -d web ]; then mkdir -p $(DESTDIR)$(DATADIR)/web && cp -R web/. $(DESTDIR)$(DATADIR)/web/; fi

lint:
	mandoc -Tlint -Wwarning man/*.1 man/*.7

clean:
	rm -rf bin cmd/*.o lib/*.o lib/librs.a tests/*.o $(TESTPROGS) fuzz/fuzz-img

.PHONY: all check fuzz install lint clean
.PRECIOUS: cmd/%.o tests/%.o
