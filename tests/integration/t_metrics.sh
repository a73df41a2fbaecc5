#!/bin/bash
# (Becomes t_metrics.sh once agent/daemon.c starts the endpoint: see
# agent/metrics.h.)  The daemon in a namespace with "metrics": {"listen":
# "127.0.0.1:9586"}: /metrics answers, the scrape passes `promtool check
# metrics`, a reconcile pass shows up in the counters, 404/405 for the rest,
# SIGHUP keeps the endpoint, SIGTERM closes it.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/hostsim.sh"

hostsim_build || { echo "topology failed"; finish; exit 1; }
CFG=$TMP/cr.json
hostsim_config "$CFG" '"metrics": { "listen": "127.0.0.1:9586" }'
scrape() { nsx conn curl -sf --max-time 5 http://127.0.0.1:9586/metrics; }
bg conn "$CLOUDROUTE" -c "$CFG" run
RUNPID=$!
check "the endpoint answers" wait_for 10 scrape
# the endpoint is up before the start pass ends: wait for its count
counted() { scrape | grep -qE '^cloudroute_reconcile_passes_total\{scope="[a-z]+"\} [1-9]'; }
wait_for 10 counted
scrape >"$TMP/m1"
check "promtool check metrics" promtool check metrics <"$TMP/m1"
check "build info" grep -q '^cloudroute_build_info{version="' "$TMP/m1"
check "a reconcile pass counted" grep -qE '^cloudroute_reconcile_passes_total\{scope="[a-z]+"\} [1-9]' "$TMP/m1"
check "changes applied counted" grep -qE '^cloudroute_changes_applied_total\{section="host"\} [1-9]' "$TMP/m1"
check_eq "404 elsewhere" 404 "$(nsx conn curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9586/)"
check_eq "405 for POST" 405 "$(nsx conn curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:9586/metrics)"
check_not "not on other addresses" nsx conn curl -sf --max-time 2 http://10.0.0.10:9586/metrics
kill -HUP $RUNPID; sleep 1
check "still served after SIGHUP" scrape
kill -TERM $RUNPID; wait $RUNPID
check_not "closed after SIGTERM" scrape
finish
