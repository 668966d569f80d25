#!/usr/bin/env bash
# PennyLane's own device test suite on pyqml.qubit, analytic and with 10000 shots, as Lightning's CI runs it
# (the whole suite, no subsets). Run inside the environment where pyqml and PennyLane are installed with
# pip install ".[pennylane-device-tests]" (pl-device-test runs the `pytest` found on PATH).
# Prints the passed / failed / skipped counts and the wall time of each run, and every failing test; the exit
# status is non-zero when a test fails or errors, or when a run gives no summary, so CI can call it.
# The two runs are independent processes and mostly single-threaded: they run side by side (PL_DEVICE_SERIAL=1
# runs one after the other); the report is printed in the same order either way.
set -u
extra=("$@")
status=0
settings=(None 10000)
declare -A log pid start
run_one() {
    pl-device-test --device pyqml.qubit --shots="$1" --skip-ops -q -p no:cacheprovider "${extra[@]}" >"${log[$1]}" 2>&1
}
for shots in "${settings[@]}"; do
    log[$shots]=$(mktemp)
    start[$shots]=$(date +%s)
    if [ "${PL_DEVICE_SERIAL:-0}" = 1 ]; then
        run_one "$shots"
        echo $? >"${log[$shots]}.rc"
        date +%s >"${log[$shots]}.end"
    else
        { run_one "$shots"; echo $? >"${log[$shots]}.rc"; date +%s >"${log[$shots]}.end"; } &
        pid[$shots]=$!
    fi
done
for shots in "${settings[@]}"; do
    [ -n "${pid[$shots]:-}" ] && wait "${pid[$shots]}"
    f=${log[$shots]}
    rc=$(cat "$f.rc" 2>/dev/null || echo 1)
    elapsed=$(( $(cat "$f.end" 2>/dev/null || date +%s) - ${start[$shots]} ))
    summary=$(grep -E "^(=+ )?[0-9]+ (passed|failed|skipped)|[0-9]+ passed|[0-9]+ failed" "$f" | tail -1)
    echo "shots=$shots: ${summary:-no summary} (${elapsed} s, pytest exit status $rc)"
    grep -E "^(FAILED|ERROR)" "$f" | sed 's/^/    /'
    if [ -z "$summary" ]; then
        tail -20 "$f" | sed 's/^/    /'
        status=1
    elif [ "$rc" -ne 0 ] || echo "$summary" | grep -Eq "[0-9]+ (failed|error)"; then
        status=1
    fi
    rm -f "$f" "$f.rc" "$f.end"
done
exit $status
