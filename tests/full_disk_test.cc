// A full file system, a real one: a small tmpfs mounted in a mount namespace
// of the test's own (unshare), filled with a file. Creating a journal or
// starting the daemon there is a one-line error that leaves nothing behind,
// never a SIGBUS inside LMDB (its lock file is stored into through a shared
// mapping, where a missing block is a signal, not an error); and an append
// that finds no room says so, with the journal left whole.
#include "support/process.h"
#include "support/temp_dir.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

using namespace fj::testing;

// Runs `script` with sh as root of a new user and mount namespace, with a
// 512 KiB tmpfs mounted at $m, forkjournal as $fj and forkjournald as $fjd.
// `fill K` fills the tmpfs but for K KiB. The tmpfs goes with the namespace.
Exited on_small_tmpfs(const std::string& mount_point, const std::string& script) {
  const std::string prelude = R"sh(
set -u
m=$1 fj=$2 fjd=$3
mount -t tmpfs -o size=512k tmpfs "$m" || { echo "cannot mount a tmpfs" >&2; exit 90; }
# Fills $m but for $1 KiB: the reserve is made first and removed last, so
# exactly it is free.
fill() {
  rm -f "$m/filler" "$m/reserve"
  if [ "$1" -gt 0 ]; then dd if=/dev/zero of="$m/reserve" bs=1k count="$1" 2>/dev/null; fi
  dd if=/dev/zero of="$m/filler" bs=4k 2>/dev/null
  rm -f "$m/reserve"
}
)sh";
  return run({"/usr/bin/unshare", "--user", "--map-root-user", "--mount", "/bin/sh", "-c",
              prelude + script, "sh", mount_point, FORKJOURNAL_BIN, FORKJOURNALD_BIN},
             {.journal_env = std::nullopt, .timeout = std::chrono::seconds(60)});
}

TEST(FullDisk, InitOnAFullFileSystemIsAnErrorThatLeavesNothing) {
  TempDir dir;
  const Exited r = on_small_tmpfs(dir.path(), R"sh(
fill 0
"$fj" --journal "$m/parent/j" init; echo "init: exit $?"
echo "left: $(ls -A "$m" | tr '\n' ' ')"
rm "$m/filler"
"$fj" --journal "$m/parent/j" init >/dev/null; echo "init with room: exit $?"
"$fj" --journal "$m/parent/j" audit >/dev/null; echo "audit: exit $?"
)sh");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(contains(r.out, "init: exit 2\n")) << r;
  EXPECT_TRUE(contains(r.err, "lock.mdb")) << r;
  EXPECT_TRUE(contains(r.err, "No space left on device")) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r;
  // The directories init created went with its files.
  EXPECT_TRUE(contains(r.out, "left: filler \n")) << r;
  EXPECT_TRUE(contains(r.out, "init with room: exit 0\n")) << r;
  EXPECT_TRUE(contains(r.out, "audit: exit 0\n")) << r;
}

// Every amount of room from none to enough: init makes a journal that audits
// clean, or fails with exit 2 and leaves the directory as it found it, so
// that the next init with room succeeds.
TEST(FullDisk, InitWithAnyLittleRoomMakesAWholeJournalOrNothing) {
  TempDir dir;
  const Exited r = on_small_tmpfs(dir.path(), R"sh(
for k in 0 4 8 12 16 20 24 28 32 40 48 64 96 128; do
  fill "$k"
  "$fj" --journal "$m/j" init >/dev/null 2>"$m/../err"; rc=$?
  if [ $rc -eq 0 ]; then
    "$fj" --journal "$m/j" audit >/dev/null 2>&1 || echo "$k KiB: init succeeded, audit failed"
    echo "$k KiB: made"
  elif [ $rc -eq 2 ]; then
    [ -e "$m/j" ] && echo "$k KiB: refused, left $(ls -A "$m/j" | tr '\n' ' ')"
    grep -q "No space left on device\|the file system holding it is full" "$m/../err" ||
      echo "$k KiB: refused without saying why: $(cat "$m/../err")"
    rm "$m/filler"
    "$fj" --journal "$m/j" init >/dev/null 2>&1 || echo "$k KiB: a second init with room failed"
  else
    echo "$k KiB: init exit $rc: $(cat "$m/../err")"
  fi
  rm -rf "$m/j"
done
)sh");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_FALSE(contains(r.out, "failed")) << r;
  EXPECT_FALSE(contains(r.out, "left")) << r;
  EXPECT_FALSE(contains(r.out, "without saying why")) << r;
  EXPECT_FALSE(contains(r.out, "init exit")) << r;
  EXPECT_TRUE(contains(r.out, "128 KiB: made")) << "the sweep never reached enough room: " << r;
}

TEST(FullDisk, TheDaemonRefusesToStartOnAFullFileSystemAndLeavesNothing) {
  TempDir dir;
  const Exited r = on_small_tmpfs(dir.path(), R"sh(
fill 0
"$fjd" --journal "$m/jd" --socket "$m/d.sock"; echo "forkjournald: exit $?"
echo "left: $(ls -A "$m" | tr '\n' ' ')"
)sh");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(contains(r.out, "forkjournald: exit 2\n")) << r;
  EXPECT_TRUE(contains(r.err, "No space left on device")) << r;
  EXPECT_TRUE(contains(r.out, "left: filler \n")) << "no socket, no journal: " << r;
}

// An append that finds the file system full fails saying so (LMDB reports a
// short write as an I/O error), and the journal stays whole.
TEST(FullDisk, AnAppendThatFindsNoRoomSaysTheFileSystemIsFull) {
  TempDir dir;
  const Exited r = on_small_tmpfs(dir.path(), R"sh(
"$fj" --journal "$m/j" init >/dev/null || exit 91
"$fj" --journal "$m/j" register web --source src >/dev/null || exit 92
fill 0
i=0
while [ $i -lt 2000 ]; do
  "$fj" --journal "$m/j" fork web "f$i" >/dev/null 2>"$m/../err" || break
  i=$((i + 1))
done
echo "forks before the disk was full: $i"
cat "$m/../err"
rm "$m/filler"
"$fj" --journal "$m/j" audit >/dev/null; echo "audit: exit $?"
)sh");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_FALSE(contains(r.out, "forks before the disk was full: 2000")) << "never full: " << r;
  EXPECT_TRUE(contains(r.out, "the commit failed")) << r;
  EXPECT_TRUE(contains(r.out, "the file system holding it is full")) << r;
  EXPECT_TRUE(contains(r.out, "audit: exit 0\n")) << r;
}

}  // namespace
