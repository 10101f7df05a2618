// forkjournald --help, the text its man page is made from: it names where
// the protocol document is, in the source and in the Debian package
// (tests/package_test.sh checks that the package holds that file).
#include "support/process.h"
#include "support/text.h"

#include <gtest/gtest.h>

namespace {

using namespace fj::testing;

TEST(ForkjournaldHelp, NamesTheProtocolDocumentInTheSourceAndInThePackage) {
  const Exited r = run({FORKJOURNALD_BIN, "--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(contains(r.out, "docs/protocol.md in the source")) << r;
  EXPECT_TRUE(contains(r.out, "/usr/share/doc/forkjournal/protocol.md.gz\nin the Debian package"))
      << r;
}

TEST(ForkjournaldHelp, GivesItsExitCodes) {
  const Exited r = run({FORKJOURNALD_BIN, "--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(contains(r.out, "Exit codes: 0 clean shutdown, 2 startup error")) << r;
}

}  // namespace
