// deepcnn/kernels/instantiate_kernels.hpp: compiles the kernels, for float and double, into the one translation
// unit that includes it. For projects that define DEEPCNN_SEPARATE_KERNELS in every unit (same value everywhere,
// same compiler flags): the other units then only declare the kernels (kernels.hpp) and compile about three times
// faster. Without DEEPCNN_SEPARATE_KERNELS the library stays header-only and this file is not needed.
#pragma once

#include "kernels.hpp"

namespace deepcnn {
namespace kernels {
DEEPCNN_KERNEL_INSTANTIATIONS(template, float)
DEEPCNN_KERNEL_INSTANTIATIONS(template, double)
}  // namespace kernels
}  // namespace deepcnn
