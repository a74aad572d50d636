# SPDX-License-Identifier: MIT
# Thin wrapper around meson/ninja.  Every target first installs what is
# missing (scripts/setup.sh, Debian packages only).

MESON ?= meson
NINJA ?= ninja

.PHONY: all setup build build-asan build-tsan build-tsan-check check check-full demo bench fuzz format clean

all: build

setup:
	@sh scripts/setup.sh

build/build.ninja:
	$(MESON) setup build --buildtype=release -Db_ndebug=false >/dev/null

build: setup build/build.ninja
	@$(NINJA) -C build

# AddressSanitizer+UBSan (clang: its UBSan checks pointer arithmetic too,
# and a run starts faster than gcc's, whose separate libubsan LSan scans
# at every exit).
build-asan/build.ninja:
	CC=clang $(MESON) setup build-asan -Db_sanitize=address,undefined \
		-Db_lundef=false --buildtype=debug >/dev/null

build-asan: setup build-asan/build.ninja
	@$(NINJA) -C build-asan

# ThreadSanitizer (clang): the unit tests' many-threads cases and every
# interop suite (convert -m) run under it too.
build-tsan/build.ninja:
	CC=clang $(MESON) setup build-tsan -Db_sanitize=thread \
		-Db_lundef=false --buildtype=debug >/dev/null

build-tsan: setup build-tsan/build.ninja
	@$(NINJA) -C build-tsan

# What make check runs under TSan: the concurrency unit tests and the qimg
# and qimg-nbd of the interop suites in tests/run-all.sh's TSAN_SUITES (the
# rest of the TSan build, a third of its compile time, is check-full's).
TSAN_UNITS = test-concurrency test-io test-bitmap
build-tsan-check: setup build-tsan/build.ninja
	@$(NINJA) -C build-tsan qimg qimg-nbd $(addprefix tests/unit/,$(TSAN_UNITS))

# check: every suite on the release build; unit tests and fuzz replay under
# ASan+UBSan with a sample of interop suites; the concurrency tests under
# TSan.  check-full: every suite under every build.
check: build build-asan build-tsan-check
	@MODE=check TSAN_UNITS="$(TSAN_UNITS)" bash tests/run-all.sh

check-full: build build-asan build-tsan
	@MODE=full bash tests/run-all.sh

demo: build
	@bash scripts/demo.sh

bench: build
	@bash bench/run.sh && bash bench/nbd.sh

build-fuzz/build.ninja:
	CC=clang $(MESON) setup build-fuzz -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null

fuzz: setup build-fuzz/build.ninja
	@$(NINJA) -C build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan build-fuzz
