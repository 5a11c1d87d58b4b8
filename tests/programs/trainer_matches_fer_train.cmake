# tests/programs/trainer_matches_fer_train.cmake: the test program_trainer_matches_fer_train. Runs fer_train and
# trainer_matches_fer_train for one epoch on DATA (2 threads) into DIR/fer_train and DIR/trainer and fails unless
# both wrote the same model.dcnn bytes.
# Usage: cmake -DFER_TRAIN=... -DTRAINER_PROGRAM=... -DDATA=... -DDIR=... -P trainer_matches_fer_train.cmake
file(REMOVE_RECURSE "${DIR}")
file(MAKE_DIRECTORY "${DIR}/fer_train" "${DIR}/trainer")
execute_process(COMMAND "${FER_TRAIN}" --data "${DATA}" --epochs 1 --threads 2 --out "${DIR}/fer_train"
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
