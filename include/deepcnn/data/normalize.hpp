// deepcnn/data/normalize.hpp: Normalization, the mean and standard deviation of the training images, fitted
// once and applied to every split and to every image a model predicts on (a model file stores it).
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include "../error.hpp"
#include "../tensor.hpp"

namespace deepcnn {

// x' = (x - mean) / stddev, one scalar pair for all pixels. The default is the identity.
struct Normalization {
    double mean = 0.0;
    double stddev = 1.0;
};

// The mean and (population) standard deviation of all elements of `images`, accumulated in double.
// Throws data_error for an empty tensor or one whose values are all equal (the deviation would be 0).
template <class Scalar>
Normalization fit_normalization(const Tensor<Scalar>& images) {
    if (images.empty()) throw data_error("fit_normalization: no training images");
    const auto count = static_cast<double>(images.size());
    double sum = 0.0;
    for (Scalar v : images) sum += static_cast<double>(v);
    const double mean = sum / count;
    double squares = 0.0;
    for (Scalar v : images) {
        const double d = static_cast<double>(v) - mean;
        squares += d * d;
    }
    const double stddev = std::sqrt(squares / count);
    if (!(stddev > 0.0)) {
        throw data_error("fit_normalization: the training images have standard deviation " + std::to_string(stddev));
    }
    return Normalization{mean, stddev};
}

// Normalises `count` values at `values` in place. Throws config_error if stddev is not positive.
template <class Scalar>
void normalize(Scalar* values, std::size_t count, const Normalization& norm) {
    if (!(norm.stddev > 0.0)) {
        throw config_error("normalize: expected stddev > 0, got " + std::to_string(norm.stddev));
    }
    const auto mean = static_cast<Scalar>(norm.mean);
    const auto inv_std = static_cast<Scalar>(1.0 / norm.stddev);
    for (std::size_t i = 0; i < count; ++i) values[i] = (values[i] - mean) * inv_std;
}

// Normalises a whole tensor in place.
template <class Scalar>
void normalize(Tensor<Scalar>& images, const Normalization& norm) {
    normalize(images.data(), images.size(), norm);
}

}  // namespace deepcnn
