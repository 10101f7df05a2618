#!/bin/sh
# commands.sh PROGRAM: prints a help2man include file with a [COMMANDS]
# section that documents every command of PROGRAM (forkjournal): its usage,
# description, positionals and options, each taken from the command's own
# --help. The commands come from the "Subcommands:" list of PROGRAM --help
# and, for a command that has one (fleet), of its own --help, so the page
# never lists a command the program lacks, nor misses one.
set -eu
program=$1
name=$(basename "$program")

# Turns CLI11's --help text (on stdin) into roff: the description, and one
# .TP per positional or option. -h,--help and the footer on the global
# options are left out (the OPTIONS section has them).
to_roff() {
  awk '
    function esc(s) {
      gsub(/\\/, "\\e", s)
      gsub(/-/, "\\-", s)
      sub(/^[.'"'"']/, "\\\\&&", s)
      return s
    }
    NR == 1 { print esc($0); next }
    /^(Positionals|Options):$/ { in_list = 1; next }
    /^[^ ]/ { in_list = 0; next }
    in_list && /^  [^ ]/ {
      entry = substr($0, 3)
      skip = entry ~ /^-h,--help /
      if (skip) next
      split_at = match(entry, /  +/)
      term = split_at ? substr(entry, 1, split_at - 1) : entry
      text = split_at ? substr(entry, split_at + RLENGTH) : ""
      first = term
      sub(/ .*/, "", first)
      rest = substr(term, length(first) + 1)
      font = first ~ /^-/ ? "B" : "I"
      print ".TP"
      print "\\f" font esc(first) "\\fR" esc(rest)
      if (text != "") print esc(text)
      next
    }
    in_list && /^   +[^ ]/ && !skip {
      text = $0
      sub(/^ +/, "", text)
      print esc(text)
    }
  '
}

# Prints the commands listed under "Subcommands:" in --help text on stdin.
subcommands() {
  awk '/^Subcommands:$/ { on = 1; next } on && /^  [^ ]/ { print $1; next } { on = 0 }'
}

# Documents the command "$@" (e.g. "counts" or "fleet init"), then its own
# commands, if any.
document() {
  help=$("$program" "$@" --help)
  usage=$(printf '%s\n' "$help" | sed -n 's/^Usage: //p')
  printf '.SS "%s"\n' "$(printf '%s' "$usage" | sed 's/-/\\-/g')"
  printf '%s\n' "$help" | to_roff
  for sub in $(printf '%s\n' "$help" | subcommands); do
    document "$@" "$sub"
  done
}

cat <<'END'
[COMMANDS]
Every command takes \fB\-\-help\fR. The global options \fB\-\-journal\fR
and \fB\-\-sync\fR may come before or after the command. Every command but
\fBhealth\fR and the \fBfleet\fR commands needs \fB\-\-journal\fR (or
FORKJOURNAL_DIR).
END
for command in $("$program" --help | subcommands); do
  document "$command"
done
