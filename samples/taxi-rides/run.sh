#!/usr/bin/env bash
# Taxi rides (Argo Streams' pipeline: rides -> groupByKey(licenseId) -> a per-licence aggregate
# in event-time windows), in local mode:
#
#   taxi-rides ──▶ taxi-rides ──▶ processor "work-time" ──────────────────▶ work-time
#   (generator:    stream         key-by .licenseId, event time /eventTime,   (one record per
#    a 2h shift                   30m windows: one licence's window per call;  licence and window,
#    in a second)                 sums the durations of the rides that ended   keyed by licence)
#
# A generator simulates a 2-hour shift of 12 taxis and publishes one event per finished ride
# ({"licenseId", "pickupTime", "dropoffTime", "eventTime"}: eventTime is the drop-off), the whole
# shift in about a second, some rides out of order (up to 5s). The processor groups them by
# licence and 30-minute window of event time; the work-time function sums each licence's ride
# durations per window. Run it after scripts/quickstart.sh has built Runnel:
#
#   bash samples/taxi-rides/run.sh
#
# Settings: SAMPLE_SEED (1), SAMPLE_LICENSES (12), SAMPLE_DISORDER (seconds, 5), SAMPLE_OUTPUT_DIR
# (keeps the rides, events.jsonl, and the results, work-time.jsonl).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
sample_build sample_taxi_rides sample_work_time
sample_home
out_dir=${SAMPLE_OUTPUT_DIR:-$RUNNEL_HOME/sample}
mkdir -p "$out_dir"
bin="$build_dir/samples/taxi-rides"
licenses=${SAMPLE_LICENSES:-12}
disorder=${SAMPLE_DISORDER:-5}

run gateway create taxis
run stream create taxi-rides --gateway taxis --content-type application/json
run stream create work-time --gateway taxis --content-type application/json
run stream create late-rides --gateway taxis --content-type application/json
# .licenseId is Argo Streams' spelling of the JSON Pointer /licenseId. The watermark stays 5s of
# event time behind the latest drop-off seen; once the stream is quiet for 3s, event time moves
# on with the clock, so the shift's last window fires.
run processor create work-time --function-cmd "$bin/work-time" \
  --key-by .licenseId --event-time /eventTime --window time=30m \
  --max-out-of-orderness 5s --idle-timeout 3s --late side-output:late-rides \
  --input taxi-rides@earliest --output work-time

echo "\$ taxi-rides --licenses $licenses --hours 2 --disorder $disorder | runnel publish taxi-rides --file - --lines"
"$bin/taxi-rides" --seed "${SAMPLE_SEED:-1}" --licenses "$licenses" --hours 2 \
  --disorder "$disorder" | tee "$out_dir/events.jsonl" |
  "$runnel_bin" publish taxi-rides --file - --lines

n=$(sample_wait_processed work-time "$(grep -c . "$out_dir/events.jsonl")" 60)
"$runnel_bin" subscribe work-time --from-beginning --max "$n" --timeout 30s > "$out_dir/work-time.jsonl"
"$runnel_bin" subscribe late-rides --from-beginning --timeout 1s > "$out_dir/late-rides.jsonl"

echo "Work time per licence (rides that ended in each 30-minute window of event time):"
python3 - "$out_dir" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = [(r["key"], json.loads(r["payload"])) for r in map(json.loads, open(os.path.join(out, "work-time.jsonl")))]
windows = sorted({(w["windowStart"], w["windowEnd"]) for _, w in rows})
print("  licence   " + "  ".join(f"{s[11:16]}-{e[11:16]}" for s, e in windows) + "  total")
def hm(s):
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
for key in sorted({k for k, _ in rows}):
    cells = {w["windowStart"]: w for k, w in rows if k == key}
    line = "  ".join((f"{hm(cells[w]['workSeconds'])} ({cells[w]['rides']})" if w in cells else "-").ljust(11)
                     for w, _ in windows)
    print(f"  {key}  {line}  {hm(sum(c['workSeconds'] for c in cells.values()))}")
late = sum(1 for line in open(os.path.join(out, "late-rides.jsonl")) if line.strip())
print(f"  (work time, rides in brackets; {len(rows)} results from {len(windows)} windows; late rides: {late})")
PY
run processor status work-time
