#!/usr/bin/env bash
# package_test.sh [DEB]: builds the Debian package (scripts/package.sh) unless
# given one already built, lints it,
# installs it, upgrades it over itself and to a newer version, removes it and
# purges it, checking the files, the forkjournal user and its state after
# each step. Runs as root (dpkg). It refuses to run on a machine where
# forkjournal is already installed or its user or state exist, and purges
# the package again on any exit, so the machine is left as it was found.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "package_test: FAIL: $*" >&2
  exit 1
}
installed() { dpkg-query -W -f='${Status}' forkjournal 2>/dev/null | grep -q "install ok installed"; }
known() { dpkg-query -W forkjournal >/dev/null 2>&1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i)"
dropins=/etc/systemd/system/forkjournald.service.d
if known || getent passwd forkjournal >/dev/null || getent group forkjournal >/dev/null ||
  [ -e /var/lib/forkjournal ] || [ -e "$dropins" ]; then
  fail "forkjournal (package, user, group, /var/lib/forkjournal or $dropins) already on this machine"
fi
work=$(mktemp -d)
cleanup() {
  if known; then dpkg -P forkjournal >/dev/null 2>&1 || true; fi
  rm -rf "$dropins"
  rm -rf "$work"
}
trap cleanup EXIT

echo "-- build"
deb=${1:-$(bash scripts/package.sh)}
[ -f "$deb" ] || fail "scripts/package.sh made no $deb"
echo "$deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$deb" | awk '{print $6}' >"$work/contents"
for f in ./usr/bin/forkjournal ./usr/bin/forkjournald ./usr/bin/forkjournal-crashtest \
  ./usr/lib/x86_64-linux-gnu/forkjournal/libfjrecord.so \
  ./lib/systemd/system/forkjournald.service \
  ./usr/share/man/man1/forkjournal.1.gz ./usr/share/man/man1/forkjournald.1.gz \
  ./usr/share/man/man1/forkjournal-crashtest.1.gz \
  ./usr/share/doc/forkjournal/copyright ./usr/share/doc/forkjournal/changelog.Debian.gz \
  ./usr/share/doc/forkjournal/examples/network.conf \
  ./usr/share/doc/forkjournal/README.md.gz ./usr/share/doc/forkjournal/operations.md.gz \
  ./usr/share/doc/forkjournal/protocol.md.gz ./usr/share/doc/forkjournal/fleet.md.gz \
  ./usr/share/doc/forkjournal/format.md.gz ./usr/share/doc/forkjournal/design.md.gz \
  ./usr/share/doc/forkjournal/vm-manager-disk.md.gz \
  ./usr/include/forkjournal/journal/journal.h \
  ./usr/lib/x86_64-linux-gnu/cmake/forkjournal/forkjournalConfig.cmake; do
  grep -qxF "$f" "$work/contents" || fail "$f not in the package"
done

echo "-- lintian"
# Errors fail the test; the warnings accepted are listed in docs/decisions.md.
lintian --fail-on error "$deb" || fail "lintian reports errors"

echo "-- install"
dpkg -i "$deb" >/dev/null
installed || fail "not installed after dpkg -i"
/usr/bin/forkjournal --version | grep -q "^forkjournal " || fail "forkjournal --version"
/usr/bin/forkjournald --version | grep -q "^forkjournald " || fail "forkjournald --version"
/usr/bin/forkjournal-crashtest --version | grep -q "^forkjournal-crashtest " ||
  fail "forkjournal-crashtest --version"
for page in forkjournal forkjournald forkjournal-crashtest; do
  man -w "$page" >/dev/null || fail "no man page for $page"
done
# The man pages document the whole interface: forkjournal every command
# (each one its --help lists, fleet's too) with its options, both programs
# their exit status, environment and files, the daemon its signals.
for program in forkjournal forkjournald; do
  zcat "/usr/share/man/man1/$program.1.gz" >"$work/$program.1"
done
page() { cat "$work/$1.1"; }
for command in $(/usr/bin/forkjournal --help | sed -n '/^Subcommands:$/,/^$/s/^  \([a-z]\+\) .*/\1/p'); do
  page forkjournal | grep -q "^\.SS \"forkjournal $command " ||
    fail "forkjournal(1) does not document the command $command"
done
for command in init counts verify; do
  page forkjournal | grep -q "^\.SS \"forkjournal fleet $command " ||
    fail "forkjournal(1) does not document fleet $command"
done
for text in '\-\-as\-of' '\-\-expect\-head' '\-\-follow' '\-\-data\-root' '\-\-witness' \
  '.SH "EXIT STATUS"' '.SH ENVIRONMENT' 'FORKJOURNAL_DIR' '.SH FILES' '.SH "SEE ALSO"'; do
  page forkjournal | grep -qF -- "$text" || fail "forkjournal(1) lacks '$text'"
done
for text in '.SH "EXIT STATUS"' '.SH SIGNALS' 'SIGHUP' 'SIGTERM' '.SH ENVIRONMENT' '.SH FILES' \
  '.SH "SEE ALSO"' '\-\-data\-root' '\-\-reconcile\-every'; do
  page forkjournald | grep -qF -- "$text" || fail "forkjournald(1) lacks '$text'"
done
# The protocol document forkjournald --help (and so its man page) points to
# is where it says.
protocol=$(/usr/bin/forkjournald --help | grep -o '/usr/share/doc/forkjournal/[^ ]*' || true)
[ -n "$protocol" ] || fail "forkjournald --help names no document under /usr/share/doc/forkjournal"
[ -f "$protocol" ] || fail "forkjournald --help points to $protocol, which is not installed"
zcat "$protocol" | cmp -s - docs/protocol.md || fail "$protocol is not docs/protocol.md"
wants=/etc/systemd/system/multi-user.target.wants/forkjournald.service
[ ! -L "$wants" ] || fail "the unit is enabled on install (its --data-root needs checking first)"
getent passwd forkjournal >/dev/null || fail "no forkjournal user"
getent group forkjournal >/dev/null || fail "no forkjournal group"
[ "$(stat -c '%U:%G %a' /var/lib/forkjournal)" = "forkjournal:forkjournal 700" ] ||
  fail "/var/lib/forkjournal is $(stat -c '%U:%G %a' /var/lib/forkjournal)"
systemd-analyze verify /lib/systemd/system/forkjournald.service ||
  fail "systemd-analyze verify forkjournald.service"
# A refused start exits 2 whether its cause lasts or passes, so the unit
# restarts a failed daemon, but only a few times: the start limit must be
# reached by restarts RestartSec= apart, or a configuration error would
# restart for ever.
unit=/lib/systemd/system/forkjournald.service
unit_seconds() {
  local value
  value=$(sed -n "s/^$1=//p" "$unit" | tail -n 1)
  case "$value" in
  [0-9]*min) echo $((${value%min} * 60)) ;;
  [0-9]*s) echo "${value%s}" ;;
  *) fail "$unit sets no $1 in seconds or minutes ('$value')" ;;
  esac
}
burst=$(sed -n 's/^StartLimitBurst=\([0-9]\+\)$/\1/p' "$unit")
[ -n "$burst" ] || fail "$unit sets no StartLimitBurst="
restart_sec=$(unit_seconds RestartSec)
interval=$(unit_seconds StartLimitIntervalSec)
[ $((burst * restart_sec)) -lt "$interval" ] ||
  fail "$unit restarts for ever: $burst starts $restart_sec s apart outlast StartLimitIntervalSec=${interval}s"
! grep -n "still starts" "$unit" || fail "$unit says a host without the data root still starts"
# The example drop-in for --ship and --metrics (docs/operations.md) parses
# cleanly beside the unit, and its command line keeps every option of the
# unit's: a drop-in replaces the whole ExecStart.
example=/usr/share/doc/forkjournal/examples/network.conf
install -D -m 0644 "$example" "$dropins/network.conf"
systemd-analyze verify /lib/systemd/system/forkjournald.service 2>"$work/verify.log" ||
  fail "systemd-analyze verify with $example: $(cat "$work/verify.log")"
! grep -F network.conf "$work/verify.log" || fail "systemd-analyze verify complains about $example"
exec_start() { sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$1" | sed -n 's/^ExecStart=\(.\)/\1/p' | tail -n 1; }
unit_line=$(exec_start /lib/systemd/system/forkjournald.service)
dropin_line=$(exec_start "$dropins/network.conf")
for word in $unit_line; do
  [[ " $(echo $dropin_line) " == *" $word "* ]] || fail "$example's ExecStart lacks the unit's '$word'"
done
for option in --ship --metrics; do
  [[ " $(echo $dropin_line) " == *" $option "* ]] || fail "$example's ExecStart lacks $option"
done
rm -r "$dropins"
# The daemon runs as forkjournal: start_daemon JOURNAL [OPTION...] starts it
# on JOURNAL with its socket in $work/run and waits until it serves;
# stop_daemon shuts it down with SIGTERM and checks that it exited cleanly.
chmod 0711 "$work" # the daemon reaches its socket directory through it
mkdir "$work/run"
chown forkjournal:forkjournal "$work/run"
start_daemon() {
  local journal=$1
  shift
  setpriv --reuid forkjournal --regid forkjournal --init-groups -- /usr/bin/forkjournald \
    --journal "$journal" --socket "$work/run/forkjournald.sock" --socket-mode 0660 "$@" \
    2>"$work/daemon.log" &
  daemon=$!
  for _ in $(seq 100); do
    [ -S "$work/run/forkjournald.sock" ] && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.1
  done
  [ -S "$work/run/forkjournald.sock" ] || fail "forkjournald did not come up: $(cat "$work/daemon.log")"
}
stop_daemon() {
  kill -TERM "$daemon"
  wait "$daemon" || fail "forkjournald exited $? on SIGTERM: $(cat "$work/daemon.log")"
}
# Every command the docs give for the packaged journal runs as forkjournal:
# a root-run write leaves files the daemon cannot open.
grep -n "forkjournal --journal /var/lib/forkjournal" README.md docs/*.md |
  grep -v -e "runuser -u forkjournal -- forkjournal --journal" \
    -e "sudo -u forkjournal forkjournal --journal" >"$work/as-root" || true
[ ! -s "$work/as-root" ] ||
  fail "the docs run forkjournal on the packaged journal as root: $(cat "$work/as-root")"
# The bootstrap of docs/operations.md (Install), run as written against an
# empty data root, leaves a journal the daemon opens.
awk '/^## /{install = ($0 == "## Install")} install && /^```/{block = !block; next}
  install && block && /forkjournal .*(init|import)/' docs/operations.md >"$work/bootstrap"
grep -q " init$" "$work/bootstrap" && grep -q " import --data-root " "$work/bootstrap" ||
  fail "docs/operations.md (Install) gives no init and import commands: $(cat "$work/bootstrap")"
mkdir -p "$work/hypeman/guests" "$work/hypeman/templates"
sed -i "s#/var/lib/hypeman#$work/hypeman#g" "$work/bootstrap"
bash -e "$work/bootstrap" >/dev/null || fail "the bootstrap of docs/operations.md failed"
start_daemon /var/lib/forkjournal --data-root "$work/hypeman"
stop_daemon
find /var/lib/forkjournal -mindepth 1 -delete
# The user can write its journal where the unit puts it.
runuser -u forkjournal -- /usr/bin/forkjournal --journal /var/lib/forkjournal/journal init >/dev/null
runuser -u forkjournal -- /usr/bin/forkjournal --journal /var/lib/forkjournal/journal \
  register tpl0pkg --source inst0pkg >/dev/null
counts() { runuser -u forkjournal -- /usr/bin/forkjournal --journal /var/lib/forkjournal/journal counts; }
counts | grep -q tpl0pkg || fail "the journal written as forkjournal has no tpl0pkg"
# The daemon runs as that user on its journal: it comes up, serves its socket
# with the unit's mode and shuts down cleanly on SIGTERM.
start_daemon /var/lib/forkjournal/journal
[ "$(stat -c '%U:%G %a' "$work/run/forkjournald.sock")" = "forkjournal:forkjournal 660" ] ||
  fail "the socket is $(stat -c '%U:%G %a' "$work/run/forkjournald.sock")"
stop_daemon

echo "-- reinstall the same version"
dpkg -i "$deb" >/dev/null
installed || fail "not installed after reinstalling"
counts | grep -q tpl0pkg || fail "the journal did not survive a reinstall"

echo "-- upgrade to a newer version, the unit enabled"
systemctl enable forkjournald.service 2>/dev/null
[ -L "$wants" ] || fail "systemctl enable made no $wants"
dpkg-deb -R "$deb" "$work/next"
version=$(dpkg-deb -f "$deb" Version)
sed -i "s/^Version: .*/Version: $version+next1/" "$work/next/DEBIAN/control"
fakeroot dpkg-deb -b "$work/next" "$work/next.deb" >/dev/null
dpkg -i "$work/next.deb" >/dev/null
[ "$(dpkg-query -W -f='${Version}' forkjournal)" = "$version+next1" ] || fail "upgrade not installed"
counts | grep -q tpl0pkg || fail "the journal did not survive an upgrade"
getent passwd forkjournal >/dev/null || fail "the user did not survive an upgrade"
[ -L "$wants" ] || fail "the unit is no longer enabled after an upgrade"

echo "-- remove"
dpkg -r forkjournal >/dev/null
installed && fail "still installed after dpkg -r"
for f in /usr/bin/forkjournal /usr/bin/forkjournald /usr/bin/forkjournal-crashtest \
  /lib/systemd/system/forkjournald.service /usr/share/man/man1/forkjournal.1.gz \
  /usr/lib/x86_64-linux-gnu/forkjournal/libfjrecord.so; do
  [ ! -e "$f" ] || fail "$f left after dpkg -r"
done
getent passwd forkjournal >/dev/null || fail "dpkg -r removed the user (only a purge may)"
[ -d /var/lib/forkjournal/journal ] || fail "dpkg -r removed the journal (only a purge may)"

echo "-- purge"
dpkg -P forkjournal >/dev/null
known && fail "dpkg still knows forkjournal after dpkg -P"
getent passwd forkjournal >/dev/null && fail "the forkjournal user is left after dpkg -P"
getent group forkjournal >/dev/null && fail "the forkjournal group is left after dpkg -P"
[ ! -e /var/lib/forkjournal ] || fail "/var/lib/forkjournal left after dpkg -P"
[ ! -L "$wants" ] || fail "$wants left after dpkg -P"
echo "package_test: passed"
