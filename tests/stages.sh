# Stages for tests/run.sh: each runs to its end whatever the others did,
# and `finish_stages` prints what each gave and exits non-zero if any failed.
# Sourced, not run: `source tests/stages.sh; stage NAME CMD...; finish_stages`.

STAGES=()
RESULTS=()
FAILED=0
LOG_DIR=$(mktemp -d)

# stage NAME COMMAND...: runs COMMAND, tees its output, keeps its last
# summary line ("N passed, M skipped in Xs" for pytest, "# pass N" for node).
stage() {
  local name=$1
  shift
  local log="$LOG_DIR/${#STAGES[@]}.log"
  echo
  echo "== $name"
  "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local counts
  counts=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|skipped|deselected)' "$log" \
           | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
  if [ -z "$counts" ]; then
    counts=$(grep -E '^# (pass|fail) ' "$log" | tr -d '#' | paste -sd, - | sed 's/^ //')
  fi
  STAGES+=("$name")
  if [ "$status" -eq 0 ]; then
    RESULTS+=("ok      ${counts:-done}")
  else
    RESULTS+=("FAILED  (exit $status) ${counts}")
    FAILED=1
  fi
}

finish_stages() {
  echo
  echo "== summary"
  local i
  for i in "${!STAGES[@]}"; do
    printf '  %-62s %s\n' "${STAGES[$i]}" "${RESULTS[$i]}"
  done
  rm -rf "$LOG_DIR"
  if [ "$FAILED" -ne 0 ]; then
    echo "FAILED: at least one stage failed"
    exit 1
  fi
  echo "all stages passed"
}
