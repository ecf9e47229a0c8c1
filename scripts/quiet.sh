# Sourced by the install and build scripts. quiet LOG CMD...: runs CMD with its output appended
# to LOG, so that the terminal shows what is being built and not the go command's module lines;
# if CMD fails, the end of LOG is printed with its path.
quiet() {
  local log=$1; shift
  mkdir -p "$(dirname "$log")"
  echo "\$ $*" >>"$log"
  if ! "$@" >>"$log" 2>&1; then
    echo "failed: $*" >&2
    echo "the last lines of $log:" >&2
    tail -n 25 "$log" >&2
    return 1
  fi
}
