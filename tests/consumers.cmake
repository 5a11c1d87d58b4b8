# tests/consumers.cmake: ctest cases that build the two consumer projects (installed package and
# add_subdirectory) from scratch and run their program.
set(DEEPCNN_CONSUMER_WORK ${CMAKE_BINARY_DIR}/consumers)
add_test(NAME consumer_find_package
  COMMAND ${CMAKE_COMMAND} -DMODE=install -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DBUILD_DIR=${CMAKE_BINARY_DIR}
          -DWORK_DIR=${DEEPCNN_CONSUMER_WORK}/install -DGENERATOR=${CMAKE_GENERATOR}
          -P ${PROJECT_SOURCE_DIR}/tests/run_consumer.cmake)
add_test(NAME consumer_add_subdirectory
  COMMAND ${CMAKE_COMMAND} -DMODE=subdirectory -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DBUILD_DIR=${CMAKE_BINARY_DIR}
          -DWORK_DIR=${DEEPCNN_CONSUMER_WORK}/subdirectory -DGENERATOR=${CMAKE_GENERATOR}
          -P ${PROJECT_SOURCE_DIR}/tests/run_consumer.cmake)
set_tests_properties(consumer_find_package consumer_add_subdirectory PROPERTIES LABELS consumer TIMEOUT 600)
