// Runs the fuzz targets' checks (fuzz/targets.h) over every checked-in seed
// (fuzz/corpus/<target>/) and every saved crash (fuzz/regressions/<target>/)
// in the normal build, without libFuzzer: a crash found once by fuzz/run.sh
// stays a failing test until it is fixed.
#include "fuzz/targets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

namespace fj::fuzz {

// Names the parameter in test output ("record", not a byte dump).
void PrintTo(const Target& target, std::ostream* os) {
  *os << target.name;
}

namespace {

namespace fs = std::filesystem;

const fs::path kFuzzDir = FJ_FUZZ_DIR;

// The regular files of `dir`, sorted; none when it does not exist.
std::vector<fs::path> inputs(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && !name.starts_with(".") && name != "README.md") {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs every input through the target's check; a violated invariant fails the
// test naming the file, and the remaining files still run.
void run_all(const Target& target, const std::vector<fs::path>& files) {
  throw_on_failure = true;
  for (const fs::path& file : files) {
    const std::string bytes = read(file);
    try {
      target.check(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    } catch (const CheckFailure& e) {
      ADD_FAILURE() << file.string() << ": " << e.what();
    }
  }
}

class FuzzCorpus : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzCorpus, EverySeedPasses) {
  const auto files = inputs(kFuzzDir / "corpus" / std::string(GetParam().name));
  ASSERT_FALSE(files.empty()) << "no seed corpus under " << (kFuzzDir / "corpus").string();
  run_all(GetParam(), files);
}

// Targets whose fuzzing has never saved a crash. Every other target's
// regressions folder must exist and hold its inputs: a folder lost in a move
// must fail here, not pass with nothing to run.
constexpr std::array<std::string_view, 1> kNeverCrashed = {"replay"};

TEST_P(FuzzCorpus, EverySavedCrashIsFixed) {
  const fs::path dir = kFuzzDir / "regressions" / std::string(GetParam().name);
  const auto files = inputs(dir);
  if (std::find(kNeverCrashed.begin(), kNeverCrashed.end(), GetParam().name) !=
      kNeverCrashed.end()) {
    EXPECT_TRUE(files.empty()) << dir.string() << " has inputs now: take " << GetParam().name
                               << " out of kNeverCrashed";
    return;
  }
  ASSERT_FALSE(files.empty()) << "no saved crash under " << dir.string()
                              << " (the folder is missing or empty)";
  run_all(GetParam(), files);
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzCorpus, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<Target>& info) {
                           return std::string(info.param.name);
                         });

// Here a violated invariant throws (a test failure) rather than aborts, and
// trivial inputs are refused quietly.
TEST(FuzzChecks, FailureThrowsAndTinyInputsPass) {
  throw_on_failure = true;
  EXPECT_THROW(fail("record", "test"), CheckFailure);
  for (const Target& t : kTargets) {
    const std::uint8_t byte = 0;
    EXPECT_NO_THROW(t.check(&byte, 0)) << t.name;
    EXPECT_NO_THROW(t.check(&byte, 1)) << t.name;
  }
}

}  // namespace
}  // namespace fj::fuzz
