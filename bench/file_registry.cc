#include "bench/file_registry.h"

#include "gc/internal/fd.h"

#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace fj::bench {
namespace {

namespace fs = std::filesystem;

Result<void> write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("write " + path, errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

Result<FileRegistry> FileRegistry::open(const std::string& root) {
  const std::string templates = root + "/templates";
  if (::mkdir(templates.c_str(), 0755) != 0 && errno != EEXIST) {
    return errno_error("mkdir " + templates, errno);
  }
  return FileRegistry(templates);
}

Result<void> FileRegistry::write(const std::string& id, const Entry& entry) const {
  const std::string dir = templates_ + "/" + id;
  const std::string path = dir + "/template.json";
  const std::string temp = path + ".tmp";
  const std::string json = boost::json::serialize(boost::json::object{
      {"id", id},
      {"name", entry.name},
      {"source_instance_id", entry.source},
      {"fork_count", entry.fork_count},
      {"created_at", entry.created_ns},
  });
  gc::Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return errno_error("open " + temp, errno);
  auto written = write_all(fd.get(), json, temp);
  if (written && ::fsync(fd.get()) != 0) written = errno_error("fsync " + temp, errno);
  fd.reset();
  if (!written) return written;
  if (::rename(temp.c_str(), path.c_str()) != 0) return errno_error("rename " + temp, errno);
  return {};
}

Result<void> FileRegistry::apply(const EventView& e) {
  const std::string id(e.template_id);
  switch (e.type) {
    case EventType::template_registered: {
      const std::string dir = templates_ + "/" + id;
      if (::mkdir(dir.c_str(), 0755) != 0) return errno_error("mkdir " + dir, errno);
      Entry& entry = entries_[id];
      entry = Entry{std::string(e.name), std::string(e.source), e.time_ns, 0};
      return write(id, entry);
    }
    case EventType::fork_added:
    case EventType::fork_recovered:
    case EventType::fork_removed:
    case EventType::fork_lost: {
      const auto it = entries_.find(id);
      if (it == entries_.end()) {
        return make_error(Errc::not_found, "registry: no template " + id);
      }
      const bool add = e.type == EventType::fork_added || e.type == EventType::fork_recovered;
      it->second.fork_count += add ? 1 : -1;
      return write(id, it->second);
    }
    case EventType::template_retired: {
      std::error_code ec;
      fs::remove_all(templates_ + "/" + id, ec);
      if (ec) return errno_error("remove " + templates_ + "/" + id, ec.value());
      entries_.erase(id);
      return {};
    }
    case EventType::reconcile_run:
      return {};
  }
  return {};
}

}  // namespace fj::bench
