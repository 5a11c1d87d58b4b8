// deepcnn/layers/batch_norm_sync.hpp: BatchNormSync, what a BatchNorm needs from the processes that train one
// model together to normalise with the statistics of their global batch (synchronised BatchNorm): a sum of a few
// per-channel values over every process. The layers know nothing of MPI; data-parallel training
// (distributed/data_parallel.hpp) implements it over its Communicator and sets it on every BatchNorm.
#pragma once

#include <cstddef>

namespace deepcnn {

class BatchNormSync {
public:
    virtual ~BatchNormSync() = default;
    // Sums data[0, count) over every process, in place. Every process must call it with the same count at the
    // same point of its forward or backward pass, and every process must get the same bits (a fixed order: the
    // Communicator's left fold in rank order).
    virtual void sum(double* data, std::size_t count) = 0;
};

}  // namespace deepcnn
