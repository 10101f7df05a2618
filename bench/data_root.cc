#include "bench/data_root.h"

#include "bench/workload.h"
#include "gc/internal/fd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

namespace fj::bench {
namespace {

using gc::Fd;

// A new directory `name` in `parent`, opened.
Result<Fd> make_dir(int parent, const std::string& parent_path, const std::string& name) {
  if (::mkdirat(parent, name.c_str(), 0755) != 0) {
    return errno_error("mkdir " + parent_path + "/" + name, errno);
  }
  Fd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return errno_error("open " + parent_path + "/" + name, errno);
  return fd;
}

Result<void> write_file(int dir, const std::string& dir_path, const char* name,
                        std::string_view bytes) {
  Fd fd(::openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return errno_error("create " + dir_path + "/" + name, errno);
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd.get(), bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error("write " + dir_path + "/" + name, errno);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

std::string instance_json(const std::string& id, std::string_view name, bool is_template,
                          std::string_view template_id, std::string_view fork_of) {
  return "{\"Id\":\"" + id + "\",\"Name\":\"" + std::string(name) +
         "\",\"IsTemplate\":" + (is_template ? "true" : "false") + ",\"TemplateID\":\"" +
         std::string(template_id) + "\",\"ForkOfTemplate\":\"" + std::string(fork_of) + "\"}\n";
}

std::string template_json(const std::string& id, const std::string& source) {
  return "{\"id\":\"" + id + "\",\"name\":\"" + id + "\",\"source_instance_id\":\"" + source +
         "\",\"fork_count\":0}\n";
}

// The memory file of one instance.
struct Memory {
  enum Kind { regular, symlink, hardlink } kind = regular;
  const std::string* target = nullptr;  // absolute path, for symlink and hardlink
};

class Builder {
 public:
  explicit Builder(std::string root)
      : root_(std::move(root)), memory_bytes_(kMemoryFileBytes, 'm') {}
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  Result<void> open() {
    Fd root(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root) return errno_error("open " + root_, errno);
    for (auto [name, fd] : {std::pair{"guests", &guests_}, std::pair{"templates", &templates_}}) {
      auto dir = make_dir(root.get(), root_, name);
      if (!dir) return dir.error();
      *fd = std::move(*dir);
    }
    return {};
  }

  Result<void> add_template(const std::string& id, const std::string& source) {
    auto dir = make_dir(templates_.get(), root_ + "/templates", id);
    if (!dir) return dir.error();
    Fd fd = std::move(*dir);
    return write_file(fd.get(), root_ + "/templates/" + id, "template.json",
                      template_json(id, source));
  }

  // guests/<id>/metadata.json and guests/<id>/snapshots/snapshot-latest/memory;
  // returns the memory file's absolute path.
  Result<std::string> add_instance(const std::string& id, const std::string& metadata,
                                   Memory memory) {
    std::string path = root_ + "/guests/" + id;
    auto dir = make_dir(guests_.get(), root_ + "/guests", id);
    if (!dir) return dir.error();
    Fd guest = std::move(*dir);
    if (auto ok = write_file(guest.get(), path, "metadata.json", metadata); !ok) return ok.error();
    auto snapshots = make_dir(guest.get(), path, "snapshots");
    if (!snapshots) return snapshots.error();
    Fd snapshots_fd = std::move(*snapshots);
    path += "/snapshots";
    auto latest = make_dir(snapshots_fd.get(), path, "snapshot-latest");
    if (!latest) return latest.error();
    Fd latest_fd = std::move(*latest);
    path += "/snapshot-latest";
    switch (memory.kind) {
      case Memory::regular:
        if (auto ok = write_file(latest_fd.get(), path, "memory", memory_bytes_); !ok) {
          return ok.error();
        }
        break;
      case Memory::symlink:
        if (::symlinkat(memory.target->c_str(), latest_fd.get(), "memory") != 0) {
          return errno_error("symlink " + path + "/memory -> " + *memory.target, errno);
        }
        break;
      case Memory::hardlink:
        if (::linkat(AT_FDCWD, memory.target->c_str(), latest_fd.get(), "memory", 0) != 0) {
          const int err = errno;
          const std::string what = "link " + *memory.target + " to " + path + "/memory";
          if (err != EMLINK) return errno_error(what, err);
          const char* const hint =
              ": too many links to one file (raise --templates or use symlinks)";
          return make_error(Errc::io_error, what + hint);
        }
        break;
    }
    return path + "/memory";
  }

 private:
  std::string root_;
  std::string memory_bytes_;
  Fd guests_;
  Fd templates_;
};

}  // namespace

Result<DataRootCounts> plan_data_root(const DataRootSpec& spec) {
  if (spec.templates == 0 || spec.instances < spec.templates) {
    return make_error(Errc::invalid_argument,
                      "--instances (" + grouped(spec.instances) +
                          ") must be at least --templates (" + grouped(spec.templates) +
                          ", at least 1): each template has a source instance");
  }
  DataRootCounts c;
  c.instances = spec.instances;
  c.templates = spec.templates;
  c.plain = std::min(spec.instances * kPlainPercent / 100, spec.instances - spec.templates);
  c.forks = spec.instances - spec.templates - c.plain;
  return c;
}

Result<DataRootCounts> build_data_root(const std::string& root, const DataRootSpec& spec,
                                       Progress& progress) {
  auto plan = plan_data_root(spec);
  if (!plan) return plan.error();
  const DataRootCounts c = *plan;
  Builder builder(root);
  if (auto ok = builder.open(); !ok) return ok.error();
  std::mt19937_64 rng(spec.seed);
  const std::string what = "building the data root";
  std::uint64_t done = 0;

  // Templates and their sources first: the forks' memory links point there.
  std::vector<std::string> template_ids;
  std::vector<std::string> source_memory;
  template_ids.reserve(c.templates);
  source_memory.reserve(c.templates);
  for (std::uint64_t t = 0; t < c.templates; ++t) {
    std::string tid = make_id("tpl", rng);
    const std::string source = make_id("src", rng);
    auto memory = builder.add_instance(source, instance_json(source, "n", true, tid, ""), Memory{});
    if (!memory) return memory.error();
    if (auto ok = builder.add_template(tid, source); !ok) return ok.error();
    template_ids.push_back(std::move(tid));
    source_memory.push_back(std::move(*memory));
    progress.fraction(what, ++done, c.instances);
  }

  // Forks with the plain instances spread evenly among them.
  const std::uint64_t rest = c.forks + c.plain;
  const Memory::Kind link = spec.links == MemoryLinks::symlink ? Memory::symlink : Memory::hardlink;
  std::uint64_t forks = 0;
  for (std::uint64_t i = 0; i < rest; ++i) {
    const bool plain = (i + 1) * c.plain / rest != i * c.plain / rest;
    if (plain) {
      const std::string id = make_id("ins", rng);
      auto ok = builder.add_instance(id, instance_json(id, "n", false, "", ""), Memory{});
      if (!ok) return ok.error();
    } else {
      const std::size_t t = forks++ % c.templates;
      const std::string id = make_id("frk", rng);
      auto ok = builder.add_instance(id, instance_json(id, "n", false, "", template_ids[t]),
                                     Memory{link, &source_memory[t]});
      if (!ok) return ok.error();
    }
    progress.fraction(what, ++done, c.instances);
  }
  return c;
}

}  // namespace fj::bench
