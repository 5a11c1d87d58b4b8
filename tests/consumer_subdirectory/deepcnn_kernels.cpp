// tests/consumer_subdirectory/deepcnn_kernels.cpp: the consumer's one file that compiles deepcnn's kernels.
#include <deepcnn/kernels/instantiate_kernels.hpp>
