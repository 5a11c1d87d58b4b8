# tests/distributed.cmake: the distributed program tests (tests/programs/distributed_check.sh): 2 ranks under
# mpirun on loopback train tests/programs/distributed_check.cpp's net with deepcnn::Trainer and MpiCommunicator.
# Without MPI (no deepcnn::mpi) or mpirun, one test says that they were skipped.
find_program(DEEPCNN_MPIRUN NAMES mpirun mpiexec)
if(NOT TARGET deepcnn::mpi OR NOT DEEPCNN_MPIRUN)
  add_test(NAME distributed_skipped COMMAND ${CMAKE_COMMAND} -E echo "SKIPPED: no MPI or mpirun; the distributed tests did not run")
  set_tests_properties(distributed_skipped PROPERTIES LABELS distributed)
  return()
endif()
add_executable(distributed_check ${PROJECT_SOURCE_DIR}/tests/programs/distributed_check.cpp)
target_link_libraries(distributed_check PRIVATE deepcnn::mpi deepcnn_project_options)
foreach(case determinism single_process sync_batch_norm resume dead_rank hung_rank)
  add_test(NAME distributed_${case}
    COMMAND bash ${PROJECT_SOURCE_DIR}/tests/programs/distributed_check.sh $<TARGET_FILE:distributed_check>
            ${DEEPCNN_MPIRUN} ${CMAKE_BINARY_DIR}/program_tests/distributed_${case} ${case})
  # Each starts mpirun with 2 ranks on a 2-core machine: one at a time.
  # LeakSanitizer (the sanitizer build) reports Open MPI's own allocations, made in components it unloads at
  # MPI_Finalize, as leaks: off for these programs; the unit tests keep leak checking of deepcnn's code.
  set_tests_properties(distributed_${case} PROPERTIES LABELS "programs;distributed" TIMEOUT 300 RUN_SERIAL TRUE
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
endforeach()
# docs/distributed.md's example needs MPI, so doc_examples (tests/doc_examples.cmake) leaves it out: it is extracted
# the same way into a program of its own, linked with deepcnn::mpi and run here with 2 ranks in a scratch directory.
set(deepcnn_mpi_doc_dir "${CMAKE_BINARY_DIR}/doc_examples_mpi.d")
add_custom_command(
  OUTPUT "${deepcnn_mpi_doc_dir}/doc_examples_mpi.cpp"
  COMMAND ${CMAKE_COMMAND} -E make_directory "${deepcnn_mpi_doc_dir}/run"
  COMMAND ${CMAKE_COMMAND} "-DMARKDOWN=docs/distributed.md" "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}"
          "-DOUTPUT=${deepcnn_mpi_doc_dir}/doc_examples_mpi.cpp" -P "${PROJECT_SOURCE_DIR}/tests/extract_doc_examples.cmake"
  DEPENDS "${PROJECT_SOURCE_DIR}/docs/distributed.md" "${PROJECT_SOURCE_DIR}/tests/extract_doc_examples.cmake"
  COMMENT "Extracting the C++ example of docs/distributed.md"
  VERBATIM)
add_executable(doc_examples_mpi "${deepcnn_mpi_doc_dir}/doc_examples_mpi.cpp")
target_link_libraries(doc_examples_mpi PRIVATE deepcnn::mpi deepcnn_project_options)
file(MAKE_DIRECTORY "${deepcnn_mpi_doc_dir}/run")
add_test(NAME doc_examples_mpi
  COMMAND ${DEEPCNN_MPIRUN} --allow-run-as-root --oversubscribe --bind-to none -np 2 $<TARGET_FILE:doc_examples_mpi>
  WORKING_DIRECTORY "${deepcnn_mpi_doc_dir}/run")
# Labelled docs as doc_examples is: the sanitizer configuration skips it.
set_tests_properties(doc_examples_mpi PROPERTIES LABELS "docs;distributed" RUN_SERIAL TRUE TIMEOUT 120
  PASS_REGULAR_EXPRESSION "1 examples ran")
# fer_train itself under mpirun (it links deepcnn::mpi where MPI is found): rank 0 alone prints and writes, the
# same command gives the same model bits, and --sync-bn trains. Labelled long (three one-epoch runs of 2 ranks:
# 107 s in the release build at load average 10; two runs took 7 minutes under the sanitizers), so the sanitizer
# configuration skips it; the distributed_* tests above run there.
if(DEEPCNN_BUILD_EXAMPLES)
  add_test(NAME distributed_fer_train
    COMMAND bash ${PROJECT_SOURCE_DIR}/tests/programs/distributed_fer_train.sh $<TARGET_FILE:fer_train>
            ${DEEPCNN_MPIRUN} ${CMAKE_BINARY_DIR}/program_tests/distributed_fer_train)
  set_tests_properties(distributed_fer_train PROPERTIES LABELS "programs;distributed;long" TIMEOUT 600 RUN_SERIAL TRUE
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1" PASS_REGULAR_EXPRESSION "distributed fer_train: passed")
endif()
