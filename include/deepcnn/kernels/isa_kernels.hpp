// deepcnn/kernels/isa_kernels.hpp: compiles the kernels once per instruction set, each copy in its own namespace:
// deepcnn::isa_portable with the compiler's own flags, and on x86-64 (GCC, Clang) deepcnn::isa_avx2 under an
// AVX2 + FMA target pragma and deepcnn::isa_avx512 under an AVX-512 (F, VL, BW, DQ, CD) one. Each copy is what
// a build with that -march would compile, so one binary built with default flags carries all three;
// kernels.hpp calls the one active_isa() picks. The bodies are the files isa_pass.hpp lists.
#pragma once

// Everything the bodies use from outside, included here once, before any target pragma: a system header first
// included under one would be compiled for that instruction set and then called from any code.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../parallel/thread_pool.hpp"
#include "../random.hpp"
#include "adam_ref.hpp"
#include "batch_norm_ref.hpp"
#include "conv2d_variant.hpp"
#include "conv_geometry.hpp"
#include "elementwise_ref.hpp"
#include "gemm_ref.hpp"
#include "gemv_ref.hpp"
#include "grouped_conv2d.hpp"
#include "im2col.hpp"
#include "isa.hpp"
#include "max_pool_ref.hpp"

#if DEEPCNN_ISA_DISPATCH
#include <immintrin.h>
#endif

#define DEEPCNN_ISA_NS isa_portable
#define DEEPCNN_ISA_AVX2 0
#define DEEPCNN_ISA_AVX512 0
#include "isa_pass.hpp"
#undef DEEPCNN_ISA_NS
#undef DEEPCNN_ISA_AVX2
#undef DEEPCNN_ISA_AVX512

#if DEEPCNN_ISA_DISPATCH
// GCC 12 reports "'__Y' may be used uninitialized" inside its own AVX-512 intrinsics (_mm512_undefined_*, GCC bug
// 105593, fixed in GCC 13): a false positive in a system header, silenced for the passes only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,bmi,bmi2,popcnt"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi,bmi2,popcnt")
#endif
#define DEEPCNN_ISA_NS isa_avx2
#define DEEPCNN_ISA_AVX2 1
#define DEEPCNN_ISA_AVX512 0
#include "isa_pass.hpp"
#undef DEEPCNN_ISA_NS
#undef DEEPCNN_ISA_AVX2
#undef DEEPCNN_ISA_AVX512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(                                                                                      \
    __attribute__((target("avx2,fma,bmi,bmi2,popcnt,avx512f,avx512vl,avx512bw,avx512dq,avx512cd"))),            \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi,bmi2,popcnt,avx512f,avx512vl,avx512bw,avx512dq,avx512cd")
#endif
#define DEEPCNN_ISA_NS isa_avx512
#define DEEPCNN_ISA_AVX2 1
#define DEEPCNN_ISA_AVX512 1
#include "isa_pass.hpp"
#undef DEEPCNN_ISA_NS
#undef DEEPCNN_ISA_AVX2
#undef DEEPCNN_ISA_AVX512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif
