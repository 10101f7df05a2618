#!/usr/bin/env bash
# Checks the installed headers' contract: each public header compiles on its
# own, everything of the project it includes is itself in the list (so the
# installed copy is complete), and none of that is an internal/ header or
# LMDB's <lmdb.h>, so an embedder needs neither.
# Usage: public_headers_check.sh CXX SOURCE_ROOT HEADER...
# Prints one line per problem; exit 1 if any.
set -euo pipefail
cxx=${1:?usage: public_headers_check.sh CXX SOURCE_ROOT HEADER...}
root=${2:?usage: public_headers_check.sh CXX SOURCE_ROOT HEADER...}
shift 2
bad=0
deps_file=$(mktemp)
trap 'rm -f "$deps_file"' EXIT
for header in "$@"; do
  # One compiler pass checks that the header compiles on its own and lists
  # everything it includes, system headers too (for <lmdb.h>).
  if ! errors=$("$cxx" -std=c++20 -x c++ -fsyntax-only -MD -MF "$deps_file" -I"$root" \
    "$root/$header" 2>&1); then
    echo "$header: does not compile on its own: $errors"
    bad=1
    continue
  fi
  all=$(tr -d '\\' <"$deps_file")
  for dep in $all; do
    [[ $dep == *: || $dep == "$root/$header" || $dep != "$root"/* ]] && continue
    if [[ $dep == */internal/* ]]; then
      echo "$header: includes internal header ${dep#"$root"/}"
      bad=1
    elif [[ " $* " != *" ${dep#"$root"/} "* ]]; then
      echo "$header: includes ${dep#"$root"/}, which is not installed"
      bad=1
    fi
  done
  if grep -q '/lmdb\.h\b' <<<"$all"; then
    echo "$header: pulls in <lmdb.h>"
    bad=1
  fi
done
exit $bad
