#include "journal/error.h"

#include <boost/throw_exception.hpp>

#include <cstring>
#include <stdexcept>

namespace fj {
namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "forkjournal"; }
  std::string message(int ev) const override {
    return std::string(code_name(static_cast<Errc>(ev)));
  }
};

}  // namespace

const boost::system::error_category& category() noexcept {
  static const Category instance;
  return instance;
}

std::string_view code_name(Errc e) noexcept {
  switch (e) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::not_a_journal:
      return "not_a_journal";
    case Errc::already_a_journal:
      return "already_a_journal";
    case Errc::io_error:
      return "io_error";
    case Errc::lmdb_error:
      return "lmdb_error";
    case Errc::journal_full:
      return "journal_full";
    case Errc::stopping:
      return "stopping";
    case Errc::head_moved:
      return "head_moved";
    case Errc::unavailable:
      return "unavailable";
    case Errc::corrupt_record:
      return "corrupt_record";
    case Errc::checksum_mismatch:
      return "checksum_mismatch";
    case Errc::unknown_version:
      return "unknown_version";
    case Errc::unknown_type:
      return "unknown_type";
    case Errc::seq_gap:
      return "seq_gap";
    case Errc::corrupt_meta:
      return "corrupt_meta";
    case Errc::corrupt_page:
      return "corrupt_page";
    case Errc::already_exists:
      return "already_exists";
    case Errc::not_found:
      return "not_found";
    case Errc::retired:
      return "retired";
    case Errc::already_live:
      return "already_live";
    case Errc::in_use:
      return "in_use";
    case Errc::not_empty:
      return "not_empty";
  }
  return "unknown_error";
}

bool is_corruption(Errc e) noexcept {
  const int v = static_cast<int>(e);
  return v >= 20 && v < 40;
}

bool is_refusal(Errc e) noexcept {
  return static_cast<int>(e) >= 40;
}

void throw_exception_from_error(const Error& e, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(std::string(code_name(e.code)) + ": " + e.message),
                         loc);
}

Error errno_error(std::string_view what, int err) {
  return make_error(Errc::io_error, std::string(what) + ": " + std::strerror(err));
}

}  // namespace fj
