# BurrowDB build. `make` builds the library; `make test` runs every test,
# also under AddressSanitizer and UndefinedBehaviorSanitizer; `make bench`
# builds the benchmark harness. Out-of-tree: everything goes to $(BUILD).

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
OPT     ?= -O2
SAN     ?=

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
               -Wno-unused-function -g -fPIC -pthread -Iinclude -Isrc
ifeq ($(SAN),1)
  CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDSAN := -fsanitize=address,undefined
  OPT := -O1
endif
CFLAGS  := $(CFLAGS_BASE) $(OPT) $(EXTRA_CFLAGS)
LDLIBS  := -pthread -lm

LIB_SRC := $(wildcard src/base/*.c) $(wildcard src/store/*.c) $(wildcard src/doc/*.c) $(wildcard src/tier/*.c) $(wildcard src/query/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)

# The server (src/server: the data thread and the commands; src/net: the
# network threads) is not part of libburrow: it is a client of it. Its
# objects go into libburrowsrv.a, which the tests link too; burrowd's main
# lives in src/bin.
SRV_SRC := $(wildcard src/server/*.c) $(wildcard src/net/*.c)
SRV_OBJ := $(SRV_SRC:%.c=$(BUILD)/%.o)
SRV_LIBS := -luv

TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_LIB  := $(wildcard tests/lib/*.c)
TEST_LOBJ := $(TEST_LIB:%.c=$(BUILD)/%.o)

.PHONY: all lib tests test test-fast test-san bench example clean install fuzz

all: lib $(BUILD)/examples/hello $(BUILD)/burrowd $(BUILD)/burrow

lib: $(BUILD)/libburrow.a $(BUILD)/libburrow.so $(BUILD)/burrow.pc

$(BUILD)/%.o: %.c $(wildcard include/*.h src/*/*.h tests/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libburrow.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libburrow.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libburrow.so.0 $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/libburrowsrv.a: $(SRV_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/burrowd: src/bin/burrowd.c $(BUILD)/libburrowsrv.a $(BUILD)/libburrow.a
	$(CC) $(CFLAGS) $< -o $@ $(BUILD)/libburrowsrv.a $(BUILD)/libburrow.a $(LDSAN) $(SRV_LIBS) $(LDLIBS)

# burrow, the shell and toolbox (src/cli): a client of libburrow and of
# server/ (its embedded mode runs burrowd's command table on a file).
CLI_SRC := $(wildcard src/cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
CLI_LIBS := -lhiredis -ledit

$(BUILD)/burrow: $(CLI_OBJ) $(BUILD)/libburrowsrv.a $(BUILD)/libburrow.a
	$(CC) $(CFLAGS) $(CLI_OBJ) -o $@ $(BUILD)/libburrowsrv.a $(BUILD)/libburrow.a $(LDSAN) $(CLI_LIBS) $(SRV_LIBS) $(LDLIBS)

$(BUILD)/burrow.pc: burrow.pc.in
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|0.1.0|' $< > $@

$(BUILD)/examples/%: examples/%.c $(BUILD)/libburrow.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(BUILD)/libburrow.a $(LDSAN) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_LOBJ) $(BUILD)/libburrowsrv.a $(BUILD)/libburrow.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib $< -o $@ $(TEST_LOBJ) $(BUILD)/libburrowsrv.a $(BUILD)/libburrow.a \
		$(LDSAN) -lcmocka -lhiredis $(SRV_LIBS) $(LDLIBS)

# The server tests start build/burrowd (or $(BUILD)/burrowd) as a process,
# the CLI tests $(BUILD)/burrow.
tests: $(TEST_BIN) $(BUILD)/burrowd $(BUILD)/burrow

# Runs every test binary; each prints cmocka's summary. Extra arguments for
# the randomised tests come from TEST_ARGS (e.g. TEST_ARGS=--long).
test-fast: tests
	@scripts/run-tests.sh $(BUILD)/tests $(TEST_ARGS)

test-san:
	$(MAKE) BUILD=build/san SAN=1 tests
	@scripts/run-tests.sh build/san/tests $(TEST_ARGS)

test: test-fast test-san

# libFuzzer targets (clang): the library built again with coverage and
# sanitizers into build/fuzz, then one binary per fuzz/fuzz_*.c.
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all

fuzz:
	$(MAKE) BUILD=build/fuzz/obj CC=clang OPT="-O1 -fno-omit-frame-pointer" \
		EXTRA_CFLAGS="$(FUZZ_FLAGS)" build/fuzz/obj/libburrow.a
	$(MAKE) $(FUZZ_BIN)

build/fuzz/%: fuzz/%.c build/fuzz/obj/libburrow.a
	$(MAKE) BUILD=build/fuzz/obj CC=clang OPT="-O1 -fno-omit-frame-pointer" \
		EXTRA_CFLAGS="$(FUZZ_FLAGS)" build/fuzz/obj/libburrowsrv.a
	clang $(CFLAGS_BASE) -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		$< -o $@ build/fuzz/obj/libburrowsrv.a build/fuzz/obj/libburrow.a -lm $(LDLIBS)

bench: lib
	$(MAKE) -C bench BUILD=../$(BUILD)

example: $(BUILD)/examples/hello

install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/burrow.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libburrow.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libburrow.so $(DESTDIR)$(PREFIX)/lib/libburrow.so.0.1.0
	ln -sf libburrow.so.0.1.0 $(DESTDIR)$(PREFIX)/lib/libburrow.so.0
	ln -sf libburrow.so.0 $(DESTDIR)$(PREFIX)/lib/libburrow.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|0.1.0|' burrow.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/burrow.pc

clean:
	rm -rf build
