#include "bench/measure.h"

#include <algorithm>
#include <cstdio>

#include <sys/resource.h>

namespace fj::bench {

Summary summarize(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return Summary{median, values.front(), values.back()};
}

double process_cpu_seconds() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::vector<double> rates(std::uint64_t count, const std::vector<double>& seconds) {
  std::vector<double> out;
  out.reserve(seconds.size());
  for (double s : seconds) out.push_back(static_cast<double>(count) / std::max(s, 1e-9));
  return out;
}

void Progress::note(std::string_view what) const {
  std::fprintf(stderr, "[forkjournal-bench %7.1f s] %.*s\n", clock_.seconds(),
               static_cast<int>(what.size()), what.data());
}

void Progress::fraction(std::string_view what, std::uint64_t done, std::uint64_t total) {
  if (total == 0) return;
  const std::uint64_t tenth = done * 10 / total;
  if (what != last_what_ || done < last_done_) {
    last_what_ = what;
    last_tenth_ = 0;
  }
  last_done_ = done;
  if (tenth == last_tenth_) return;
  last_tenth_ = tenth;
  note(std::string(what) + " " + grouped(done) + "/" + grouped(total));
}

void Progress::every_2s(std::string_view what, std::uint64_t done, std::uint64_t total) {
  const double now = clock_.seconds();
  if (now - last_tick_ < 2) return;
  last_tick_ = now;
  note(std::string(what) + " " + grouped(done) + "/" + grouped(total));
}

std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

}  // namespace fj::bench
