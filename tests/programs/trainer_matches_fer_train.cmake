# tests/programs/trainer_matches_fer_train.cmake: the test program_trainer_matches_fer_train.
# 1. Runs fer_train and trainer_matches_fer_train (the same recipe written with deepcnn::Trainer by hand) for one
#    epoch on DATA (2 threads) into DIR/fer_train and DIR/trainer and fails unless both wrote the same model.dcnn bytes.
# 2. Runs fer_train on the portable kernels (DEEPCNN_ISA=portable) on a small CSV cut from DATA, for two recipes, and
#    fails unless model.dcnn has a SHA-256 that fer_train wrote before it became a program over the Trainer (commit
#    0278745, run with the same commands): the rewrite kept its bits. The portable kernels' bits still differ between
#    CPUs (the Intel Xeon family 6 model 207 and the AMD Zen 4 family 25 model 17 give different digests, from
#    0278745's fer_train and from today's alike; the cause is not found), so each recipe lists the digest of each CPU
#    it was recorded on, and a CPU not listed fails with its digest: record it from 0278745's fer_train, saying which
#    CPU. A deliberate change to training's arithmetic changes these digests; record the new ones then, saying why.
# fer_train runs with --tta-shift 0: the shift that --tta-shift auto would choose after training is stored in
# model.dcnn; these checks are about training's bits.
# Usage: cmake -DFER_TRAIN=... -DTRAINER_PROGRAM=... -DDATA=... -DDIR=... -P trainer_matches_fer_train.cmake
file(REMOVE_RECURSE "${DIR}")
file(MAKE_DIRECTORY "${DIR}/fer_train" "${DIR}/trainer")
execute_process(COMMAND "${FER_TRAIN}" --data "${DATA}" --epochs 1 --threads 2 --tta-shift 0 --out "${DIR}/fer_train"
                RESULT_VARIABLE fer_train_result OUTPUT_VARIABLE fer_train_output ERROR_VARIABLE fer_train_output)
if(NOT fer_train_result EQUAL 0)
  message(FATAL_ERROR "fer_train failed (${fer_train_result}):\n${fer_train_output}")
endif()
execute_process(COMMAND "${TRAINER_PROGRAM}" "${DATA}" "${DIR}/trainer" 1 2
                RESULT_VARIABLE trainer_result OUTPUT_VARIABLE trainer_output ERROR_VARIABLE trainer_output)
if(NOT trainer_result EQUAL 0)
  message(FATAL_ERROR "trainer_matches_fer_train failed (${trainer_result}):\n${trainer_output}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${DIR}/fer_train/model.dcnn" "${DIR}/trainer/model.dcnn"
                RESULT_VARIABLE differ)
if(NOT differ EQUAL 0)
  message(FATAL_ERROR "model.dcnn differs between fer_train and the Trainer\nfer_train:\n${fer_train_output}\n"
                      "Trainer:\n${trainer_output}")
endif()
message(STATUS "fer_train and the Trainer wrote the same model.dcnn")

# The sample's first 200 Training, 40 PublicTest and 40 PrivateTest rows.
include("${CMAKE_CURRENT_LIST_DIR}/small_csv.cmake")
small_fer_csv("${DATA}" "${DIR}/small.csv" 200 40 40)
set(recipes default sgd_average)
set(default_args --epochs 2 --batch 32 --threads 2 --tta-shift 0)
# Intel Xeon (family 6 model 207), then AMD EPYC Zen 4 (family 25 model 17)
set(default_sha256 8f95090e0caca6608f7d8b674af46a4ba39fb50dc5fbd8178176330c06750c97
                   44794197112ccba6df94741d3c5c4e150298a766c5a0fd31978418931390381e)
set(sgd_average_args --epochs 2 --batch 32 --threads 1 --average 0.5 --optimizer sgd --schedule plateau
    --tta-shift 0)
set(sgd_average_sha256 4c64f4d2f7b4354d88b83aac4237d20cf76e159f91743f1b6c24499790bc327b
                       dda9591b9e5a314c93bf3d558afabf49e60f690312f089a9accb6287635dbb12)
foreach(recipe IN LISTS recipes)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E env DEEPCNN_ISA=portable
                          "${FER_TRAIN}" --data "${DIR}/small.csv" ${${recipe}_args} --out "${DIR}/${recipe}"
                  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "fer_train (${recipe}) failed (${result}):\n${output}")
  endif()
  file(SHA256 "${DIR}/${recipe}/model.dcnn" digest)
  list(FIND ${recipe}_sha256 "${digest}" known)
  if(known EQUAL -1)
    message(FATAL_ERROR "fer_train ${${recipe}_args}: model.dcnn has SHA-256 ${digest}, fer_train before the Trainer "
                        "wrote one of ${${recipe}_sha256} (one per CPU recorded)\n${output}")
  endif()
endforeach()
message(STATUS "fer_train wrote the model bits it wrote before the Trainer")
