#!/bin/sh
# Installs a build into a temporary prefix and uses it as a new user would: the installed rwkvrt tool
# starts (it finds its library through its relative RPATH), and a C program builds against the
# installed package both with pkg-config and with CMake's find_package.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
"$prefix/bin/rwkvrt" --version

# The .pc file is relocatable: found by path, it names this prefix, wherever the build meant to go.
pc=$(find "$prefix" -name rwkvrt.pc)
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
case "$(pkg-config --cflags rwkvrt)" in *"$prefix"*) ;; *) echo "rwkvrt.pc does not name $prefix" >&2; exit 1 ;; esac
libdir=$(pkg-config --variable=libdir rwkvrt)
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
cc -std=c99 -Wall -Werror -o "$tmp/consumer-pkgconfig" "$src/tests/install/consumer.c" \
  $(pkg-config --cflags --libs rwkvrt) -Wl,-rpath,"$libdir"
"$tmp/consumer-pkgconfig"

cmake -S "$src/tests/install" -B "$tmp/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/consumer-build" >/dev/null
"$tmp/consumer-build/consumer"
echo "install into a temporary prefix: ok"
