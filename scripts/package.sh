#!/usr/bin/env bash
# package.sh [cmake -D options...]: builds the Debian package
# build/forkjournal_<version>_amd64.deb (CPack's DEB generator over the
# `cmake --install` rules, cmake/package.cmake) in its own Release build,
# build-package/, without tests and benchmarks unless the options turn them
# on. Compiler and linker flags come from dpkg-buildflags with every
# hardening feature on, as a Debian build would have them. The options go to
# CMake after this script's own, so they win: the test command builds the
# suite into this build too and adds -DFJ_WERROR=ON. Prints the package's
# path.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
# The Release build type supplies the optimisation; the package is stripped,
# so debug information would only slow the build.
package_cxxflags="$CPPFLAGS $(sed -e 's/ -g / /' -e 's/ -O2 / /' <<<" $CXXFLAGS ")"

cmake -S . -B build-package -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DFJ_BUILD_TESTS=OFF -DFJ_BUILD_BENCH=OFF -DFJ_PACKAGE=ON \
  -DCMAKE_INSTALL_PREFIX=/usr -DFJ_SYSTEMD_UNIT_DIR=/lib/systemd/system \
  "-DCMAKE_CXX_FLAGS=$package_cxxflags" "-DCMAKE_EXE_LINKER_FLAGS=$LDFLAGS" \
  "-DCMAKE_MODULE_LINKER_FLAGS=$LDFLAGS" "-DCMAKE_SHARED_LINKER_FLAGS=$LDFLAGS" "$@" >/dev/null
cmake --build build-package -j2 >&2
rm -f build-package/forkjournal_*.deb
(cd build-package && cpack -G DEB >&2)
debs=(build-package/forkjournal_*_amd64.deb)
mkdir -p build
cp "${debs[0]}" build/
echo "build/$(basename "${debs[0]}")"
