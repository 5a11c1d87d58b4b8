# tests/programs.cmake: ctest cases that run fer_train and fer_predict as a user would
# (tests/programs/test_programs.sh), plus make_face_images, which writes test images with stb_image_write, and
# graph_model_of, which rewrites a model file as a Graph's.
add_executable(make_face_images ${PROJECT_SOURCE_DIR}/tests/programs/make_face_images.cpp)
target_link_libraries(make_face_images PRIVATE deepcnn::deepcnn deepcnn_project_options)
set_target_properties(make_face_images PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/examples)
# graph_model_of: a Sequential's model file rewritten as a Graph's, for fer_predict's test with a Graph model.
add_executable(graph_model_of ${PROJECT_SOURCE_DIR}/tests/programs/graph_model_of.cpp)
target_link_libraries(graph_model_of PRIVATE deepcnn::deepcnn deepcnn_project_options)
set_target_properties(graph_model_of PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/examples)

foreach(case usage_errors data_errors predict seed_net resume_sigint kill_resume train_e2e output_dir messages
             memory_bound)
  add_test(NAME program_${case}
    COMMAND bash ${PROJECT_SOURCE_DIR}/tests/programs/test_programs.sh $<TARGET_FILE_DIR:fer_train>
            ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}/program_tests/${case} ${case})
  set_tests_properties(program_${case} PROPERTIES LABELS programs TIMEOUT 900)
endforeach()
add_test(NAME program_quickstart COMMAND quickstart WORKING_DIRECTORY ${CMAKE_BINARY_DIR}/examples)
set_tests_properties(program_quickstart PROPERTIES LABELS programs PASS_REGULAR_EXPRESSION "loss [0-9.e-]+, accuracy 1")
add_test(NAME program_graph_quickstart COMMAND graph_quickstart WORKING_DIRECTORY ${CMAKE_BINARY_DIR}/examples)
set_tests_properties(program_graph_quickstart PROPERTIES LABELS programs
  PASS_REGULAR_EXPRESSION "res_add \\(Add\\)[^\n]*stem_relu, res_bn2.*loss [0-9.e-]+, accuracy 1")
set_tests_properties(program_train_e2e PROPERTIES LABELS "programs;e2e")
# Slow under AddressSanitizer (minutes each); the sanitizer configuration of tools/run-tests.sh skips them, the
# release configuration runs them.
set_tests_properties(program_kill_resume program_seed_net PROPERTIES LABELS "programs;long")
set_tests_properties(program_kill_resume program_train_e2e PROPERTIES RUN_SERIAL TRUE)
# The SIGINT resume test is the longest that the sanitizer configuration runs (minutes under ASan): it starts first
# and runs beside the others. Its checks do not depend on timing (the weights are bit-identical on a fixed thread
# count; a slower run only makes the interrupt land earlier in training).
set_tests_properties(program_resume_sigint PROPERTIES COST 10000)
