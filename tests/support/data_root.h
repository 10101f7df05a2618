// Builds a VM manager data root (hypeman layout) inside a temp directory.
#pragma once

#include "support/temp_dir.h"

#include <filesystem>
#include <fstream>
#include <string>

namespace fj::testing {

class DataRoot {
 public:
  DataRoot() {
    std::filesystem::create_directories(path() + "/guests");
    std::filesystem::create_directories(path() + "/templates");
  }
  // A copy of a checked-in fixture (tests/fixtures/NAME).
  explicit DataRoot(const std::string& fixture) {
    std::filesystem::copy(std::string(FJ_FIXTURES) + "/" + fixture, path(),
                          std::filesystem::copy_options::recursive);
  }

  const std::string& path() const { return dir_.path(); }

  void instance(const std::string& id, const std::string& fork_of = "", bool is_template = false,
                const std::string& template_id = "") {
    raw(id, "{\"Id\": \"" + id + "\", \"Name\": \"n\", \"IsTemplate\": " +
                (is_template ? "true" : "false") + ", \"TemplateID\": \"" + template_id +
                "\", \"ForkOfTemplate\": \"" + fork_of + "\", \"Extra\": {\"x\": [1, 2]}}");
  }
  void raw(const std::string& id, const std::string& bytes) {
    std::filesystem::create_directories(path() + "/guests/" + id);
    std::ofstream(path() + "/guests/" + id + "/metadata.json", std::ios::trunc) << bytes;
  }
  // guests/<id>/snapshots/snapshot-latest/, created.
  std::string snapshot_dir(const std::string& id) const {
    const std::string dir = path() + "/guests/" + id + "/snapshots/snapshot-latest";
    std::filesystem::create_directories(dir);
    return dir;
  }
  // A private memory file.
  void memory(const std::string& id, const std::string& bytes = "memory") {
    std::ofstream(snapshot_dir(id) + "/memory", std::ios::trunc) << bytes;
  }
  // A fork's memory as a symlink to `to`'s, by absolute path (the registry
  // layout); guests/<to> is not created.
  void memory_symlink(const std::string& id, const std::string& to) {
    std::filesystem::create_symlink(path() + "/guests/" + to + "/snapshots/snapshot-latest/memory",
                                    snapshot_dir(id) + "/memory");
  }
  // A fork's memory as a hardlink of `to`'s (the successor layout).
  void memory_hardlink(const std::string& id, const std::string& to) {
    std::filesystem::create_hard_link(snapshot_dir(to) + "/memory", snapshot_dir(id) + "/memory");
  }
  // A directory without metadata.json (a delete that died part-way).
  void leftover(const std::string& id) {
    std::filesystem::create_directories(path() + "/guests/" + id);
  }
  void remove(const std::string& id) { std::filesystem::remove_all(path() + "/guests/" + id); }
  void template_dir(const std::string& id, const std::string& source, int fork_count = 0) {
    std::filesystem::create_directories(path() + "/templates/" + id);
    std::ofstream(path() + "/templates/" + id + "/template.json", std::ios::trunc)
        << "{\"id\": \"" << id << "\", \"name\": \"" << id << "\", \"source_instance_id\": \""
        << source << "\", \"fork_count\": " << fork_count << "}";
  }
  bool has_template_dir(const std::string& id) const {
    return std::filesystem::exists(path() + "/templates/" + id);
  }

 private:
  TempDir dir_;
};

}  // namespace fj::testing
