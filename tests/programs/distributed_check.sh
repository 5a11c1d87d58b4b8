#!/usr/bin/env bash
# tests/programs/distributed_check.sh: data-parallel training under mpirun on loopback (2 ranks), with
# distributed_check (tests/programs/distributed_check.cpp). Cases:
#   determinism     every rank holds the same weights after every step; the same bits run twice and on 1 or 2
#                   threads per rank (Dropout, BatchNorm, augmentation; per-rank and synchronised BatchNorm)
#   single_process  2 ranks give the bits of the documented one-process recipe (--single --shards 2), with
#                   BatchNorm, without, and with Dropout; without BatchNorm they stay within 1e-5 (relative) of one
#                   process on the whole batch; 1 rank under mpirun gives the bits of a run without a communicator
#   sync_batch_norm with synchronised BatchNorm and Dropout, 2 ranks stay within 1e-5 (relative) of one process on
#                   the whole batch, with equal and unequal shards (per-rank BatchNorm is 1e-3 or more away); the
#                   validation split over the ranks gives the one-process figures to the last bit
#   resume          a run stopped mid-epoch and resumed under mpirun ends with the uninterrupted run's weights
#   dead_rank       a rank killed with SIGKILL stops the job within seconds, with mpirun's message
#   hung_rank       a rank that stops answering makes the other give up after its timeout, with our message
# usage: distributed_check.sh PROGRAM MPIRUN WORK_DIR CASE
set -u
program=$1 mpirun=$2 work=$3 case_name=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# Root in containers and CI; 2 ranks on any core count; no binding, so that a rank's threads may use every core.
mpi() { local n=$1; shift; "$mpirun" --allow-run-as-root --oversubscribe --bind-to none -np "$n" "$program" "$@"; }
# weights_of LOG: the hash the run printed, or "missing:LOG" so that two failures never compare equal.
weights_of() { local w; w=$(sed -n 's/^weights //p' "$1"); echo "${w:-missing:$1}"; }
# run LOG CMD...: runs CMD into LOG; a failure or a step where ranks differed is reported.
run() {
  local log=$1; shift
  "$@" > "$log" 2>&1 || fail "exit $?: $*  -- $(tail -3 "$log")"
  if grep -q "steps with ranks that differ" "$log"; then
    grep -q "steps with ranks that differ 0$" "$log" || fail "ranks differ: $* -- $(grep differ "$log")"
  fi
  echo "$* -> $(weights_of "$log")"
}
same() { [[ $(weights_of "$1") == "$(weights_of "$2")" ]] || fail "$1 and $2 end with different weights"; }
# close A.dcnn B.dcnn BELOW|ABOVE LIMIT: the largest parameter difference, relative, below or above LIMIT.
close() {
  "$program" --diff "$1" "$2" > "$1.diff" 2>&1
  echo "$1 vs $2: $(cat "$1.diff")"
  local test='$NF < limit'
  [[ $3 == above ]] && test='$NF > limit'
  awk -v limit="$4" "/relative/ {found = 1; exit !($test)} END {if (!found) exit 1}" "$1.diff" ||
    fail "$1 vs $2: not $3 $4: $(cat "$1.diff")"
}
# validated LOG: the validation split over the ranks gave this process's own evaluation, to the last digit.
validated() {
  local split own
  split=$(sed -n 's/^validation //p' "$1") own=$(sed -n 's/^one-process validation //p' "$1")
  [[ -n $split && $split == "$own" ]] || fail "$1: split validation '$split', one process '$own'"
}

case $case_name in
determinism)
  common=(--net dropout --augment --epochs 2)
  run a.log mpi 2 "${common[@]}" --threads 1
  run b.log mpi 2 "${common[@]}" --threads 1
  run c.log mpi 2 "${common[@]}" --threads 2
  run d.log mpi 2 "${common[@]}" --threads 1 --no-overlap --bucket-bytes 100000000
  same a.log b.log; same a.log c.log; same a.log d.log
  grep -q "epochs done 2" a.log || fail "a.log: $(cat a.log)"
  run e.log mpi 2 "${common[@]}" --sync-bn --validate --threads 1
  run f.log mpi 2 "${common[@]}" --sync-bn --validate --threads 2
  same e.log f.log; validated e.log; validated f.log
  ;;
single_process)
  for net in bn plain dropout; do
    run "$net-mpi.log" mpi 2 --net "$net" --augment --threads 2
    run "$net-single.log" "$program" --single --shards 2 --net "$net" --augment
    same "$net-mpi.log" "$net-single.log"
  done
  # Against one process on the whole batch (no BatchNorm): the same gradient summed in another order, so close
  # but not the same bits; a wrong gradient scale would be far off.
  run whole-mpi.log mpi 2 --net plain --augment --save whole-mpi.dcnn
  run whole-single.log "$program" --single --net plain --augment --save whole-single.dcnn
  "$program" --diff whole-mpi.dcnn whole-single.dcnn > whole-diff.log
  cat whole-diff.log
  awk '/relative/ {exit !($NF < 1e-5)}' whole-diff.log || fail "2 ranks are far from one process: $(cat whole-diff.log)"
  run one-rank.log mpi 1 --net dropout --augment
  run no-communicator.log "$program" --single --net dropout --augment
  same one-rank.log no-communicator.log
  ;;
resume)
  run full.log mpi 2 --net dropout --augment --checkpoint full.dcnn
  run stopped.log mpi 2 --net dropout --augment --checkpoint part.dcnn --stop-after 3
  grep -q "steps 3, epochs done 0" stopped.log || fail "stopped.log: $(cat stopped.log)"
  run resumed.log mpi 2 --net dropout --augment --checkpoint part.dcnn --resume
  same full.log resumed.log
  ;;
dead_rank)
  start=$(date +%s)
  timeout 120 bash -c "$(declare -f mpi); mpirun='$mpirun' program='$program'; mpi 2 --epochs 1000 --die-rank 1 --die-step 3" \
    > dead.log 2>&1
  code=$? elapsed=$(($(date +%s) - start))
  echo "exit $code after $elapsed s: $(grep -m1 -i "signal\|killed" dead.log)"
  [[ $code -ne 0 && $code -ne 124 ]] || fail "exit $code (expected an error, not a timeout)"
  [[ $elapsed -le 30 ]] || fail "the job took $elapsed s to stop"
  grep -qi "signal 9\|killed" dead.log || fail "no message naming the dead rank: $(tail -5 dead.log)"
  ;;
hung_rank)
  start=$(date +%s)
  timeout 120 bash -c "$(declare -f mpi); mpirun='$mpirun' program='$program'; mpi 2 --epochs 1000 --hang-rank 1 --hang-step 3 --timeout 2" \
    > hung.log 2>&1
  code=$? elapsed=$(($(date +%s) - start))
  echo "exit $code after $elapsed s: $(grep -m1 "did not finish" hung.log)"
  [[ $code -ne 0 && $code -ne 124 ]] || fail "exit $code (expected an error, not a timeout)"
  [[ $elapsed -le 30 ]] || fail "the job took $elapsed s to stop"
  grep -q "rank 0 of 2: .* did not finish within 2 s: another rank died, hangs or cannot be reached" hung.log ||
    fail "no timeout message: $(tail -5 hung.log)"
  ;;
sync_batch_norm)
  # Batches of 16 (shards of 8) and of 15 (shards of 7 and 8: each rank's share weighs its sums).
  for batch in 16 15; do
    run "sync-$batch.log" mpi 2 --net dropout --augment --sync-bn --batch "$batch" --validate --save "sync-$batch.dcnn"
    run "one-$batch.log" "$program" --single --net dropout --augment --batch "$batch" --save "one-$batch.dcnn"
    close "sync-$batch.dcnn" "one-$batch.dcnn" below 1e-5
    validated "sync-$batch.log"
  done
  run per-rank.log mpi 2 --net dropout --augment --save per-rank.dcnn
  close per-rank.dcnn one-16.dcnn above 1e-3
  ;;
*) fail "unknown case $case_name" ;;
esac
[[ $failures -eq 0 ]] && echo "PASS: $case_name"
exit $((failures > 0))
