// deepcnn/config.hpp: version numbers and compile-time switches (SIMD path selection).
#pragma once

#define DEEPCNN_VERSION_MAJOR 0
#define DEEPCNN_VERSION_MINOR 1
#define DEEPCNN_VERSION_PATCH 0

// DEEPCNN_PORTABLE forces the portable (scalar / Eigen) kernels even where the compiler targets AVX2 + FMA.
#if !defined(DEEPCNN_PORTABLE) && defined(__AVX2__) && defined(__FMA__)
#define DEEPCNN_HAVE_AVX2 1
#else
#define DEEPCNN_HAVE_AVX2 0
#endif

namespace deepcnn {

// Whether the library was compiled with the AVX2 + FMA kernels.
constexpr bool have_avx2_kernels() { return DEEPCNN_HAVE_AVX2 != 0; }

}  // namespace deepcnn
