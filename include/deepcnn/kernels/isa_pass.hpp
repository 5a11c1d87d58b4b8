// deepcnn/kernels/isa_pass.hpp: one instruction set's copy of the kernels. isa_kernels.hpp includes it once per
// instruction set with DEEPCNN_ISA_NS (the namespace: isa_portable, isa_avx2, isa_avx512), DEEPCNN_ISA_AVX2 and
// DEEPCNN_ISA_AVX512 (0 or 1: which intrinsics the pass may use) defined, under the matching target pragma. No
// include guard on purpose; every system header the bodies use is included before the first pass, so that none
// is compiled under a target pragma.
#ifndef DEEPCNN_ISA_NS
#error "kernels/isa_pass.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

// Inside a pass, detail:: names the pass's own detail namespace; this makes the shared one's names (the _ref
// kernels' helpers) visible through it as well.
namespace deepcnn {
namespace detail {}
namespace DEEPCNN_ISA_NS {
namespace detail {
using namespace ::deepcnn::detail;
}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn

// In dependency order.
#include "simd.hpp"
#include "gemm.hpp"
#include "gemv.hpp"
#include "padded_image.hpp"
#include "conv2d_direct.hpp"
#include "conv2d_broadcast.hpp"
#include "winograd.hpp"
#include "winograd_transposed.hpp"
#include "conv2d_fast.hpp"
#include "conv2d_pointwise.hpp"
#include "conv2d_plan.hpp"
#include "depthwise_conv2d.hpp"
#include "depthwise_lanes.hpp"
#include "depthwise_flat.hpp"
#include "depthwise_stride2.hpp"
#include "grouped_conv2d_plan.hpp"
#include "elementwise.hpp"
#include "batch_norm.hpp"
#include "max_pool.hpp"
#include "adam.hpp"
