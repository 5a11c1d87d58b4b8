# tests/doc_examples.cmake: the documentation's examples as a test. Every ```cpp block of README.md, docs/guide.md
# and docs/onnx.md is extracted (tests/extract_doc_examples.cmake) into one program, doc_examples, built with the
# project's warnings; the test doc_examples runs every block in order in a scratch directory. One compilation for
# all blocks keeps it fast; blocks share that translation unit, so each block's own includes are not checked apart.
set(deepcnn_doc_markdown README.md docs/guide.md docs/onnx.md)
set(deepcnn_doc_inputs "")
foreach(markdown IN LISTS deepcnn_doc_markdown)
  list(APPEND deepcnn_doc_inputs "${PROJECT_SOURCE_DIR}/${markdown}")
endforeach()
string(REPLACE ";" "|" deepcnn_doc_list "${deepcnn_doc_markdown}")
set(deepcnn_doc_dir "${CMAKE_BINARY_DIR}/doc_examples.d")
add_custom_command(
  OUTPUT "${deepcnn_doc_dir}/doc_examples.cpp"
  COMMAND ${CMAKE_COMMAND} -E make_directory "${deepcnn_doc_dir}/run"
  COMMAND ${CMAKE_COMMAND} "-DMARKDOWN=${deepcnn_doc_list}" "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}"
          "-DOUTPUT=${deepcnn_doc_dir}/doc_examples.cpp" -P "${PROJECT_SOURCE_DIR}/tests/extract_doc_examples.cmake"
  DEPENDS ${deepcnn_doc_inputs} "${PROJECT_SOURCE_DIR}/tests/extract_doc_examples.cmake"
  COMMENT "Extracting the C++ examples of README.md, docs/guide.md and docs/onnx.md"
  VERBATIM)
add_executable(doc_examples "${deepcnn_doc_dir}/doc_examples.cpp")
target_link_libraries(doc_examples PRIVATE deepcnn::deepcnn deepcnn_project_options)
file(MAKE_DIRECTORY "${deepcnn_doc_dir}/run")
add_test(NAME doc_examples COMMAND doc_examples WORKING_DIRECTORY "${deepcnn_doc_dir}/run")
# Labelled docs: the sanitizer configuration of tools/run-tests.sh skips it (the library code the blocks call is
# tested there by the unit and program tests; the release configuration compiles and runs the blocks).
set_tests_properties(doc_examples PROPERTIES LABELS docs PASS_REGULAR_EXPRESSION "[0-9]+ examples ran")
