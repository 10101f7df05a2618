#include "daemon/internal/open_journal.h"

#include <filesystem>

namespace fj::service {

Result<OpenedJournal> open_or_create(const std::string& dir, SyncMode sync,
                                     std::size_t max_map_size, const RequestWindow& requests) {
  const JournalOptions options{.sync = sync, .max_map_size = max_map_size, .requests = requests};
  std::error_code ec;
  const bool fresh =
      !std::filesystem::exists(dir, ec) ||
      (std::filesystem::is_directory(dir, ec) && std::filesystem::is_empty(dir, ec)) ||
      Journal::interrupted_init(dir);
  if (fresh) {
    auto created = Journal::create(dir, options);
    if (created) return OpenedJournal{std::move(*created), true};
    if (created.error().code != Errc::already_a_journal) return created.error();
  }
  auto opened = Journal::open(dir, options);
  if (!opened) return opened.error();
  return OpenedJournal{std::move(*opened), false};
}

}  // namespace fj::service
