#!/usr/bin/env bash
# Split and aggregate (after StreamProc's sample), in local mode:
#
#   amounts ──▶ amounts ──▶ "splitter" ──▶ high (> 5) ──▶ "high-totals" ──▶ high-totals ─┐
#  (generator)  stream       (amount-     ╲                (window-totals,                ├─▶ live
#                             splitter)    ▶ low (<= 5) ──▶ "low-totals"  ──▶ low-totals ─┘   chart
#                                                           2s windows)
#
# A generator publishes {"amount": n} events (n from 1 to 10, 10 a second for 30s); the splitter
# sends each to `high` or `low`; one window-totals processor per stream sums each 2s window; a
# small web page (dashboard.py, on 127.0.0.1:8088) draws both series as a live line chart. Run it
# after scripts/quickstart.sh has built Runnel, and open the URL it prints:
#
#   bash samples/split-aggregate/run.sh
#
# Settings: SAMPLE_SECONDS (30), SAMPLE_RATE (10 a second), SAMPLE_DASHBOARD_PORT (8088; 0 picks
# a free one), SAMPLE_LINGER (seconds to keep the chart up at the end when not on a terminal;
# on a terminal it waits for Enter), SAMPLE_OUTPUT_DIR (keeps events.jsonl and the totals).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
sample_build sample_amounts sample_amount_splitter sample_window_totals
sample_home
out_dir=${SAMPLE_OUTPUT_DIR:-$RUNNEL_HOME/sample}
mkdir -p "$out_dir"
bin="$build_dir/samples/split-aggregate"

run gateway create shop
for s in amounts high low high-totals low-totals; do
  run stream create "$s" --gateway shop --content-type application/json
done
run processor create splitter --function-cmd "$bin/amount-splitter" \
  --input amounts@earliest --output high --output low
for s in high low; do
  run processor create "$s-totals" --function-cmd "$bin/window-totals" --window time=2s \
    --input "$s@earliest" --output "$s-totals"
done

rm -f "$out_dir/dashboard.url"
python3 "$here/dashboard.py" --port "${SAMPLE_DASHBOARD_PORT:-8088}" --runnel "$runnel_bin" \
  --save-dir "$out_dir" --url-file "$out_dir/dashboard.url" >/dev/null &
for _ in $(seq 100); do
  [ -f "$out_dir/dashboard.url" ] && break
  kill -0 $! 2>/dev/null || { echo "The dashboard did not start (port taken? set SAMPLE_DASHBOARD_PORT)" >&2; exit 1; }
  sleep 0.1
done
url=$(cat "$out_dir/dashboard.url")
echo "Live chart: $url"

seconds=${SAMPLE_SECONDS:-30}
rate=${SAMPLE_RATE:-10}
echo "\$ amounts --rate $rate --seconds $seconds | runnel publish amounts --file - --lines"
"$bin/amounts" --rate "$rate" --seconds "$seconds" | tee "$out_dir/events.jsonl" |
  "$runnel_bin" publish amounts --file - --lines

# Wait (bounded) until the last windows have closed and reached the chart.
python3 - "$url" "$out_dir/events.jsonl" <<'PY'
import json, sys, time, urllib.request
url, events = sys.argv[1], sys.argv[2]
amounts = [json.loads(line)["amount"] for line in open(events) if line.strip()]
want = {"high": sum(1 for a in amounts if a > 5), "low": sum(1 for a in amounts if a <= 5)}
deadline = time.time() + 60
while True:
    data = json.load(urllib.request.urlopen(url + "data"))
    got = {name: sum(p["count"] for p in points) for name, points in data.items()}
    if got == want or time.time() > deadline:
        break
    time.sleep(0.5)
for name in ("high", "low"):
    points = data[name]
    print(f"{name}: {got[name]} events in {len(points)} windows, sum {sum(p['sum'] for p in points):g}")
if got != want:
    sys.exit(f"totals incomplete after 60s: got {got}, want {want}")
print("Totals complete.", flush=True)
PY

if [ -t 0 ]; then
  read -r -p "The chart stays up at $url; press Enter to stop. " _
else
  sleep "${SAMPLE_LINGER:-0}"
fi
