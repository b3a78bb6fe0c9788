#!/usr/bin/env bash
# Links the fuzz binary from the objects `swift build` compiled for fuzz/ (StrawberryFuzz and every
# dependency, instrumented with -sanitize=fuzzer,address) and libFuzzer's own main.
set -euo pipefail
cd "$(dirname "$0")/.."
# One object per array element: some dependencies name their files with spaces ("Integer rank.swift").
mapfile -t objs < <(find -L .build-fuzz/debug -name '*.o' -path '*.build/*' | grep -v -e '/StrawberryFuzzMain' -e 'PackageTests' -e 'ArgumentParser' -e '/strawberry.build/')
# The store (GRDB) links the system SQLite.
swiftc -sanitize=fuzzer,address "${objs[@]}" -lstdc++ -lz -lsqlite3 $(pkg-config --libs openblas) -o .build-fuzz/debug/StrawberryFuzz
echo "linked .build-fuzz/debug/StrawberryFuzz"
