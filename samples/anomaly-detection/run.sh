#!/usr/bin/env bash
# Anomaly detection (after Tanzu Streaming Runtimes' sample), in local mode:
#
#   card-authorizations ──▶ card-authorizations stream ──▶ processor "fraud-detector"
#     (generator)                                           (5s windows; cards used more than
#                                                            5 times in one window)
#                                                                  │
#                                                                  ▼
#                                                         possible-fraud stream ──▶ printed
#
# Two rounds of authorizations, 7s apart: in each, a few cards are used many times in a burst.
# One card is used 4 times in each round, 8 in all, but never more than 5 times in one window,
# so it is not flagged. Run it after scripts/quickstart.sh has built Runnel:
#
#   bash samples/anomaly-detection/run.sh
#
# SAMPLE_OUTPUT_DIR=DIR keeps the events (events.jsonl) and the alerts (possible-fraud.jsonl).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
sample_build sample_card_authorizations sample_fraud_detector
sample_home
out_dir=${SAMPLE_OUTPUT_DIR:-$RUNNEL_HOME/sample}
mkdir -p "$out_dir"
bin="$build_dir/samples/anomaly-detection"
suspicious=${SAMPLE_SUSPICIOUS:-3}
threshold=5

run gateway create cards
run stream create card-authorizations --gateway cards --content-type application/json
run stream create possible-fraud --gateway cards --content-type application/json
run processor create fraud-detector --function-cmd "$bin/fraud-detector" \
  --env FRAUD_THRESHOLD=$threshold --window time=5s \
  --input card-authorizations@earliest --output possible-fraud

echo "\$ card-authorizations --suspicious $suspicious | runnel publish card-authorizations --file - --lines"
"$bin/card-authorizations" --seed "${SAMPLE_SEED:-7}" --suspicious "$suspicious" --rounds 2 \
  --pause 7 | tee "$out_dir/events.jsonl" |
  "$runnel_bin" publish card-authorizations --file - --lines

# One alert per suspicious card is expected; then anything else that came (there should be none).
echo "\$ runnel subscribe possible-fraud --from-beginning --max $suspicious --timeout 60s"
"$runnel_bin" subscribe possible-fraud --from-beginning --max "$suspicious" --timeout 60s >/dev/null
"$runnel_bin" subscribe possible-fraud --from-beginning --timeout 3s > "$out_dir/possible-fraud.jsonl"
echo "Possible fraud (more than $threshold authorizations of one card in a 5s window):"
python3 - "$out_dir/possible-fraud.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(json.loads(line)["payload"])
    print(f"  card {a['card_number']} ({a['card_type']}, {a['name']}): "
          f"{a['authorizations']} authorizations from {a['first']} to {a['last']}")
PY
run processor status fraud-detector
