#!/usr/bin/env bash
# Anomaly detection (after Tanzu Streaming Runtimes' sample), on event time, in local mode:
#
#   card-authorizations ──▶ card-authorizations ──▶ processor "fraud-detector" ──▶ possible-fraud
#     (generator: events      stream                  key-by /card_number, event time /time,
#      stamped with their                             5s windows: one card's window per call;
#      own time, some late)                           late records ──▶ late-authorizations
#                                        │
#                                        └──▶ processor "fraud-replay" (the same, reading the
#                                             stream again from the start) ──▶ possible-fraud-replay
#
# Two rounds of authorizations, 10s apart in event time but published within about a second,
# many out of order (up to SAMPLE_DISORDER, 2s, behind younger ones: within the processor's
# --max-out-of-orderness, so none is late). In each round a few cards are used 8 times within
# 5s; one card is used 4 times in each round, 8 in all, but never more than 5 times in one 5s
# window, so it is not flagged. Then a second processor replays the stream from the start, at a
# different pace, and flags the same cards in the same windows. Run it after
# scripts/quickstart.sh has built Runnel:
#
#   bash samples/anomaly-detection/run.sh
#
# Settings: SAMPLE_DISORDER (seconds, 2; more than 2 makes some events late: they go to
# late-authorizations and the alerts may miss them), SAMPLE_SEED (7), SAMPLE_SUSPICIOUS (3),
# SAMPLE_OUTPUT_DIR=DIR keeps the events (events.jsonl), the alerts (possible-fraud.jsonl,
# possible-fraud-replay.jsonl) and the late events (late-authorizations.jsonl).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
sample_build sample_card_authorizations sample_fraud_detector
sample_home
out_dir=${SAMPLE_OUTPUT_DIR:-$RUNNEL_HOME/sample}
mkdir -p "$out_dir"
bin="$build_dir/samples/anomaly-detection"
suspicious=${SAMPLE_SUSPICIOUS:-3}
disorder=${SAMPLE_DISORDER:-2}
threshold=5
# Event time: the payload's "time"; per-card 5s windows aligned on the epoch. A window fires once
# events 2s younger than its end arrived (or, when the stream goes quiet, 3s later plus what is
# missing, so the last window fires too).
event_time=(--key-by /card_number --event-time /time --window time=5s
  --max-out-of-orderness 2s --idle-timeout 3s --late side-output:late-authorizations)

run gateway create cards
for s in card-authorizations possible-fraud possible-fraud-replay late-authorizations; do
  run stream create "$s" --gateway cards --content-type application/json
done
run processor create fraud-detector --function-cmd "$bin/fraud-detector" \
  --env FRAUD_THRESHOLD=$threshold "${event_time[@]}" \
  --input card-authorizations@earliest --output possible-fraud

echo "\$ card-authorizations --suspicious $suspicious --disorder $disorder | runnel publish card-authorizations --file - --lines"
"$bin/card-authorizations" --seed "${SAMPLE_SEED:-7}" --suspicious "$suspicious" --rounds 2 \
  --disorder "$disorder" | tee "$out_dir/events.jsonl" |
  "$runnel_bin" publish card-authorizations --file - --lines
published=$(grep -c . "$out_dir/events.jsonl")

# alerts PROCESSOR STREAM: waits until PROCESSOR has fired every window, saves STREAM's records.
alerts() {
  local n
  n=$(sample_wait_processed "$1" "$published" 60)
  "$runnel_bin" subscribe "$2" --from-beginning --max "$n" --timeout 30s > "$out_dir/$2.jsonl"
}
alerts fraud-detector possible-fraud
"$runnel_bin" subscribe late-authorizations --from-beginning --timeout 1s \
  > "$out_dir/late-authorizations.jsonl"

# Replay: a second processor reads the same events from the start, all at once.
run processor create fraud-replay --function-cmd "$bin/fraud-detector" \
  --env FRAUD_THRESHOLD=$threshold "${event_time[@]}" \
  --input card-authorizations@earliest --output possible-fraud-replay
alerts fraud-replay possible-fraud-replay

echo "Possible fraud (more than $threshold authorizations of one card in a 5s window of event time):"
python3 - "$out_dir" <<'PY'
import json, os, sys
out = sys.argv[1]
def alerts(name):
    return [(json.loads(r["payload"]), r.get("key")) for r in map(json.loads, open(os.path.join(out, name)))]
live, replay = alerts("possible-fraud.jsonl"), alerts("possible-fraud-replay.jsonl")
for a, key in sorted(live, key=lambda x: (x[0]["window_start"], x[1] or "")):
    print(f"  card {key} ({a['card_type']}, {a['name']}): {a['authorizations']} authorizations "
          f"in [{a['window_start']}, {a['window_end']}), from {a['first']} to {a['last']}")
late = sum(1 for line in open(os.path.join(out, "late-authorizations.jsonl")) if line.strip())
print(f"Late events (behind the watermark, not counted): {late}")
same = sorted(json.dumps(a, sort_keys=True) for a, _ in live) == \
       sorted(json.dumps(a, sort_keys=True) for a, _ in replay)
print("Replay from the start: " + ("the same alerts." if same else "DIFFERENT alerts!"))
PY
run processor status fraud-detector
