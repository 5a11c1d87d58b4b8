// cmake/deepcnn_kernels.cpp: the project's one translation unit that compiles the kernels (deepcnn_kernels,
// CMakeLists.txt); the tests, examples and benchmarks declare them only (DEEPCNN_SEPARATE_KERNELS).
#include <deepcnn/kernels/instantiate_kernels.hpp>
