# tests/check_test_names.cmake: the ctest case deepcnn_tests_names. Fails when a Catch2 test case name would break its
# registration by catch_discover_tests (Catch 2.13), which reads the names into a CMake list: a ';' splits a name,
# and a '[' or ']' groups list items, so that the cases listed after it are registered under one garbled name
# that runs nothing, yet passes.
# Usage: cmake -DTEST_EXECUTABLE=<path to deepcnn_tests> -P check_test_names.cmake
execute_process(COMMAND "${TEST_EXECUTABLE}" --list-test-names-only OUTPUT_VARIABLE names RESULT_VARIABLE result)
if(result LESS 0 OR result MATCHES "[^0-9]")
  message(FATAL_ERROR "could not list the test cases of ${TEST_EXECUTABLE}: ${result}")
endif()
string(REPLACE ";" "<semicolon>" names "${names}")
string(REPLACE "[" "<open>" names "${names}")
string(REPLACE "]" "<close>" names "${names}")
string(REGEX MATCHALL "[^\n]*<(semicolon|open|close)>[^\n]*" bad "${names}")
if(bad)
  set(report "")
  foreach(name IN LISTS bad)
    string(REPLACE "<semicolon>" ";" name "${name}")
    string(REPLACE "<open>" "(open square bracket)" name "${name}")
    string(REPLACE "<close>" "(close square bracket)" name "${name}")
    string(APPEND report "\n  ${name}")
  endforeach()
  message(FATAL_ERROR "test case names must not contain ';', '[' or ']' (catch_discover_tests cannot register "
                      "them, and the cases listed after them stop running):${report}")
endif()
message(STATUS "all test case names can be registered with ctest")
