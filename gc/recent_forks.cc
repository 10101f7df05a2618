#include "gc/recent_forks.h"

#include "journal/codec.h"

#include <string>

namespace fj::gc {

std::optional<RecentFork> RecentForks::find(std::string_view fork,
                                            std::string_view template_id) const {
  if (const auto it = forks.find(std::string(fork));
      it != forks.end() && it->second.template_id == template_id) {
    return it->second;
  }
  if (cut_short) return RecentFork{std::string(template_id), 0, 0};
  return std::nullopt;
}

Result<RecentForks> find_recent_forks(Reader& reader, std::uint64_t head, std::uint64_t since_ns,
                                      std::uint64_t limit) {
  RecentForks recent;
  EventView e;
  for (std::uint64_t seq = head, walked = 0; seq > 0; --seq, ++walked) {
    if (walked == limit) {
      recent.cut_short = true;
      break;
    }
    auto record = reader.record(seq);
    if (!record) return record.error();
    if (!*record)
      return make_error(Errc::seq_gap, "seq " + std::to_string(seq) + " is missing", seq);
    if (auto ok = decode_into(seq, **record, e); !ok) return ok.error();
    if (e.time_ns < since_ns) break;
    if (e.type == EventType::fork_added) {  // the newest of an id is met first
      recent.forks.try_emplace(std::string(e.fork),
                               RecentFork{std::string(e.template_id), seq, e.time_ns});
    }
  }
  return recent;
}

}  // namespace fj::gc
