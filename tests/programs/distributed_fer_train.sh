#!/usr/bin/env bash
# tests/programs/distributed_fer_train.sh: fer_train under mpirun with 2 ranks on loopback, on the bundled sample.
# Only rank 0 prints and writes files (the recipe line once, naming the 2 ranks; model.dcnn and model.onnx in
# --out), and the same command twice writes the same model bits; with --sync-bn it trains too and says so.
# usage: distributed_fer_train.sh FER_TRAIN MPIRUN WORK_DIR
set -u
train=$1 mpirun=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
args=(--epochs 1 --batch 32 --threads 1)
for run in a b sync; do
  extra=()
  [[ $run == sync ]] && extra=(--sync-bn)
  "$mpirun" --allow-run-as-root --oversubscribe --bind-to none -np 2 "$train" "${args[@]}" "${extra[@]}" --out "$run" > "$run.log" 2>&1 ||
    fail "run $run: exit $?: $(tail -3 "$run.log")"
  [[ $(grep -c "^Recipe:" "$run.log") == 1 ]] || fail "run $run: the recipe line was printed $(grep -c "^Recipe:" "$run.log") times"
  grep -q "threads 1 per rank, 2 ranks" "$run.log" || fail "run $run: the recipe line does not name the ranks: $(grep Recipe "$run.log")"
  batch_norm="per rank"
  [[ $run == sync ]] && batch_norm=synchronised
  grep -q "BatchNorm $batch_norm" "$run.log" || fail "run $run: the recipe line does not say BatchNorm $batch_norm"
  for file in model.dcnn model.onnx report.json history.csv; do [[ -s $run/$file ]] || fail "run $run: no $file"; done
done
cmp -s a/model.dcnn b/model.dcnn || fail "the same command wrote different model bits"
cmp -s a/model.dcnn sync/model.dcnn && fail "--sync-bn wrote the model bits of per-rank BatchNorm"
((failures == 0)) && echo "distributed fer_train: passed"
exit $((failures > 0))
