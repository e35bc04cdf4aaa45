#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writes a bash completion script for the built tools, from their own --help (so it never lists an
# option or subcommand a tool does not have). Run at build time (cmake/manpages.cmake).
#   bash-completion.sh OUTPUT TOOL_PATH...
set -euo pipefail
output=$1
shift

options_of() {  # the long options a --help lists
  "$@" --help 2>/dev/null | grep -oE '^  (-[a-zA-Z],)?--[a-z0-9-]+' | sed -E 's/^ +(-[a-zA-Z],)?//' | sort -u | tr '\n' ' '
}
subcommands_of() {  # the names under "Subcommands:"
  "$@" --help 2>/dev/null | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}' | tr '\n' ' '
}

{
  echo "# bash completion for canary-shm's tools (generated from their --help by scripts/bash-completion.sh)"
  for tool in "$@"; do
    name=$(basename "$tool")
    fn="_${name//-/_}"
    echo "$fn() {"
    echo '  local cur=${COMP_WORDS[COMP_CWORD]} sub="" w'
    subs=$(subcommands_of "$tool")
    if [ -n "$subs" ]; then
      echo "  for w in \"\${COMP_WORDS[@]:1:COMP_CWORD-1}\"; do case \$w in $(echo "$subs" | sed 's/ *$//; s/ /|/g')) sub=\$w; break;; esac; done"
      echo '  case $sub in'
      for sub in $subs; do
        nested=$(subcommands_of "$tool" "$sub")
        echo "    $sub) COMPREPLY=(\$(compgen -W \"$(options_of "$tool" "$sub") $nested\" -- \"\$cur\")); return;;"
      done
      echo '  esac'
    fi
    echo "  COMPREPLY=(\$(compgen -W \"$(options_of "$tool") $subs\" -- \"\$cur\"))"
    echo "}"
    echo "complete -F $fn $name"
  done
} > "$output"
