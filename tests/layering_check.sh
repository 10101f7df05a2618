#!/usr/bin/env bash
# Fails when an #include runs upward or sideways in the library layering
#   journal <- projector <- gc <- present <- daemon
#                                         <- cli
#              projector <- fleet <- daemon, cli
# Usage: layering_check.sh ROOT   (the source tree to check)
# Each "a/b.h" include in a file under folder F must name a folder F may use.
# Prints one line per offending include; exit 1 if any, 0 otherwise.
set -euo pipefail
root=${1:?usage: layering_check.sh ROOT}

declare -A allowed=(
  [journal]="journal"
  [projector]="journal projector"
  [gc]="journal projector gc"
  [fleet]="journal projector fleet"
  [present]="journal projector gc present"
  [daemon]="journal projector gc present fleet daemon"
  [cli]="journal projector gc present fleet cli"
)

bad=0
for folder in "${!allowed[@]}"; do
  [[ -d $root/$folder ]] || continue
  while IFS=: read -r file line text; do
    target=${text#*\"}
    target=${target%%/*}
    if [[ " ${allowed[$folder]} " != *" $target "* ]]; then
      echo "$file:$line: $folder/ may not include $target/ ($text)"
      bad=1
    fi
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[A-Za-z0-9_]+/' \
             --include='*.h' --include='*.cc' "$root/$folder" || true)
done
exit $bad
