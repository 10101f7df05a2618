#include "crashtest/power_loss/trace.h"

#include <cstring>
#include <fstream>
#include <iterator>

namespace fj::power_loss {

using record::OpKind;

Op Op::write(std::uint32_t file, std::uint64_t offset, std::string bytes, bool dsync) {
  return Op{OpKind::write, file, offset, dsync ? record::kDsync : 0u, std::move(bytes)};
}
Op Op::open(std::uint32_t file, std::string name, bool created) {
  return Op{OpKind::open, file, created ? record::kOpenCreated : 0u, 0, std::move(name)};
}
Op Op::sync(std::uint32_t file) {
  return Op{OpKind::sync, file, 0, 0, {}};
}
Op Op::dir_sync() {
  return Op{OpKind::dir_sync, 0, 0, 0, {}};
}
Op Op::truncate(std::uint32_t file, std::uint64_t size) {
  return Op{OpKind::truncate, file, size, 0, {}};
}
Op Op::rename(std::string from, std::string to) {
  return Op{OpKind::rename, 0, 0, 0, from + std::string(1, '\0') + to};
}
Op Op::unlink(std::string name) {
  return Op{OpKind::unlink, 0, 0, 0, std::move(name)};
}
Op Op::mark(std::string text) {
  return Op{OpKind::mark, 0, 0, 0, std::move(text)};
}

boost::system::result<Trace, std::string> read_trace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot read the trace " + path + ": " + std::strerror(errno);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!bytes.starts_with(record::kTraceMagic)) return path + " is not a write trace";
  Trace trace;
  std::size_t at = record::kTraceMagic.size();
  while (at < bytes.size()) {
    record::TraceOp header;
    if (bytes.size() - at < sizeof header) {
      return path + " is cut short inside the header of operation " + std::to_string(trace.size());
    }
    std::memcpy(&header, bytes.data() + at, sizeof header);
    at += sizeof header;
    if (bytes.size() - at < header.payload) {
      return path + " is cut short inside the payload of operation " + std::to_string(trace.size());
    }
    if (header.kind < OpKind::open || header.kind > OpKind::shared_map) {
      return path + ": operation " + std::to_string(trace.size()) + " has an unknown kind " +
             std::to_string(static_cast<std::uint32_t>(header.kind));
    }
    trace.push_back(Op{header.kind, header.file, header.offset, header.flags,
                       bytes.substr(at, header.payload)});
    at += header.payload;
  }
  return trace;
}

}  // namespace fj::power_loss
