#!/usr/bin/env bash
# PennyLane's own device test suite on pyqml.qubit, analytic and with 10000 shots, as Lightning's CI runs it
# (the whole suite, no subsets). Run inside the environment where pyqml and PennyLane are installed with
# pip install ".[pennylane-device-tests]" (pl-device-test runs the `pytest` found on PATH).
# Prints the passed / failed / skipped counts and the wall time of each run, and every failing test; the exit
# status is non-zero when a test fails or errors, or when a run gives no summary, so CI can call it.
set -u
extra=("$@")
status=0
for shots in None 10000; do
    log=$(mktemp)
    start=$(date +%s)
    pl-device-test --device pyqml.qubit --shots="$shots" --skip-ops -q -p no:cacheprovider "${extra[@]}" >"$log" 2>&1
    rc=$?
    elapsed=$(( $(date +%s) - start ))
    summary=$(grep -E "^(=+ )?[0-9]+ (passed|failed|skipped)|[0-9]+ passed|[0-9]+ failed" "$log" | tail -1)
    echo "shots=$shots: ${summary:-no summary} (${elapsed} s, pytest exit status $rc)"
    grep -E "^(FAILED|ERROR)" "$log" | sed 's/^/    /'
    if [ -z "$summary" ]; then
        tail -20 "$log" | sed 's/^/    /'
        status=1
    elif [ "$rc" -ne 0 ] || echo "$summary" | grep -Eq "[0-9]+ (failed|error)"; then
        status=1
    fi
    rm -f "$log"
done
exit $status
