# tests/fine_tune.cmake: a short run of examples/fine_tune on the bundled sample (one epoch per stage): pretrains a
# 3-class net, fine-tunes it to seven classes and writes a model file that fer_predict reads.
add_test(NAME program_fine_tune
  COMMAND fine_tune --pretrain-epochs 1 --head-epochs 1 --epochs 1 --batch 32 --threads 2
          --out ${CMAKE_BINARY_DIR}/program_tests/fine_tune
  WORKING_DIRECTORY ${CMAKE_BINARY_DIR}/examples)
set_tests_properties(program_fine_tune PROPERTIES LABELS programs TIMEOUT 900
  PASS_REGULAR_EXPRESSION "Wrote .*/program_tests/fine_tune/model.dcnn")
