// Timing, repetition and progress helpers shared by the harness commands.
#pragma once

#include "journal/error.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fj::bench {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// The median, min and max of a figure's repetitions.
struct Summary {
  double median = 0;
  double min = 0;
  double max = 0;
};

// Precondition: !values.empty().
Summary summarize(std::vector<double> values);

// Runs once() one time to warm up and discards the value, then `reps` more
// times, returning the values it reported (seconds, megabytes, ...). Stops at
// the first error.
template <class Once>
Result<std::vector<double>> repeat(int reps, Once&& once) {
  std::vector<double> values;
  for (int i = 0; i <= reps; ++i) {
    Result<double> v = once();
    if (!v) return v.error();
    if (i > 0) values.push_back(*v);
  }
  return values;
}

// Turns per-repetition seconds into per-repetition rates (count / seconds).
std::vector<double> rates(std::uint64_t count, const std::vector<double>& seconds);

// CPU seconds (user + system) this process used so far, all its threads.
double process_cpu_seconds();

// Progress lines on stderr: "[forkjournal-bench   12.3 s] <what>".
class Progress {
 public:
  void note(std::string_view what) const;
  // "<what> <done>/<total>" each time another tenth of the way is done.
  void fraction(std::string_view what, std::uint64_t done, std::uint64_t total);
  // "<what> <done>/<total>" at most every 2 s: for a step that is long per
  // item (an fsync each), whose tenths can be many seconds apart.
  void every_2s(std::string_view what, std::uint64_t done, std::uint64_t total);
  double elapsed() const { return clock_.seconds(); }

 private:
  Stopwatch clock_;
  std::string last_what_;
  std::uint64_t last_done_ = 0;
  std::uint64_t last_tenth_ = 0;
  double last_tick_ = 0;
};

// 1234567 -> "1,234,567".
std::string grouped(std::uint64_t n);

}  // namespace fj::bench
