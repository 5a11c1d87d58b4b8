# tests/programs/fine_tune_resnet.cmake: the test program_fine_tune_resnet: fine_tune from a Graph model file.
# Cuts a small CSV from DATA (the sample's first 300 Training, 60 PublicTest and 60 PrivateTest rows), trains a
# 3-class resnet on it for one epoch with fer_train, then fine-tunes that model file to seven classes with fine_tune
# (one epoch per stage, the stem and first block kept frozen in the second), and fails unless fine_tune read it as a
# resnet Graph, printed the per-class test accuracy and wrote model.dcnn and report.json (with per-class figures);
# that a second run into the same --out is refused, the first run's model kept; then that a layer name the model
# lacks, and --net with --model, are usage errors.
# Usage: cmake -DFER_TRAIN=... -DFINE_TUNE=... -DDATA=... -DDIR=... -P fine_tune_resnet.cmake
file(REMOVE_RECURSE "${DIR}")
file(MAKE_DIRECTORY "${DIR}")
include("${CMAKE_CURRENT_LIST_DIR}/small_csv.cmake")
small_fer_csv("${DATA}" "${DIR}/small.csv" 300 60 60)
execute_process(COMMAND "${FER_TRAIN}" --data "${DIR}/small.csv" --net resnet --epochs 1 --batch 32 --threads 2
                        --out "${DIR}/resnet3"
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "fer_train --net resnet failed (${result}):\n${output}")
endif()
execute_process(COMMAND "${FINE_TUNE}" --data "${DIR}/small.csv" --model "${DIR}/resnet3/model.dcnn" --head-epochs 1
                        --epochs 1 --batch 32 --threads 2 --freeze-through s2b1_relu --out "${DIR}/tuned"
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "fine_tune --model (a resnet) failed (${result}):\n${output}")
endif()
foreach(expected "Pretrained: [^\n]* \\(resnet net, 3 classes\\)" "New head: logits \\(Dense 7\\)"
                 "Stage 2: the whole net but [0-9]+ frozen tensors" "Per-class test accuracy:\n  anger " "Wrote ")
  if(NOT output MATCHES "${expected}")
    message(FATAL_ERROR "fine_tune's output lacks '${expected}':\n${output}")
  endif()
endforeach()
foreach(file model.dcnn report.json confusion.svg)
  if(NOT EXISTS "${DIR}/tuned/${file}")
    message(FATAL_ERROR "fine_tune did not write ${DIR}/tuned/${file}:\n${output}")
  endif()
endforeach()
file(READ "${DIR}/tuned/report.json" report)
if(NOT report MATCHES "\"per_class\"" OR NOT report MATCHES "\"class\": *\"anger\"")
  message(FATAL_ERROR "report.json lacks the seven classes' figures:\n${report}")
endif()
# --out holding that run: refused (exit 1) before any work, naming the directory and --overwrite, the files kept.
file(SHA256 "${DIR}/tuned/model.dcnn" tuned_digest)
execute_process(COMMAND "${FINE_TUNE}" --data "${DIR}/small.csv" --model "${DIR}/resnet3/model.dcnn" --head-epochs 1
                        --epochs 0 --batch 32 --out "${DIR}/tuned"
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
file(SHA256 "${DIR}/tuned/model.dcnn" digest_after)
if(NOT result EQUAL 1 OR NOT output MATCHES "tuned holds an earlier run [(]model[.]dcnn[)]; replace it with --overwrite"
   OR output MATCHES "Reading" OR NOT digest_after STREQUAL tuned_digest)
  message(FATAL_ERROR "fine_tune into a used --out: expected exit 1 before reading the data, got ${result}:\n${output}")
endif()
# A layer the model lacks is a usage error (exit 2) that names it, found before any training; so are --net with --model.
execute_process(COMMAND "${FINE_TUNE}" --data "${DIR}/small.csv" --model "${DIR}/resnet3/model.dcnn" --freeze stem1,nope
                        --out "${DIR}/bad"
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT result EQUAL 2 OR NOT output MATCHES "Graph: no layer named \"nope\" \(its layers are stem1 \.\.\. softmax\)"
   OR output MATCHES "Stage 1")
  message(FATAL_ERROR "fine_tune --freeze nope: expected exit 2 naming the layer before training, got ${result}:\n${output}")
endif()
execute_process(COMMAND "${FINE_TUNE}" --net resnet --model "${DIR}/resnet3/model.dcnn"
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT result EQUAL 2 OR NOT output MATCHES "--net and --model exclude each other")
  message(FATAL_ERROR "fine_tune --net --model: expected exit 2, got ${result}:\n${output}")
endif()
message(STATUS "fine_tune fine-tuned a resnet Graph file to seven classes")
