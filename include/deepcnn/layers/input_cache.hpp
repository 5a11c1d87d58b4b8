// deepcnn/layers/input_cache.hpp: InputCache, how a layer keeps the last forward's input for its backward pass:
// a copy, or only a pointer when the caller retains the input until the backward (Sequential does, see
// Layer::set_input_retained).
#pragma once

#include "../tensor.hpp"

namespace deepcnn {

template <class Scalar>
class InputCache {
public:
    // Keeps `x`: a pointer to it if `retained`, else a copy (reusing the copy's allocation).
    void keep(const Tensor<Scalar>& x, bool retained) {
        if (retained) {
            pointer_ = &x;
        } else {
            pointer_ = nullptr;
            copy_ = x;
        }
    }
    // The last kept input.
    const Tensor<Scalar>& get() const { return pointer_ ? *pointer_ : copy_; }

private:
    const Tensor<Scalar>* pointer_ = nullptr;
    Tensor<Scalar> copy_;
};

}  // namespace deepcnn
