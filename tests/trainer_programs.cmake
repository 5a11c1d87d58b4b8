# tests/trainer_programs.cmake: program tests of the Trainer. program_fine_tune: a short run of examples/fine_tune on
# the bundled sample (one epoch per stage): pretrains a 3-class net, fine-tunes it to seven classes and writes a
# model file (--overwrite: a rerun replaces the last run's files). program_fine_tune_resnet: fine_tune from a resnet
# Graph file, and its --out refused while it holds that run (tests/programs/fine_tune_resnet.cmake).
# program_trainer_matches_fer_train: fer_train and the same recipe written with deepcnn::Trainer
# (tests/programs/trainer_matches_fer_train.cpp) write the same model.dcnn bytes (one epoch on the sample), and
# fer_train writes the model bits it wrote before it became a program over the Trainer (recorded digests).
add_test(NAME program_fine_tune
  COMMAND fine_tune --pretrain-epochs 1 --head-epochs 1 --epochs 1 --batch 32 --threads 2
          --out ${CMAKE_BINARY_DIR}/program_tests/fine_tune --overwrite
  WORKING_DIRECTORY ${CMAKE_BINARY_DIR}/examples)
# Labelled long: 21 s in the release build, over 8 minutes under the sanitizers, which skip the long tests (the
# Trainer's code runs there in the unit tests).
set_tests_properties(program_fine_tune PROPERTIES LABELS "programs;long" TIMEOUT 900
  PASS_REGULAR_EXPRESSION "Wrote .*/program_tests/fine_tune/model.dcnn")

add_test(NAME program_fine_tune_resnet
  COMMAND ${CMAKE_COMMAND} -DFER_TRAIN=$<TARGET_FILE:fer_train> -DFINE_TUNE=$<TARGET_FILE:fine_tune>
          -DDATA=${PROJECT_SOURCE_DIR}/examples/data/fer2013_sample3.csv.gz
          -DDIR=${CMAKE_BINARY_DIR}/program_tests/fine_tune_resnet
          -P ${PROJECT_SOURCE_DIR}/tests/programs/fine_tune_resnet.cmake)
set_tests_properties(program_fine_tune_resnet PROPERTIES LABELS "programs;long" TIMEOUT 900)

add_executable(trainer_matches_fer_train ${PROJECT_SOURCE_DIR}/tests/programs/trainer_matches_fer_train.cpp)
target_include_directories(trainer_matches_fer_train PRIVATE ${PROJECT_SOURCE_DIR}/examples)
target_link_libraries(trainer_matches_fer_train PRIVATE deepcnn::deepcnn deepcnn_project_options)
set(deepcnn_sample ${PROJECT_SOURCE_DIR}/examples/data/fer2013_sample3.csv.gz)
add_test(NAME program_trainer_matches_fer_train
  COMMAND ${CMAKE_COMMAND} -DFER_TRAIN=$<TARGET_FILE:fer_train>
          -DTRAINER_PROGRAM=$<TARGET_FILE:trainer_matches_fer_train> -DDATA=${deepcnn_sample}
          -DDIR=${CMAKE_BINARY_DIR}/program_tests/trainer_matches_fer_train
          -P ${PROJECT_SOURCE_DIR}/tests/programs/trainer_matches_fer_train.cmake)
set_tests_properties(program_trainer_matches_fer_train PROPERTIES LABELS "programs;long" TIMEOUT 900 RUN_SERIAL TRUE)
