// unix_sockets_only PROGRAM [ARGS...]: runs PROGRAM where socket() fails with
// EAFNOSUPPORT for every family but AF_UNIX, as under the packaged unit's
// RestrictAddressFamilies=AF_UNIX (systemd installs the same kind of seccomp
// filter). Exits 125 when the filter cannot be installed, 127 when PROGRAM
// cannot be run.
#include <seccomp.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: unix_sockets_only PROGRAM [ARGS...]\n");
    return 125;
  }
  scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
  if (filter == nullptr) return 125;
  // seccomp_load sets no_new_privs itself (SCMP_FLTATR_CTL_NNP is on by default).
  // socket()'s first argument, the family, is not AF_UNIX. (Spelled out:
  // SCMP_A0 leaves datum_b to the compiler, which clang warns about.)
  const scmp_arg_cmp not_unix{.arg = 0, .op = SCMP_CMP_NE, .datum_a = AF_UNIX, .datum_b = 0};
  const int added =
      seccomp_rule_add(filter, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1, not_unix);
  const int loaded = added == 0 ? seccomp_load(filter) : added;
  seccomp_release(filter);
  if (loaded != 0) {
    std::fprintf(stderr, "unix_sockets_only: cannot install the filter: %s\n",
                 std::strerror(-loaded));
    return 125;
  }
  ::execv(argv[1], argv + 1);
  std::fprintf(stderr, "unix_sockets_only: cannot run %s: %s\n", argv[1], std::strerror(errno));
  return 127;
}
