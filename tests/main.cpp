// tests/main.cpp: the Catch2 main for deepcnn_tests; the test cases live in the other files under tests/.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
