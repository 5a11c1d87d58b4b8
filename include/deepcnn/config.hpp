// deepcnn/config.hpp: version numbers and the compile-time switch DEEPCNN_PORTABLE.
#pragma once

#define DEEPCNN_VERSION_MAJOR 0
#define DEEPCNN_VERSION_MINOR 1
#define DEEPCNN_VERSION_PATCH 0

// Defining DEEPCNN_PORTABLE leaves out the AVX2 and AVX-512 kernels: only the portable ones are compiled, and
// run whatever the CPU (kernels/isa.hpp decides which kernels run, at run time).
