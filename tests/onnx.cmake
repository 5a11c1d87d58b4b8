# tests/onnx.cmake: exported ONNX files checked by real consumers (docs/onnx.md). onnx_models trains the fer, large,
# resnet and seed nets one short epoch (fer_train writes model.onnx), builds a residual Graph (make_onnx_test_models),
# converts it and round-trips the nets with dcnn_convert (tests/onnx/make_models.sh); onnx_checker, onnx_onnxruntime and
# onnx_opencv then run every file through the ONNX checker, ONNX Runtime and OpenCV's dnn module
# (tests/onnx/check_consumers.py) and compare their probabilities with deepcnn's within 1e-5. Each consumer test is
# skipped, saying so, where its tool is not installed (bash tools/install-deps.sh installs them).
add_executable(make_onnx_test_models ${PROJECT_SOURCE_DIR}/tests/onnx/make_onnx_test_models.cpp)
target_link_libraries(make_onnx_test_models PRIVATE deepcnn::deepcnn deepcnn_project_options)
set_target_properties(make_onnx_test_models PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/examples)

if(EXISTS /usr/bin/python3)
  set(deepcnn_onnx_python /usr/bin/python3)  # Debian's python3-onnx and python3-opencv live there
else()
  set(deepcnn_onnx_python python3)
endif()
set(deepcnn_onnx_work ${CMAKE_BINARY_DIR}/program_tests/onnx)
add_test(NAME onnx_models
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/onnx/make_models.sh $<TARGET_FILE_DIR:fer_train> ${PROJECT_SOURCE_DIR}
          ${deepcnn_onnx_work})
# Training the seed net takes minutes under AddressSanitizer: labelled long, which the sanitizer configuration skips.
set_tests_properties(onnx_models PROPERTIES FIXTURES_SETUP onnx_models LABELS "programs;onnx;long" TIMEOUT 900)
foreach(tool checker onnxruntime opencv)
  add_test(NAME onnx_${tool}
    COMMAND ${deepcnn_onnx_python} ${PROJECT_SOURCE_DIR}/tests/onnx/check_consumers.py ${tool} ${deepcnn_onnx_work}
            ${PROJECT_SOURCE_DIR}/tools/peers/node_modules)
  set_tests_properties(onnx_${tool} PROPERTIES FIXTURES_REQUIRED onnx_models SKIP_RETURN_CODE 77
                       LABELS "programs;onnx;long" TIMEOUT 300)
endforeach()
