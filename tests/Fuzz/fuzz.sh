#!/usr/bin/env bash
# A short coverage-guided fuzz pass: SharpFuzz instruments the project's assemblies, afl-fuzz runs
# each target from its seed corpus for a bounded time, and one line per target gives executions,
# speed, coverage and findings.
#
#   tests/Fuzz/fuzz.sh                  every target, 60 s each, one after the other
#   tests/Fuzz/fuzz.sh gdb 300          one target, 5 minutes
#   tests/Fuzz/fuzz.sh relay,frames 300 some targets, one build, one after the other
#   FUZZ_OUT=/tmp/f tests/Fuzz/fuzz.sh  where the build and the findings go (default /tmp/vmft-fuzz)
#   FUZZ_EXECS=10000000 tests/Fuzz/fuzz.sh all 7200
#                                       each target until about that many executions, or the time
#
# Crashes and hangs land in $FUZZ_OUT/findings/<target>/default/{crashes,hangs}; check one with
#   dotnet $FUZZ_OUT/bin/VmFt.Fuzz.dll replay <target> <file>
# and, once the parser is fixed, commit it under tests/Fuzz/regressions/<target>/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${FUZZ_OUT:-/tmp/vmft-fuzz}
target=${1:-all}
seconds=${2:-60}
execs=${FUZZ_EXECS:-}
[ -z "$execs" ] || [[ "$execs" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: FUZZ_EXECS='$execs' is not a positive count of executions"; exit 2; }
export PATH="$PATH:$HOME/.dotnet/tools"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if ! command -v afl-fuzz >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++) >/dev/null 2>&1 || true
  fi
  command -v afl-fuzz >/dev/null 2>&1 || { echo "fuzz.sh: afl-fuzz is missing: install Debian's afl++ (apt-get install afl++)"; exit 2; }
fi
if ! command -v sharpfuzz >/dev/null 2>&1; then
  dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0 >/dev/null 2>&1 || true
  command -v sharpfuzz >/dev/null 2>&1 || { echo "fuzz.sh: sharpfuzz is missing: dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0"; exit 2; }
fi

# A fresh build each pass: instrumentation rewrites the assemblies in place, and instrumented code
# runs only under afl-fuzz, so the target list is asked for before.
rm -rf "$out/bin"
dotnet publish "$here/Fuzz.csproj" -c Release -o "$out/bin" --nologo -v q >/dev/null
targets=$(dotnet "$out/bin/VmFt.Fuzz.dll" names)
for asm in VmFt.ReplayLog VmFt.Channel VmFt.Guest vmft; do
  sharpfuzz "$out/bin/$asm.dll" >/dev/null
done
if [ "$target" != all ]; then
  wanted=${target//,/ }
  [ -n "${wanted// /}" ] || { echo "fuzz.sh: '$target' names no target (targets: $(echo $targets))"; exit 2; }
  for t in $wanted; do
    echo "$targets" | grep -qx "$t" || { echo "fuzz.sh: unknown target '$t' (targets: $(echo $targets))"; exit 2; }
  done
  targets=$wanted
fi

# afl-fuzz refuses to start on machines tuned for something else; none of that matters for a short pass.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
printf '%-12s %12s %8s %10s %10s %8s %6s\n' target executions exec/s edges bitmap crashes hangs
status=0
for t in $targets; do
  findings="$out/findings/$t"
  rm -rf "$findings"
  mkdir -p "$findings"
  # -t: a .NET input that takes 5 s is a hang; -m none: the runtime reserves far more than it uses.
  timeout $((seconds + 120)) afl-fuzz -i "$root/tests/Fuzz/corpus/$t" -o "$findings" -t 5000 -m none -V "$seconds" ${execs:+-E "$execs"} \
    -- dotnet "$out/bin/VmFt.Fuzz.dll" "$t" >"$findings/afl.log" 2>&1 || true
  stats="$findings/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then
    echo "$t: afl-fuzz did not start; see $findings/afl.log"
    status=1
    continue
  fi
  get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
  printf '%-12s %12s %8s %10s %10s %8s %6s\n' "$t" "$(get execs_done)" "$(get execs_per_sec)" \
    "$(get edges_found)" "$(get bitmap_cvg)" "$(get saved_crashes)" "$(get saved_hangs)"
  if [ "$(get saved_crashes)" != 0 ] || [ "$(get saved_hangs)" != 0 ]; then status=1; fi
done
exit $status
