#!/usr/bin/env bash
# tests/onnx/make_models.sh BIN_DIR SOURCE_DIR WORK_DIR: the models that tests/onnx/check_consumers.py runs through
# real ONNX consumers, with deepcnn's own probabilities beside each: the fer, seed, large and resnet nets trained one
# short epoch by fer_train (which writes model.onnx) and scored by fer_predict --tta off --json on examples/data/faces,
# and a residual Graph (make_onnx_test_models) converted by dcnn_convert. Also checks, as a user would, that
# dcnn_convert's .dcnn -> .onnx -> .dcnn round trip predicts bit for bit what the original does, and its exit codes.
set -u
bin=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
faces=("$src"/examples/data/faces/*.png)
zcat "$src/examples/data/fer2013_sample3.csv.gz" | awk -F, \
  'NR == 1 {print; next} $3 == "Training" && t < 40 {t++; print} $3 == "PublicTest" && v < 10 {v++; print}
   $3 == "PrivateTest" && p < 10 {p++; print}' > small.csv

for net in fer seed large resnet; do
  "$bin/fer_train" --data small.csv --net "$net" --epochs 1 --threads 2 --out "train_$net" > "train_$net.log" 2>&1 ||
    fail "fer_train --net $net: $(tail -3 "train_$net.log")"
  [[ -s train_$net/model.onnx ]] || fail "fer_train --net $net wrote no model.onnx"
  cp "train_$net/model.onnx" "$net.onnx"
  "$bin/fer_predict" --model "train_$net/model.dcnn" --tta off --json "${faces[@]}" > "$net.json" ||
    fail "fer_predict --net $net"
  # the round trip, as dcnn_convert does it
  "$bin/dcnn_convert" "train_$net/model.dcnn" "$net.roundtrip.onnx" > /dev/null || fail "dcnn_convert to .onnx ($net)"
  "$bin/dcnn_convert" "$net.roundtrip.onnx" "$net.back.dcnn" > /dev/null || fail "dcnn_convert to .dcnn ($net)"
  "$bin/fer_predict" --model "$net.back.dcnn" --tta off --json "${faces[@]}" > "$net.back.json" ||
    fail "fer_predict on the round-tripped $net model"
  cmp -s "$net.json" "$net.back.json" || fail "the round-tripped $net model predicts differently"
  cmp -s "$net.onnx" "$net.roundtrip.onnx" || fail "dcnn_convert and fer_train write different $net ONNX files"
  rm "$net.roundtrip.onnx"
done

"$bin/make_onnx_test_models" "$work" "${faces[@]}" > make.log 2>&1 || fail "make_onnx_test_models: $(tail -3 make.log)"
"$bin/dcnn_convert" residual.dcnn residual.onnx > /dev/null || fail "dcnn_convert residual.dcnn"
"$bin/dcnn_convert" residual.onnx residual.back.dcnn > convert.log || fail "dcnn_convert residual.onnx"
grep -q "(Graph)" convert.log || fail "the residual net did not come back as a Graph: $(cat convert.log)"
rm residual.dcnn residual.back.dcnn

# exit codes
"$bin/dcnn_convert" a.onnx > out.txt 2>&1; [[ $? -eq 2 ]] || fail "one argument: not exit 2"
"$bin/dcnn_convert" a.txt b.onnx > out.txt 2>&1; [[ $? -eq 2 ]] || fail "a .txt input: not exit 2"
grep -q "one of IN and OUT must end in .dcnn and the other in .onnx" out.txt || fail "message: $(cat out.txt)"
"$bin/dcnn_convert" missing.dcnn m.onnx > out.txt 2>&1; [[ $? -eq 1 ]] || fail "a missing file: not exit 1"
grep -q "dcnn_convert: error: cannot open missing.dcnn" out.txt || fail "message: $(cat out.txt)"
head -c 300 fer.onnx > cut.onnx
"$bin/dcnn_convert" cut.onnx cut.dcnn > out.txt 2>&1; [[ $? -eq 1 ]] || fail "a truncated .onnx: not exit 1"
grep -Eq "dcnn_convert: error: cut.onnx: byte [0-9]+: " out.txt || fail "message: $(cat out.txt)"
[[ -e cut.dcnn ]] && fail "a failed conversion wrote its output"
rm -f cut.onnx out.txt

if ((failures > 0)); then echo "$failures failure(s)"; exit 1; fi
echo "ONNX test models written to $work"
