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
for header in "$@"; do
  if ! errors=$("$cxx" -std=c++20 -x c++ -fsyntax-only -I"$root" "$root/$header" 2>&1); then
    echo "$header: does not compile on its own: $errors"
    bad=1
    continue
  fi
  # The project's headers it includes (-MM), then all of them, system
  # headers too, for <lmdb.h> (-M).
  deps=$("$cxx" -std=c++20 -x c++ -MM -I"$root" "$root/$header")
  all=$("$cxx" -std=c++20 -x c++ -M -I"$root" "$root/$header")
  for dep in $(tr -d '\\' <<<"$deps"); do
    [[ $dep == *: || $dep == "$root/$header" ]] && continue
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
