// Compiled by ctest, never linked: with DISCARD defined it drops a Result on
// the floor and must not compile (Result is [[nodiscard]]); without, it must.
#include "journal/error.h"

fj::Result<void> fallible();

bool caller() {
#ifdef DISCARD
  fallible();
  return true;
#else
  return fallible().has_value();
#endif
}
