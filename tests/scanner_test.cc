// Spec for the hypeman metadata scanner (gc/scanner.h): what it parses, how it
// classifies every kind of broken input, which guests/ entries it refuses to
// treat as instances, and that it never follows a link out of the data root.
//
// The shared fixture tests/fixtures/hypeman-sample is only ever read; tests
// that need a changed data root copy it (or build one) under a TempDir.
#include "gc/scanner.h"

#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fj::gc {
namespace {

namespace fs = std::filesystem;
using fj::testing::TempDir;

// ---------------------------------------------------------------------------
// Helpers

// The read-only fixture, by the path the build passes (not by __FILE__,
// which a build with -ffile-prefix-map, as Debian's flags have, makes
// relative).
std::string fixture_root() {
  return std::string(FJ_FIXTURES) + "/hypeman-sample";
}

void make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    ADD_FAILURE() << "mkdir " << path << ": " << std::strerror(errno);
  }
}

// Writes bytes with plain POSIX calls (fast enough for thousands of files).
void write_file(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    ADD_FAILURE() << "open " << path << ": " << std::strerror(errno);
    return;
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ADD_FAILURE() << "write " << path << ": " << std::strerror(errno);
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A minimal, valid hypeman metadata.json for `id`.
std::string meta(std::string_view id, std::string_view fork_of = "", bool is_template = false,
                 std::string_view template_id = "") {
  return std::string("{\"Id\":\"") + std::string(id) +
         "\",\"IsTemplate\":" + (is_template ? "true" : "false") + ",\"TemplateID\":\"" +
         std::string(template_id) + "\",\"ForkOfTemplate\":\"" + std::string(fork_of) + "\"}";
}

// A metadata.json for `id` whose JSON nests exactly `levels` deep (the
// top-level object counts as one level).
std::string nested_meta(std::string_view id, unsigned levels) {
  const unsigned arrays = levels - 1;
  return std::string("{\"Id\":\"") + std::string(id) + "\",\"Extra\":" + std::string(arrays, '[') +
         std::string(arrays, ']') + "}";
}

// A valid metadata.json for `id` padded with an unknown field to exactly
// `size` bytes.
std::string meta_of_size(std::string_view id, std::size_t size) {
  const std::string head = std::string("{\"Id\":\"") + std::string(id) + "\",\"Pad\":\"";
  const std::string tail = "\"}";
  EXPECT_GE(size, head.size() + tail.size());
  return head + std::string(size - head.size() - tail.size(), 'p') + tail;
}

std::string describe(const Instance& in) {
  std::string s = in.id;
  if (in.is_template) s += " template";
  if (!in.template_id.empty()) s += " TemplateID=" + in.template_id;
  if (!in.fork_of.empty()) s += " ForkOfTemplate=" + in.fork_of;
  return s;
}

std::string describe(const UnreadableFile& u) {
  return u.id + " " + std::string(unreadable_name(u.reason));
}

std::string describe(const TemplateRecord& t) {
  return t.id + " name=" + t.name + " source=" + t.source +
         " fork_count=" + (t.fork_count ? std::to_string(*t.fork_count) : "none");
}

std::string describe(const Skipped& s) {
  return s.name;
}

template <class T>
std::vector<std::string> describe_all(const std::vector<T>& v) {
  std::vector<std::string> out;
  for (const T& x : v) out.push_back(describe(x));
  return out;
}

// Scans root, failing the test (and returning an empty result) on an error.
ScanResult scan_ok(const std::string& root, const ScanOptions& options = {}) {
  auto r = scan(root, options);
  if (!r) {
    ADD_FAILURE() << "scan(" << root << ") failed: " << r.error().message;
    return ScanResult{};
  }
  return std::move(*r);
}

// "parsed", or the unreadable_name of why parse_instance refused the bytes.
std::string parse_outcome(std::string_view id, std::string_view bytes,
                          const ScanOptions& options = {}) {
  auto r = parse_instance(id, bytes, options);
  if (std::holds_alternative<Instance>(r)) return "parsed";
  const UnreadableFile& u = std::get<UnreadableFile>(r);
  EXPECT_EQ(u.id, id);
  EXPECT_FALSE(u.detail.empty()) << unreadable_name(u.reason);
  EXPECT_EQ(u.detail.find('\n'), std::string::npos) << u.detail;
  return std::string(unreadable_name(u.reason));
}

std::string template_outcome(std::string_view id, std::string_view bytes,
                             const ScanOptions& options = {}) {
  auto r = parse_template(id, bytes, options);
  if (std::holds_alternative<TemplateRecord>(r)) return "parsed";
  const UnreadableFile& u = std::get<UnreadableFile>(r);
  EXPECT_EQ(u.id, id);
  EXPECT_FALSE(u.detail.empty());
  return std::string(unreadable_name(u.reason));
}

// A data root under a TempDir: <tmp>/root/{guests,templates}, with
// <tmp>/outside as a place outside the root for link targets.
class DataRoot {
 public:
  DataRoot() {
    make_dir(root());
    make_dir(guests());
    make_dir(templates());
    make_dir(outside());
  }
  std::string root() const { return tmp_.sub("root"); }
  std::string guests() const { return root() + "/guests"; }
  std::string templates() const { return root() + "/templates"; }
  std::string outside() const { return tmp_.sub("outside"); }

  std::string guest_dir(const std::string& name) const {
    make_dir(guests() + "/" + name);
    return guests() + "/" + name;
  }
  // guests/<id>/metadata.json with these bytes; returns the file's path.
  std::string guest(const std::string& id, std::string_view bytes) const {
    const std::string path = guest_dir(id) + "/metadata.json";
    write_file(path, bytes);
    return path;
  }
  std::string tpl(const std::string& id, std::string_view bytes) const {
    make_dir(templates() + "/" + id);
    const std::string path = templates() + "/" + id + "/template.json";
    write_file(path, bytes);
    return path;
  }

 private:
  TempDir tmp_;
};

class ScannerTest : public ::testing::Test {
 protected:
  // Puts `bytes` at guests/<id>/metadata.json (alone in the root), scans, and
  // returns "parsed" or the reason name. Checks the entry is present either way.
  std::string classify(const std::string& id, std::string_view bytes,
                       const ScanOptions& options = {}) {
    data_.guest(id, bytes);
    return classify_existing(id, options);
  }

  // Scans the root and classifies guests/<id> as it is on disk.
  std::string classify_existing(const std::string& id, const ScanOptions& options = {}) {
    const ScanResult r = scan_ok(data_.root(), options);
    EXPECT_TRUE(r.has_entry(id)) << id;
    EXPECT_TRUE(r.skipped.empty()) << describe_all(r.skipped).front();
    if (r.find(id) != nullptr) {
      EXPECT_EQ(r.find_unreadable(id), nullptr);
      return "parsed";
    }
    if (r.find_half_made(id) != nullptr) {
      EXPECT_EQ(r.find_unreadable(id), nullptr);
      return "half_made";
    }
    const UnreadableFile* u = r.find_unreadable(id);
    if (u == nullptr) return "absent";
    EXPECT_FALSE(u->detail.empty());
    EXPECT_EQ(u->detail.find('\n'), std::string::npos) << u->detail;
    last_detail_ = u->detail;
    return std::string(unreadable_name(u->reason));
  }

  DataRoot data_;
  std::string last_detail_;
};

// ---------------------------------------------------------------------------
// The shared fixture

constexpr const char* kSrcWeb = "src0web0000000000000001";
constexpr const char* kTplWeb = "tpl0web0000000000000001";
constexpr const char* kTplDb = "tpl0db00000000000000001";
constexpr const char* kTplCi = "tpl0ci00000000000000001";

TEST(ScannerFixture, ParsesExactlyTheFiveReadableInstancesWithTheirFields) {
  const ScanResult r = scan_ok(fixture_root());
  EXPECT_EQ(r.root, fixture_root());
  EXPECT_EQ(describe_all(r.instances),
            (std::vector<std::string>{
                "frk0ci00000000000000001 ForkOfTemplate=tpl0ci00000000000000001",
                "frk0web0000000000000001 ForkOfTemplate=tpl0web0000000000000001",
                "frk0web0000000000000002 ForkOfTemplate=tpl0web0000000000000001",
                "ins0plain00000000000001",
                "src0web0000000000000001 template TemplateID=tpl0web0000000000000001",
            }));
  const Instance* src = r.find(kSrcWeb);
  ASSERT_NE(src, nullptr);
  EXPECT_TRUE(src->is_template);
  EXPECT_EQ(src->template_id, kTplWeb);
  EXPECT_EQ(src->fork_of, "");
  const Instance* plain = r.find("ins0plain00000000000001");
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(plain->is_template);
  EXPECT_EQ(plain->template_id, "");
  EXPECT_EQ(plain->fork_of, "");
}

TEST(ScannerFixture, ReportsTheTornForkAsTruncatedAndTheEmptyFileAsEmpty) {
  const ScanResult r = scan_ok(fixture_root());
  EXPECT_EQ(describe_all(r.unreadable), (std::vector<std::string>{
                                            "frk0web0000000000000003 truncated",
                                            "ins0empty00000000000001 empty",
                                        }));
  EXPECT_EQ(r.find("frk0web0000000000000003"), nullptr);
  EXPECT_EQ(r.find("ins0empty00000000000001"), nullptr);
  EXPECT_TRUE(r.skipped.empty());
}

TEST(ScannerFixture, ReadsTheThreeTemplatesWithTheirDriftedForkCounts) {
  const ScanResult r = scan_ok(fixture_root());
  EXPECT_EQ(describe_all(r.templates),
            (std::vector<std::string>{
                "tpl0ci00000000000000001 name=ci source=src0ci00000000000000001 fork_count=0",
                "tpl0db00000000000000001 name=db source=src0db00000000000000001 fork_count=1",
                "tpl0web0000000000000001 name=web source=src0web0000000000000001 fork_count=4",
            }));
  EXPECT_TRUE(r.unreadable_templates.empty());
  EXPECT_EQ(r.template_dirs, (std::vector<std::string>{kTplCi, kTplDb, kTplWeb}));
  EXPECT_TRUE(r.has_template_dir(kTplDb));
  EXPECT_FALSE(r.has_template_dir("tpl0gone000000000000001"));
}

TEST(ScannerFixture, PresentListsAllSevenGuestEntriesAndNoSourceThatIsGone) {
  const ScanResult r = scan_ok(fixture_root());
  EXPECT_EQ(r.present, (std::vector<std::string>{
                           "frk0ci00000000000000001",
                           "frk0web0000000000000001",
                           "frk0web0000000000000002",
                           "frk0web0000000000000003",
                           "ins0empty00000000000001",
                           "ins0plain00000000000001",
                           "src0web0000000000000001",
                       }));
  EXPECT_EQ(r.scanned(), 7u);
  EXPECT_TRUE(r.has_entry(kSrcWeb));
  EXPECT_TRUE(r.has_entry("frk0web0000000000000003"));  // unreadable is still present
  EXPECT_FALSE(r.has_entry("src0db00000000000000001"));
  EXPECT_FALSE(r.has_entry("src0ci00000000000000001"));
}

// A snapshot of every path under root with its type, mode and contents.
std::map<std::string, std::string> snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const auto st = e.symlink_status();
    std::string v = std::to_string(static_cast<int>(st.type())) + ":" +
                    std::to_string(static_cast<unsigned>(st.permissions())) + ":";
    if (st.type() == fs::file_type::regular) v += read_whole(e.path().string());
    out[fs::relative(e.path(), root).string()] = v;
  }
  return out;
}

TEST(ScannerFixture, ScanningLeavesTheFixtureUnchanged) {
  const auto before = snapshot(fixture_root());
  ASSERT_EQ(before.size(), 22u);  // guests/, templates/, 3 + 7 directories with a file each
  (void)scan_ok(fixture_root());
  EXPECT_EQ(snapshot(fixture_root()), before);
}

TEST(ScannerFixture, ACopyWithTheTornForkRewrittenParsesItAsAForkOfWeb) {
  TempDir tmp;
  const std::string copy = tmp.sub("hypeman");
  fs::copy(fixture_root(), copy, fs::copy_options::recursive);
  write_file(copy + "/guests/frk0web0000000000000003/metadata.json",
             meta("frk0web0000000000000003", kTplWeb));

  const ScanResult r = scan_ok(copy);
  const Instance* f = r.find("frk0web0000000000000003");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->fork_of, kTplWeb);
  EXPECT_EQ(describe_all(r.unreadable),
            (std::vector<std::string>{"ins0empty00000000000001 empty"}));
  EXPECT_EQ(r.instances.size(), 6u);
  // The original is untouched.
  EXPECT_EQ(scan_ok(fixture_root()).find("frk0web0000000000000003"), nullptr);
}

// ---------------------------------------------------------------------------
// Every Unreadable reason, produced on disk

TEST_F(ScannerTest, AZeroByteFileIsEmpty) {
  EXPECT_EQ(classify("ins0", ""), "empty");
}

TEST_F(ScannerTest, AWhitespaceOnlyFileIsEmpty) {
  EXPECT_EQ(classify("ins0", " \n\t\r\n  \n"), "empty");
}

TEST_F(ScannerTest, AFileTornMidWriteIsTruncated) {
  const std::string full = meta("ins0", kTplWeb);
  EXPECT_EQ(classify("ins0", full.substr(0, full.size() / 2)), "truncated");
  EXPECT_EQ(classify("ins0", full.substr(0, full.size() - 1)), "truncated");
  EXPECT_EQ(classify("ins0", "{"), "truncated");
  EXPECT_EQ(classify("ins0", full), "parsed");
}

TEST_F(ScannerTest, EveryProperPrefixOfAValidFileIsTruncated) {
  const std::string full = read_whole(fixture_root() + "/guests/" + kSrcWeb + "/metadata.json");
  ASSERT_EQ(full.back(), '}');  // the fixture has no trailing newline
  ASSERT_EQ(parse_outcome(kSrcWeb, full), "parsed");
  for (std::size_t n = 1; n < full.size(); ++n) {
    EXPECT_EQ(parse_outcome(kSrcWeb, std::string_view(full).substr(0, n)), "truncated")
        << "prefix of " << n << " bytes";
  }
}

TEST_F(ScannerTest, ASyntaxErrorIsInvalidJson) {
  EXPECT_EQ(classify("ins0", "{\"Id\":\"ins0\",,}"), "invalid_json");
  EXPECT_EQ(classify("ins1", "{\"Id\": 'ins1'}"), "invalid_json");
  EXPECT_EQ(classify("ins2", "{\"Id\":\"ins2\" /* comment */}"), "invalid_json");
  EXPECT_EQ(classify("ins3", "\xef\xbb\xbf" + meta("ins3")), "invalid_json");  // a BOM
}

TEST_F(ScannerTest, NonUtf8BytesInsideAStringAreInvalidJson) {
  // Complete documents whose only flaw is the bytes inside "Name".
  for (const std::string& bad : {std::string("\xff"), std::string("\xc0\xaf"),
                                 std::string("\xed\xa0\x80"), std::string("\xe2\x9c")}) {
    const std::string doc = "{\"Id\":\"ins0\",\"Name\":\"web" + bad + "-1\"}";
    EXPECT_EQ(classify("ins0", doc), "invalid_json") << "bytes of size " << bad.size();
  }
  EXPECT_EQ(classify("ins0", "{\"Id\":\"ins0\",\"Name\":\"web ✓ 日本\"}"), "parsed");
}

TEST_F(ScannerTest, TrailingGarbageAfterTheObjectIsInvalidJson) {
  EXPECT_EQ(classify("ins0", meta("ins0") + "x"), "invalid_json");
  EXPECT_EQ(classify("ins0", meta("ins0") + "\n" + meta("ins0")), "invalid_json");
  EXPECT_EQ(classify("ins0", meta("ins0") + std::string(16, '\0')), "invalid_json");
  EXPECT_EQ(classify("ins0", meta("ins0") + "\n\n  "), "parsed");  // white space is fine
}

TEST_F(ScannerTest, AJsonArrayIsNotAnObject) {
  EXPECT_EQ(classify("ins0", "[" + meta("ins0") + "]"), "not_an_object");
}

TEST_F(ScannerTest, AJsonNumberIsNotAnObject) {
  EXPECT_EQ(classify("ins0", "42\n"), "not_an_object");
  EXPECT_EQ(classify("ins1", "\"ins1\""), "not_an_object");
  EXPECT_EQ(classify("ins2", "null"), "not_an_object");
}

TEST_F(ScannerTest, IsTemplateAsAStringIsWrongType) {
  EXPECT_EQ(classify("ins0", "{\"Id\":\"ins0\",\"IsTemplate\":\"yes\"}"), "wrong_type");
  EXPECT_NE(last_detail_.find("IsTemplate"), std::string::npos) << last_detail_;
  EXPECT_EQ(classify("ins1", "{\"Id\":\"ins1\",\"IsTemplate\":1}"), "wrong_type");
}

TEST_F(ScannerTest, ForkOfTemplateAsANumberIsWrongType) {
  EXPECT_EQ(classify("ins0", "{\"Id\":\"ins0\",\"ForkOfTemplate\":7}"), "wrong_type");
  EXPECT_NE(last_detail_.find("ForkOfTemplate"), std::string::npos) << last_detail_;
  EXPECT_EQ(classify("ins1", "{\"Id\":\"ins1\",\"TemplateID\":[\"tpl0\"]}"), "wrong_type");
  EXPECT_EQ(classify("ins2", "{\"Id\":\"ins2\",\"ForkOfTemplate\":{}}"), "wrong_type");
}

TEST_F(ScannerTest, AnInvalidIdInForkOfTemplateOrTemplateIdIsWrongType) {
  EXPECT_EQ(classify("ins0", meta("ins0", "../x")), "wrong_type");
  EXPECT_EQ(classify("ins1", meta("ins1", "a b")), "wrong_type");
  EXPECT_EQ(classify("ins2", meta("ins2", std::string(65, 't'))), "wrong_type");
  EXPECT_EQ(classify("ins3", meta("ins3", "", true, "..")), "wrong_type");
  EXPECT_NE(last_detail_.find("TemplateID"), std::string::npos) << last_detail_;
  EXPECT_EQ(classify("ins4", meta("ins4", std::string(64, 't'))), "parsed");
}

TEST_F(ScannerTest, AnIdOfTheWrongTypeIsWrongType) {
  EXPECT_EQ(classify("ins0", "{\"Id\":5}"), "wrong_type");
}

TEST_F(ScannerTest, AnIdNamingAnotherInstanceIsAHalfMadeFork) {
  EXPECT_EQ(classify("ins0", meta("ins1")), "half_made");
  EXPECT_EQ(classify("ins2", meta("INS2")), "half_made");  // case matters
}

TEST_F(ScannerTest, AnIdThatIsNoValidIdIsIdMismatch) {
  EXPECT_EQ(classify("ins0", meta("ins 1")), "id_mismatch");
  EXPECT_NE(last_detail_.find("ins 1"), std::string::npos) << last_detail_;
}

TEST_F(ScannerTest, ParseInstanceReportsAHalfMadeForkAsIdMismatch) {
  const auto r = parse_instance("ins0", meta("ins1"));
  ASSERT_TRUE(std::holds_alternative<UnreadableFile>(r));
  EXPECT_EQ(std::get<UnreadableFile>(r).reason, Unreadable::id_mismatch);
  EXPECT_NE(std::get<UnreadableFile>(r).detail.find("ins1"), std::string::npos);
}

TEST_F(ScannerTest, AMissingIdIsIdMismatch) {
  EXPECT_EQ(classify("ins0", "{\"ForkOfTemplate\":\"tpl0\"}"), "id_mismatch");
  EXPECT_EQ(classify("ins1", "{}"), "id_mismatch");
  EXPECT_EQ(classify("ins2", "{\"Id\":null}"), "id_mismatch");
  EXPECT_EQ(classify("ins3", "{\"Id\":\"\"}"), "id_mismatch");
  // Go's decoder matches "ID" to the field Id, so the VM manager reads this
  // file as ins4's, and so does the scanner (KeysMatchFieldsAsGoMatchesThem).
  EXPECT_EQ(classify("ins4", "{\"ID\":\"ins4\"}"), "parsed");
}

TEST_F(ScannerTest, AFileOverTheConfiguredCapIsTooLarge) {
  ScanOptions small;
  small.max_file_size = 4096;
  EXPECT_EQ(classify("ins0", meta_of_size("ins0", 4097), small), "too_large");
  EXPECT_NE(last_detail_.find("4096"), std::string::npos) << last_detail_;
  EXPECT_EQ(classify("ins1", meta_of_size("ins1", 4096), small), "parsed");  // at the cap
  EXPECT_EQ(classify("ins2", std::string(5000, ' '), small), "too_large");   // the cap comes first
}

TEST_F(ScannerTest, AFileOverTheDefaultOneMebibyteCapIsTooLarge) {
  ASSERT_EQ(ScanOptions{}.max_file_size, std::size_t{1} << 20);
  const std::size_t size = (std::size_t{1} << 20) + (std::size_t{1} << 20) / 10;
  EXPECT_EQ(classify("ins0", meta_of_size("ins0", size)), "too_large");
  EXPECT_EQ(classify("ins1", meta_of_size("ins1", std::size_t{1} << 20)), "parsed");
}

TEST_F(ScannerTest, NestingDeeperThanMaxDepthIsTooDeep) {
  ASSERT_EQ(ScanOptions{}.max_depth, 32u);
  EXPECT_EQ(classify("ins0", nested_meta("ins0", 32)), "parsed");
  EXPECT_EQ(classify("ins1", nested_meta("ins1", 33)), "too_deep");
  ScanOptions shallow;
  shallow.max_depth = 2;
  EXPECT_EQ(classify("ins2", nested_meta("ins2", 2), shallow), "parsed");
  EXPECT_EQ(classify("ins3", nested_meta("ins3", 3), shallow), "too_deep");
  EXPECT_EQ(classify("ins4", "{\"Id\":\"ins4\",\"a\":{\"b\":{}}}", shallow), "too_deep");
}

TEST_F(ScannerTest, AHundredThousandOpenBracketsAreTooDeepWithoutCrashing) {
  constexpr std::size_t kDeep = 100000;
  EXPECT_EQ(classify("ins0", std::string(kDeep, '[')), "too_deep");
  EXPECT_EQ(classify("ins1", std::string(kDeep, '[') + std::string(kDeep, ']')), "too_deep");
  EXPECT_EQ(classify("ins2", "{\"Id\":\"ins2\",\"a\":" + std::string(kDeep, '[')), "too_deep");
  std::string objects;
  for (std::size_t i = 0; i < kDeep / 8; ++i) objects += "{\"a\":";
  EXPECT_EQ(classify("ins3", objects), "too_deep");
  EXPECT_EQ(parse_outcome("ins4", std::string(kDeep, '[')), "too_deep");
}

TEST_F(ScannerTest, AFileItCannotOpenIsPermission) {
  const std::string path = data_.guest("ins0", meta("ins0"));
  ASSERT_EQ(::chmod(path.c_str(), 0), 0) << std::strerror(errno);
  if (::geteuid() != 0) {
    EXPECT_EQ(classify_existing("ins0"), "permission");
    return;
  }
  // Root reads through chmod 000: scan as an unprivileged user in a child,
  // with the directories above the file made traversable for it.
  for (std::filesystem::path p = data_.root() + "/guests/ins0"; p != p.parent_path();
       p = p.parent_path()) {
    if (p.string().size() <= std::filesystem::temp_directory_path().string().size()) break;
    std::filesystem::permissions(
        p, std::filesystem::perms::others_read | std::filesystem::perms::others_exec,
        std::filesystem::perm_options::add);
  }
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(3);
    auto r = scan(data_.root());
    if (!r) ::_exit(4);
    const UnreadableFile* u = r->find_unreadable("ins0");
    ::_exit(u != nullptr && u->reason == Unreadable::permission ? 0 : 5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: could not drop privileges, 4: scan failed, "
                                       "5: not classified as permission";
}

TEST_F(ScannerTest, ADirectoryWithoutMetadataIsMissing) {
  data_.guest_dir("ins0");
  write_file(data_.guests() + "/ins0/metadata.json.tmp", meta("ins0"));
  EXPECT_EQ(classify_existing("ins0"), "missing");
}

TEST_F(ScannerTest, ASymlinkedMetadataFileIsNotFollowed) {
  // The target outside the root is a valid file for this very id.
  const std::string target = data_.outside() + "/metadata.json";
  write_file(target, meta("ins0", kTplWeb));
  const std::string link = data_.guest_dir("ins0") + "/metadata.json";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0) << std::strerror(errno);
  EXPECT_EQ(classify_existing("ins0"), "symlink");

  // Nor a relative link to a sibling inside the root, nor a dangling one.
  write_file(data_.guest_dir("ins1") + "/real.json", meta("ins1"));
  ASSERT_EQ(::symlink("real.json", (data_.guests() + "/ins1/metadata.json").c_str()), 0);
  EXPECT_EQ(classify_existing("ins1"), "symlink");
  ASSERT_EQ(::symlink("/nonexistent/x", (data_.guest_dir("ins2") + "/metadata.json").c_str()), 0);
  EXPECT_EQ(classify_existing("ins2"), "symlink");
}

TEST_F(ScannerTest, AFifoNamedMetadataDoesNotBlockAndIsIoError) {
  const std::string fifo = data_.guest_dir("ins0") + "/metadata.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0) << std::strerror(errno);
  auto done = std::async(std::launch::async, [&] { return scan(data_.root()); });
  if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "scan() blocked on a FIFO";
    // Unblock it: a writer releases a blocked open(), its close() ends a read.
    const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (w >= 0) ::close(w);
  }
  auto r = done.get();
  ASSERT_TRUE(r) << r.error().message;
  const UnreadableFile* u = r->find_unreadable("ins0");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->reason, Unreadable::io_error);
  EXPECT_TRUE(r->has_entry("ins0"));
}

TEST_F(ScannerTest, ADirectoryNamedMetadataIsIoError) {
  make_dir(data_.guest_dir("ins0") + "/metadata.json");
  write_file(data_.guests() + "/ins0/metadata.json/metadata.json", meta("ins0"));
  EXPECT_EQ(classify_existing("ins0"), "io_error");
}

TEST_F(ScannerTest, OneScanClassifiesEveryReasonSideBySideSortedById) {
  ScanOptions options;
  options.max_file_size = 4096;
  options.max_depth = 8;
  data_.guest("r12-parsed", meta("r12-parsed", kTplWeb));
  data_.guest_dir("r11-symlink");
  write_file(data_.outside() + "/m.json", meta("r11-symlink"));
  ASSERT_EQ(::symlink((data_.outside() + "/m.json").c_str(),
                      (data_.guests() + "/r11-symlink/metadata.json").c_str()),
            0);
  data_.guest_dir("r10-missing");
  make_dir(data_.guest_dir("r09-io_error") + "/metadata.json");
  data_.guest("r07-too_deep", nested_meta("r07-too_deep", 9));
  data_.guest("r06-too_large", meta_of_size("r06-too_large", 4097));
  data_.guest("r05-id_mismatch", meta("not an id"));
  data_.guest("r04-wrong_type", meta("r04-wrong_type", "../x"));
  data_.guest("r03-not_an_object", "[]");
  data_.guest("r02-invalid_json", "{]");
  data_.guest("r01-truncated", "{\"Id\":\"r01");
  data_.guest("r00-empty", "");

  const ScanResult r = scan_ok(data_.root(), options);
  EXPECT_EQ(describe_all(r.unreadable), (std::vector<std::string>{
                                            "r00-empty empty",
                                            "r01-truncated truncated",
                                            "r02-invalid_json invalid_json",
                                            "r03-not_an_object not_an_object",
                                            "r04-wrong_type wrong_type",
                                            "r05-id_mismatch id_mismatch",
                                            "r06-too_large too_large",
                                            "r07-too_deep too_deep",
                                            "r09-io_error io_error",
                                            "r10-missing missing",
                                            "r11-symlink symlink",
                                        }));
  EXPECT_EQ(describe_all(r.instances),
            (std::vector<std::string>{"r12-parsed ForkOfTemplate=tpl0web0000000000000001"}));
  EXPECT_EQ(r.scanned(), 12u);
  EXPECT_TRUE(r.skipped.empty());
}

TEST(UnreadableName, NamesEveryReasonAsItsEnumerator) {
  EXPECT_EQ(unreadable_name(Unreadable::empty), "empty");
  EXPECT_EQ(unreadable_name(Unreadable::truncated), "truncated");
  EXPECT_EQ(unreadable_name(Unreadable::invalid_json), "invalid_json");
  EXPECT_EQ(unreadable_name(Unreadable::not_an_object), "not_an_object");
  EXPECT_EQ(unreadable_name(Unreadable::wrong_type), "wrong_type");
  EXPECT_EQ(unreadable_name(Unreadable::id_mismatch), "id_mismatch");
  EXPECT_EQ(unreadable_name(Unreadable::too_large), "too_large");
  EXPECT_EQ(unreadable_name(Unreadable::too_deep), "too_deep");
  EXPECT_EQ(unreadable_name(Unreadable::permission), "permission");
  EXPECT_EQ(unreadable_name(Unreadable::io_error), "io_error");
  EXPECT_EQ(unreadable_name(Unreadable::missing), "missing");
  EXPECT_EQ(unreadable_name(Unreadable::symlink), "symlink");
}

// ---------------------------------------------------------------------------
// guests/ entries that are not instances

TEST_F(ScannerTest, ASymlinkedInstanceDirectoryIsSkippedNotFollowedButPresent) {
  const std::string target = data_.outside() + "/ins0";
  make_dir(target);
  write_file(target + "/metadata.json", meta("ins0", kTplWeb));
  ASSERT_EQ(::symlink(target.c_str(), (data_.guests() + "/ins0").c_str()), 0);

  // A link to a sibling inside the root is not followed either.
  data_.guest("ins1", meta("ins1"));
  ASSERT_EQ(::symlink("ins1", (data_.guests() + "/ins2").c_str()), 0);

  const ScanResult r = scan_ok(data_.root());
  EXPECT_EQ(r.find("ins0"), nullptr);  // not followed
  EXPECT_EQ(r.find_unreadable("ins0"), nullptr);
  EXPECT_EQ(r.find("ins2"), nullptr);
  EXPECT_EQ(r.find_unreadable("ins2"), nullptr);
  EXPECT_EQ(describe_all(r.skipped), (std::vector<std::string>{"ins0", "ins2"}));
  // Marked as links: the sweep holds back for an entry that may hide any fork.
  ASSERT_EQ(r.skipped.size(), 2u);
  EXPECT_TRUE(r.skipped[0].symlink);
  EXPECT_TRUE(r.skipped[1].symlink);
  EXPECT_EQ(describe_all(r.instances), (std::vector<std::string>{"ins1"}));
  // Something is there, so the entry is present: the reconciler fails closed.
  EXPECT_TRUE(r.has_entry("ins0"));
  EXPECT_TRUE(r.has_entry("ins2"));
  EXPECT_EQ(r.scanned(), 3u);
}

// openat(O_DIRECTORY | O_NOFOLLOW) on a symlink fails with ENOTDIR, not ELOOP:
// the scanner looks again with fstatat so that the entry is explained as "a
// symbolic link (not followed)", not "not a directory".
TEST_F(ScannerTest, ASymlinkedInstanceDirectoryIsExplainedAsASymbolicLink) {
  const std::string target = data_.outside() + "/ins0";
  make_dir(target);
  write_file(target + "/metadata.json", meta("ins0"));
  ASSERT_EQ(::symlink(target.c_str(), (data_.guests() + "/ins0").c_str()), 0);
  const ScanResult r = scan_ok(data_.root());
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].why.find("symbolic link"), std::string::npos) << r.skipped[0].why;
}

TEST_F(ScannerTest, ARegularFileUnderGuestsIsSkippedAsNotADirectory) {
  write_file(data_.guests() + "/ins0", meta("ins0"));
  const ScanResult r = scan_ok(data_.root());
  EXPECT_TRUE(r.instances.empty());
  EXPECT_TRUE(r.unreadable.empty());
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_EQ(r.skipped[0].name, "ins0");
  EXPECT_NE(r.skipped[0].why.find("not a directory"), std::string::npos) << r.skipped[0].why;
  EXPECT_FALSE(r.skipped[0].symlink);
  // Its name is a valid id, so it counts as an entry (scanner.h: "every
  // valid-id entry under guests/"), which keeps a fork of that id alive.
  EXPECT_TRUE(r.has_entry("ins0"));
}

TEST_F(ScannerTest, NamesThatAreNotValidIdsAreSkippedAndNotPresent) {
  const std::string long_name(65, 'x');
  for (const std::string& bad : {std::string("a b"), long_name, std::string("caf\xc3\xa9")}) {
    data_.guest(bad, meta(bad));
  }
  write_file(data_.guests() + "/a:b", meta("a:b"));  // a file with an invalid name
  data_.guest("...", meta("..."));                   // "..." is a valid id
  data_.guest(std::string(64, 'x'), meta(std::string(64, 'x')));

  const ScanResult r = scan_ok(data_.root());
  EXPECT_EQ(describe_all(r.skipped),
            (std::vector<std::string>{"a b", "a:b", "caf\\xc3\\xa9", long_name}));  // escaped
  for (const Skipped& s : r.skipped) {
    EXPECT_NE(s.why.find("not a valid id"), std::string::npos) << s.name << ": " << s.why;
    EXPECT_FALSE(r.has_entry(s.name)) << s.name;
  }
  EXPECT_EQ(r.present, (std::vector<std::string>{"...", std::string(64, 'x')}));
  EXPECT_EQ(describe_all(r.instances), (std::vector<std::string>{"...", std::string(64, 'x')}));
  EXPECT_TRUE(r.unreadable.empty());
  EXPECT_FALSE(r.has_entry("."));
  EXPECT_FALSE(r.has_entry(".."));
}

// ---------------------------------------------------------------------------
// Fields

TEST_F(ScannerTest, UnknownFieldsAreIgnoredWhateverTheirType) {
  const std::string doc = R"({"Id":"ins0","Name":"web-1","Size":4294967296,"StoppedAt":null,
    "Env":{"A":"1","nested":[1,2,{"x":[]}]},"Ports":[80,443],"Ratio":0.5,"Big":1e400,
    "auto_standby_runtime":null,"IsTemplates":"another field","ForkOfTemplate":"tpl0"})";
  auto r = parse_instance("ins0", doc);
  ASSERT_TRUE(std::holds_alternative<Instance>(r))
      << unreadable_name(std::get<UnreadableFile>(r).reason);
  EXPECT_EQ(describe(std::get<Instance>(r)), "ins0 ForkOfTemplate=tpl0");
  EXPECT_EQ(classify("ins0", doc), "parsed");
}

// The VM manager decodes metadata.json with Go's encoding/json, which matches
// keys to fields ignoring case (k and s also match the Kelvin sign and the
// long s), a null leaving the field as it was: a hand-edited key names the
// same field to it, and so to the reconciler. Keys naming one field with
// different values are read by Go in file order, which the parsed object
// no longer has: the file is unreadable (the fork is kept, on doubt).
TEST(ParseInstance, KeysMatchFieldsAsGoMatchesThem) {
  const auto fork_of = [](const std::string& doc) {
    auto r = parse_instance("ins0", doc);
    return std::holds_alternative<Instance>(r)
               ? std::get<Instance>(r).fork_of
               : "unreadable: " + std::string(unreadable_name(std::get<UnreadableFile>(r).reason));
  };
  EXPECT_EQ(fork_of(R"({"Id":"ins0","forkOfTemplate":"tpl0"})"), "tpl0");
  EXPECT_EQ(fork_of(R"({"id":"ins0","FORKOFTEMPLATE":"tpl0"})"), "tpl0");
  EXPECT_EQ(fork_of("{\"Id\":\"ins0\",\"For\u212aOfTemplate\":\"tpl0\"}"), "tpl0");  // Kelvin sign
  EXPECT_EQ(fork_of(R"({"Id":"ins0","ForkOfTemplate":"tpl0","forkOfTemplate":null})"), "tpl0");
  EXPECT_EQ(fork_of(R"({"Id":"ins0","forkoftemplate":"tpl0","ForkOfTemplate":"tpl0"})"), "tpl0");
  EXPECT_EQ(fork_of(R"({"Id":"ins0","forkoftemplate":"tpl0","ForkOfTemplate":"tpl1"})"),
            "unreadable: wrong_type");
  // Boost.JSON keeps the first place of an exact duplicate with its last
  // value: Go reads tpl2 here, the object's order says tpl1.
  EXPECT_EQ(
      fork_of(
          R"({"Id":"ins0","ForkOfTemplate":"tpl0","forkOfTemplate":"tpl1","ForkOfTemplate":"tpl2"})"),
      "unreadable: wrong_type");
  EXPECT_EQ(fork_of(R"({"Id":"ins0","ForkOfTemplat":"tpl0","ForkOfTemplatee":"tpl1"})"), "");
  EXPECT_EQ(fork_of(R"({"Id":"ins0","isTemplate":"yes"})"), "unreadable: wrong_type");
  auto source =
      parse_instance("src0", "{\"Id\":\"src0\",\"i\u017ftemplate\":true,\"templateid\":\"t\"}");
  ASSERT_TRUE(std::holds_alternative<Instance>(source));
  EXPECT_TRUE(std::get<Instance>(source).is_template);  // the long s
  EXPECT_EQ(std::get<Instance>(source).template_id, "t");
}

TEST_F(ScannerTest, NullTemplateIdForkOfTemplateAndIsTemplateAreEmpty) {
  data_.guest("ins0", R"({"Id":"ins0","IsTemplate":null,"TemplateID":null,"ForkOfTemplate":null})");
  const ScanResult r = scan_ok(data_.root());
  const Instance* in = r.find("ins0");
  ASSERT_NE(in, nullptr);
  EXPECT_FALSE(in->is_template);
  EXPECT_EQ(in->template_id, "");
  EXPECT_EQ(in->fork_of, "");
}

TEST_F(ScannerTest, GoEmptyStringsMeanNoTemplateAndMissingFieldsDefault) {
  data_.guest("ins0", meta("ins0"));  // "TemplateID":"","ForkOfTemplate":""
  data_.guest("ins1", R"({"Id":"ins1"})");
  const ScanResult r = scan_ok(data_.root());
  ASSERT_EQ(r.instances.size(), 2u);
  for (const Instance& in : r.instances) {
    EXPECT_FALSE(in.is_template) << in.id;
    EXPECT_TRUE(in.template_id.empty()) << in.id;
    EXPECT_TRUE(in.fork_of.empty()) << in.id;
  }
}

TEST(ParseInstance, DecodesGoEscapesAndKeepsEveryField) {
  auto r = parse_instance(
      "src0",
      R"({"Id":"src\u0030","IsTemplate":true,"TemplateID":"tpl\u002dweb","Name":"\u003cx\u003e"})");
  ASSERT_TRUE(std::holds_alternative<Instance>(r));
  const Instance& in = std::get<Instance>(r);
  EXPECT_EQ(in.id, "src0");
  EXPECT_TRUE(in.is_template);
  EXPECT_EQ(in.template_id, "tpl-web");
  EXPECT_EQ(in.fork_of, "");
}

TEST(ParseInstance, ClassifiesBytesWithoutTouchingTheDisk) {
  EXPECT_EQ(parse_outcome("i", ""), "empty");
  EXPECT_EQ(parse_outcome("i", "\n"), "empty");
  EXPECT_EQ(parse_outcome("i", "{\"Id\":"), "truncated");
  EXPECT_EQ(parse_outcome("i", "{\"Id\":\"i\"}}"), "invalid_json");
  EXPECT_EQ(parse_outcome("i", "[1]"), "not_an_object");
  EXPECT_EQ(parse_outcome("i", "{\"Id\":\"i\",\"IsTemplate\":\"yes\"}"), "wrong_type");
  EXPECT_EQ(parse_outcome("i", "{\"Id\":\"j\"}"), "id_mismatch");
  EXPECT_EQ(parse_outcome("i", nested_meta("i", 33)), "too_deep");
  EXPECT_EQ(parse_outcome("i", meta("i", "tpl0", false, "")), "parsed");
  ScanOptions shallow;
  shallow.max_depth = 1;
  EXPECT_EQ(parse_outcome("i", "{\"Id\":\"i\",\"x\":[]}", shallow), "too_deep");
  EXPECT_EQ(parse_outcome("i", "{\"Id\":\"i\",\"x\":1}", shallow), "parsed");
}

// ---------------------------------------------------------------------------
// Templates

std::string tpl_json(std::string_view id, std::string_view fork_count = "3",
                     std::string_view source = "\"src0\"", std::string_view name = "\"web\"") {
  return std::string("{\"id\":\"") + std::string(id) + "\",\"name\":" + std::string(name) +
         ",\"source_instance_id\":" + std::string(source) +
         ",\"hypervisor_type\":\"cloud-hypervisor\",\"vcpus\":2,\"fork_count\":" +
         std::string(fork_count) + "}";
}

TEST(ParseTemplate, ReadsIdNameSourceAndForkCount) {
  auto r = parse_template("tpl0", tpl_json("tpl0"));
  ASSERT_TRUE(std::holds_alternative<TemplateRecord>(r));
  EXPECT_EQ(describe(std::get<TemplateRecord>(r)), "tpl0 name=web source=src0 fork_count=3");
}

TEST(ParseTemplate, ANullOrAbsentForkCountIsNoCount) {
  auto r = parse_template("tpl0", tpl_json("tpl0", "null"));
  ASSERT_TRUE(std::holds_alternative<TemplateRecord>(r));
  EXPECT_FALSE(std::get<TemplateRecord>(r).fork_count.has_value());
  auto absent = parse_template("tpl0", R"({"id":"tpl0","name":"web","source_instance_id":"src0"})");
  ASSERT_TRUE(std::holds_alternative<TemplateRecord>(absent));
  EXPECT_FALSE(std::get<TemplateRecord>(absent).fork_count.has_value());
}

TEST(ParseTemplate, AForkCountThatIsNotAnIntegerIsWrongType) {
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl0", "\"4\"")), "wrong_type");
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl0", "4.5")), "wrong_type");
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl0", "true")), "wrong_type");
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl0", "0")), "parsed");
}

TEST(ParseTemplate, AnInvalidOrMissingSourceInstanceIdIsWrongType) {
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl0", "1", "\"../x\"")), "wrong_type");
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl0", "1", "7")), "wrong_type");
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl0", "1", "\"\"")), "wrong_type");
  EXPECT_EQ(template_outcome("tpl0", R"({"id":"tpl0","name":"web"})"), "wrong_type");
}

TEST(ParseTemplate, AnInvalidNameIsWrongType) {
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl0", "1", "\"src0\"", "\"a\\nb\"")), "wrong_type");
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl0", "1", "\"src0\"", "5")), "wrong_type");
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl0", "1", "\"src0\"", "\"web ✓\"")), "parsed");
}

TEST(ParseTemplate, TheIdMustMatchTheDirectory) {
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl1")), "id_mismatch");
  EXPECT_EQ(template_outcome("tpl0", R"({"name":"web","source_instance_id":"s"})"), "id_mismatch");
  // Keys match the Go struct's tags ignoring case, as the VM manager reads them.
  EXPECT_EQ(template_outcome("tpl0", R"({"Id":"tpl0","Name":"web","Source_Instance_ID":"s"})"),
            "parsed");
}

TEST(ParseTemplate, SharesTheFileLevelClassifications) {
  EXPECT_EQ(template_outcome("tpl0", ""), "empty");
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl0").substr(0, 20)), "truncated");
  EXPECT_EQ(template_outcome("tpl0", tpl_json("tpl0") + ","), "invalid_json");
  EXPECT_EQ(template_outcome("tpl0", "[]"), "not_an_object");
  EXPECT_EQ(template_outcome("tpl0", std::string(100000, '[')), "too_deep");
}

TEST_F(ScannerTest, TemplatesThatCannotBeReadAreReportedButTheirDirectoriesCount) {
  data_.tpl("tpl0", tpl_json("tpl0"));
  data_.tpl("tpl1", tpl_json("tpl1", "\"many\""));
  data_.tpl("tpl2", "");
  make_dir(data_.templates() + "/tpl3");              // no template.json
  write_file(data_.templates() + "/bad name", "{}");  // not a valid id: ignored
  const ScanResult r = scan_ok(data_.root());
  EXPECT_EQ(describe_all(r.templates),
            (std::vector<std::string>{"tpl0 name=web source=src0 fork_count=3"}));
  EXPECT_EQ(describe_all(r.unreadable_templates), (std::vector<std::string>{
                                                      "tpl1 wrong_type",
                                                      "tpl2 empty",
                                                      "tpl3 missing",
                                                  }));
  EXPECT_EQ(r.template_dirs, (std::vector<std::string>{"tpl0", "tpl1", "tpl2", "tpl3"}));
  EXPECT_TRUE(r.has_template_dir("tpl1"));
  EXPECT_FALSE(r.has_template_dir("bad name"));
  EXPECT_TRUE(r.unreadable.empty());  // template problems are not guests problems
  EXPECT_TRUE(r.skipped.empty());
}

// ---------------------------------------------------------------------------
// The data root itself

TEST(ScanRoot, AMissingTemplatesDirectoryIsNotAnError) {
  TempDir tmp;
  make_dir(tmp.sub("guests"));
  make_dir(tmp.sub("guests/ins0"));
  write_file(tmp.sub("guests/ins0/metadata.json"), meta("ins0"));
  auto r = scan(tmp.path());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->instances.size(), 1u);
  EXPECT_TRUE(r->templates.empty());
  EXPECT_TRUE(r->template_dirs.empty());
  EXPECT_TRUE(r->unreadable_templates.empty());
}

TEST(ScanRoot, AMissingGuestsDirectoryIsAnError) {
  TempDir tmp;
  make_dir(tmp.sub("templates"));
  auto r = scan(tmp.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::io_error);
  EXPECT_NE(r.error().message.find("guests"), std::string::npos) << r.error().message;
}

TEST(ScanRoot, AMissingDataRootIsAnError) {
  TempDir tmp;
  auto r = scan(tmp.sub("nope"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::io_error);
  EXPECT_NE(r.error().message.find(tmp.sub("nope")), std::string::npos) << r.error().message;
}

TEST(ScanRoot, AnEmptyGuestsDirectoryScansToNothing) {
  TempDir tmp;
  make_dir(tmp.sub("guests"));
  auto r = scan(tmp.path());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->scanned(), 0u);
  EXPECT_TRUE(r->instances.empty());
  EXPECT_TRUE(r->unreadable.empty());
  EXPECT_TRUE(r->skipped.empty());
  EXPECT_FALSE(r->has_entry("ins0"));
}

// ---------------------------------------------------------------------------
// Scale

// A scratch directory on tmpfs when /dev/shm is usable (creating and removing
// 40000 inodes on a disk file system can take tens of seconds), else a TempDir.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = "/dev/shm/fjtest.XXXXXX";
    if (::access("/dev/shm", W_OK) == 0 && ::mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
    } else {
      fallback_.emplace();
      path_ = fallback_->path();
    }
  }
  ~ScratchDir() {
    if (fallback_) return;  // the TempDir removes itself
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::optional<TempDir> fallback_;
  std::string path_;
};

TEST(ScannerScale, TwentyThousandSmallInstancesScanCorrectly) {
  constexpr int kCount = 20000;
  ScratchDir scratch;
  const std::string root = scratch.path();
  make_dir(root + "/guests");
  char id[32];
  for (int i = 0; i < kCount; ++i) {
    std::snprintf(id, sizeof id, "ins%06d", i);
    const std::string dir = root + "/guests/" + id;
    make_dir(dir);
    write_file(dir + "/metadata.json", i % 4 == 0 ? meta(id, kTplWeb) : meta(id));
  }
  const auto start = std::chrono::steady_clock::now();
  const ScanResult r = scan_ok(root);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  RecordProperty("scan_seconds", std::to_string(took.count()));

  EXPECT_EQ(r.scanned(), std::size_t{kCount});
  ASSERT_EQ(r.instances.size(), std::size_t{kCount});
  EXPECT_TRUE(r.unreadable.empty());
  EXPECT_TRUE(r.skipped.empty());
  EXPECT_EQ(std::count_if(r.instances.begin(), r.instances.end(),
                          [](const Instance& in) { return in.fork_of == kTplWeb; }),
            kCount / 4);
  EXPECT_EQ(r.instances.front().id, "ins000000");
  EXPECT_EQ(r.instances.back().id, "ins019999");
  ASSERT_NE(r.find("ins012344"), nullptr);
  EXPECT_EQ(r.find("ins012344")->fork_of, kTplWeb);
  EXPECT_EQ(r.find("ins012345")->fork_of, "");
  EXPECT_EQ(r.find("ins020000"), nullptr);
}

// ---------------------------------------------------------------------------
// The result and its lookups

TEST_F(ScannerTest, EveryListInTheResultIsSortedById) {
  // Created in descending order; readdir order is arbitrary anyway.
  for (int i = 40; i-- > 0;) {
    const std::string id = "g" + std::to_string(i * 7919 % 40);
    if (i % 3 == 0) {
      data_.guest(id, "{");
    } else {
      data_.guest(id, meta(id));
    }
    data_.tpl("t" + std::to_string(i * 31 % 40),
              i % 5 == 0 ? "" : tpl_json("t" + std::to_string(i * 31 % 40)));
  }
  write_file(data_.guests() + "/z z", "");
  write_file(data_.guests() + "/a a", "");
  const ScanResult r = scan_ok(data_.root());
  auto by_id = [](const auto& a, const auto& b) { return a.id < b.id; };
  EXPECT_EQ(r.instances.size() + r.unreadable.size(), 40u);
  EXPECT_EQ(r.templates.size() + r.unreadable_templates.size(), 40u);
  EXPECT_FALSE(r.unreadable.empty());
  EXPECT_FALSE(r.unreadable_templates.empty());
  EXPECT_TRUE(std::is_sorted(r.instances.begin(), r.instances.end(), by_id));
  EXPECT_TRUE(std::is_sorted(r.unreadable.begin(), r.unreadable.end(), by_id));
  EXPECT_TRUE(std::is_sorted(r.templates.begin(), r.templates.end(), by_id));
  EXPECT_TRUE(std::is_sorted(r.unreadable_templates.begin(), r.unreadable_templates.end(), by_id));
  EXPECT_TRUE(std::is_sorted(r.present.begin(), r.present.end()));
  EXPECT_TRUE(std::is_sorted(r.template_dirs.begin(), r.template_dirs.end()));
  EXPECT_EQ(describe_all(r.skipped), (std::vector<std::string>{"a a", "z z"}));
}

TEST_F(ScannerTest, LookupsFindEachEntryOnlyInItsOwnList) {
  data_.guest("a", meta("a"));
  data_.guest("b", "");
  data_.guest("c", meta("c", "tpl0"));
  ASSERT_EQ(::symlink(data_.outside().c_str(), (data_.guests() + "/d").c_str()), 0);
  data_.tpl("tpl0", tpl_json("tpl0"));
  data_.tpl("tpl1", "garbage");
  const ScanResult r = scan_ok(data_.root());

  ASSERT_NE(r.find("a"), nullptr);
  EXPECT_EQ(r.find("a")->id, "a");
  ASSERT_NE(r.find("c"), nullptr);
  EXPECT_EQ(r.find("c")->fork_of, "tpl0");
  EXPECT_EQ(r.find("b"), nullptr);
  EXPECT_EQ(r.find("d"), nullptr);
  EXPECT_EQ(r.find(""), nullptr);
  EXPECT_EQ(r.find("bb"), nullptr);

  ASSERT_NE(r.find_unreadable("b"), nullptr);
  EXPECT_EQ(r.find_unreadable("b")->reason, Unreadable::empty);
  EXPECT_EQ(r.find_unreadable("a"), nullptr);
  EXPECT_EQ(r.find_unreadable("d"), nullptr);
  EXPECT_EQ(r.find_unreadable("z"), nullptr);

  for (const char* id : {"a", "b", "c", "d"}) EXPECT_TRUE(r.has_entry(id)) << id;
  EXPECT_FALSE(r.has_entry("e"));
  EXPECT_FALSE(r.has_entry(""));
  EXPECT_EQ(r.scanned(), 4u);

  EXPECT_TRUE(r.has_template_dir("tpl0"));
  EXPECT_TRUE(r.has_template_dir("tpl1"));
  EXPECT_FALSE(r.has_template_dir("tpl2"));
  EXPECT_FALSE(r.has_template_dir("a"));  // guests and templates are separate
  EXPECT_FALSE(r.has_entry("tpl0"));
}

}  // namespace
}  // namespace fj::gc
