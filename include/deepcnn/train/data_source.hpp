// deepcnn/train/data_source.hpp: where the Trainer takes its samples from. A DataSource says how many labelled
// samples it has and their shape, and fetches any of them by index into a batch; the Trainer owns shuffling and
// batching. TensorSource is the in-memory one (a view of an images tensor and its labels).
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../tensor.hpp"

namespace deepcnn {

template <class Scalar>
class DataSource {
public:
    virtual ~DataSource() = default;
    // The number of samples (indices 0 .. size() - 1).
    virtual int size() const = 0;
    // The shape of one sample, N = 1.
    virtual Shape sample_shape() const = 0;
    // Writes samples indices[0], ..., indices[count - 1] into `images`, resized to (count, C, H, W), and their labels
    // (0 .. classes - 1) into `labels`, resized to count. Called with count >= 1 and indices < size().
    virtual void fetch(const std::size_t* indices, std::size_t count, Tensor<Scalar>& images,
                       std::vector<int>& labels) = 0;
};

// A view of images (N, C, H, W) and their N labels held by the caller, who keeps both alive and unchanged while
// the source is used. Throws data_error if the counts differ.
template <class Scalar>
class TensorSource : public DataSource<Scalar> {
public:
    TensorSource(const Tensor<Scalar>& images, const std::vector<int>& labels) : images_(images), labels_(labels) {
        if (static_cast<std::size_t>(images.n()) != labels.size()) {
            throw data_error("TensorSource: " + std::to_string(images.n()) + " images but " +
                             std::to_string(labels.size()) + " labels");
        }
    }
    int size() const override { return images_.n(); }
    Shape sample_shape() const override { return images_.shape().with_batch(1); }
    void fetch(const std::size_t* indices, std::size_t count, Tensor<Scalar>& images,
               std::vector<int>& labels) override {
        images.resize(images_.shape().with_batch(static_cast<int>(count)));
        labels.resize(count);
        const std::size_t per_sample = images_.shape().per_sample();
        for (std::size_t i = 0; i < count; ++i) {
            const std::size_t index = indices[i];
            if (index >= static_cast<std::size_t>(images_.n())) {
                throw shape_error("TensorSource: index " + std::to_string(index) + " out of range for " +
                                  std::to_string(images_.n()) + " samples");
            }
            std::memcpy(images.sample(static_cast<int>(i)), images_.sample(static_cast<int>(index)),
                        per_sample * sizeof(Scalar));
            labels[i] = labels_[index];
        }
    }

private:
    const Tensor<Scalar>& images_;
    const std::vector<int>& labels_;
};

}  // namespace deepcnn
