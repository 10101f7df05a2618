// The project's one error model: every fallible call returns fj::Result<T>, a
// boost::system::result carrying either a value or an fj::Error. An Error holds
// a code in the forkjournal error category (so Asio and Boost.JSON code can
// compare against it), a one-line message that names the input at fault, and
// for corruption the sequence number of the damaged record. Exceptions are
// used only at the program edges (argument parsing), never inside the library.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace fj {

// Stable numeric values: the daemon's protocol names them by code_name().
enum class Errc : int {
  // Usage and environment (CLI exit code 2).
  invalid_argument = 1,   // a bad id, name, option or seq range
  not_a_journal = 2,      // the directory holds no forkjournal journal
  already_a_journal = 3,  // init on an existing journal
  io_error = 4,           // the operating system refused (errno in the message)
  lmdb_error = 5,         // LMDB returned an unexpected error
  journal_full = 6,       // the map reached its configured maximum size
  head_moved = 7,         // an expected-head check failed: someone appended first
  stopping = 8,           // the service is stopping: the request was not applied
  unavailable = 9,        // a remote service (NATS) cannot be reached or did not answer in time
  // Corruption (exit code 2; the Error carries the seq at fault).
  corrupt_record = 20,     // framing, lengths or field values are impossible
  checksum_mismatch = 21,  // the record's CRC32C does not match its bytes
  unknown_version = 22,    // a record or journal format this build does not read
  unknown_type = 23,       // an event type number this build does not know
  seq_gap = 24,            // the events database skips or repeats a seq
  corrupt_meta = 25,       // the meta database is damaged
  corrupt_page = 26,       // an LMDB page is damaged (seq: the first record it held)
  // Refusals by decide() (exit code 1).
  already_exists = 40,
  not_found = 41,
  retired = 42,
  already_live = 43,
  in_use = 44,
  not_empty = 45,  // import into a journal that already holds events
};

const boost::system::error_category& category() noexcept;

inline boost::system::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), category()};
}

// The snake_case identifier of a code ("in_use", "checksum_mismatch").
std::string_view code_name(Errc e) noexcept;

bool is_corruption(Errc e) noexcept;
bool is_refusal(Errc e) noexcept;

struct Error {
  Errc code;
  std::string message;
  std::uint64_t seq = 0;  // the record at fault, for corruption; 0 otherwise

  bool corruption() const noexcept { return is_corruption(code); }
  bool refusal() const noexcept { return is_refusal(code); }
};

// Used by result<T, Error>::value() when it has no value.
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

// A Result dropped on the floor does not compile: every fallible call's
// outcome is either handled or explicitly discarded with a cast to void and a
// comment saying why. A thin subclass because an alias cannot carry
// [[nodiscard]]; it adds no state and converts both ways.
template <class T>
class [[nodiscard]] Result : public boost::system::result<T, Error> {
  using Base = boost::system::result<T, Error>;

 public:
  using Base::Base;
  Result(Base base) noexcept(std::is_nothrow_move_constructible_v<Base>) : Base(std::move(base)) {}
};

inline Error make_error(Errc code, std::string message, std::uint64_t seq = 0) {
  return Error{code, std::move(message), seq};
}

// An io_error whose message is "<what>: <strerror(err)>".
Error errno_error(std::string_view what, int err);

}  // namespace fj

template <>
struct boost::system::is_error_code_enum<fj::Errc> : std::true_type {};
