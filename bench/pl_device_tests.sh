#!/usr/bin/env bash
# PennyLane's own device test suite on pyqml.qubit, analytic and with 10000 shots (not part of the default
# test run: it takes minutes). Run inside the environment where pyqml and PennyLane are installed
# (pl-device-test runs the `pytest` found on PATH). Prints passed / failed / skipped counts for each.
set -u
extra=("$@")
for shots in None 10000; do
    log=$(mktemp)
    pl-device-test --device pyqml.qubit --shots="$shots" --skip-ops -q -p no:cacheprovider "${extra[@]}" >"$log" 2>&1
    summary=$(grep -E "^(=+ )?[0-9]+ (passed|failed|skipped)|[0-9]+ passed|[0-9]+ failed" "$log" | tail -1)
    echo "shots=$shots: ${summary:-no summary (see $log)}"
    grep -E "^FAILED" "$log" | sed 's/^/    /'
    rm -f "$log"
done
