// A recorded write trace (crashtest/recorder/trace_format.h) read into memory.
//
// Errors: read_trace returns a one-line message naming the file and what is
// wrong with it (missing, not a trace, cut short).
// Threads: plain values.
#pragma once

#include "crashtest/recorder/trace_format.h"

#include <boost/system/result.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace fj::power_loss {

struct Op {
  record::OpKind kind{};
  std::uint32_t file = 0;
  std::uint64_t offset = 0;
  std::uint32_t flags = 0;
  std::string data;  // the payload

  static Op write(std::uint32_t file, std::uint64_t offset, std::string bytes, bool dsync = false);
  static Op open(std::uint32_t file, std::string name, bool created);
  static Op sync(std::uint32_t file);
  static Op dir_sync();
  static Op truncate(std::uint32_t file, std::uint64_t size);
  static Op rename(std::string from, std::string to);
  static Op unlink(std::string name);
  static Op mark(std::string text);
};

using Trace = std::vector<Op>;

boost::system::result<Trace, std::string> read_trace(const std::string& path);

}  // namespace fj::power_loss
