// deepcnn/io/image_batch.hpp: image files (PNG / JPEG / BMP) into one batch tensor (N, C, H, W) in one call:
// decoded grey or RGB, resampled to H x W, scaled. Decoding is io/image.hpp's job, resampling data/resample.hpp's.
#pragma once

#include <string>
#include <vector>

#include "../data/resample.hpp"
#include "../error.hpp"
#include "../tensor.hpp"
#include "image.hpp"

namespace deepcnn {

// How load_image_batch shapes each image.
struct ImageBatchOptions {
    int channels = 1;             // 1: grey (BT.601 luma), 3: RGB planes
    int height = 48;              // every image is resampled to height x width
    int width = 48;
    double scale = 1.0 / 255.0;   // pixel value (0..255) times scale, plus offset: [0, 1] by default
    double offset = 0.0;
};

// The images at `paths`, in order, as a (paths.size(), C, H, W) tensor. Throws io_error / data_error naming the
// file that cannot be read or decoded, and config_error for a bad channel count or size.
template <class Scalar = float>
Tensor<Scalar> load_image_batch(const std::vector<std::string>& paths, const ImageBatchOptions& options = {}) {
    if (options.height <= 0 || options.width <= 0) {
        throw config_error("load_image_batch: size must be positive, got " + std::to_string(options.height) + "x" +
                           std::to_string(options.width));
    }
    if (options.channels != 1 && options.channels != 3) {
        throw config_error("load_image_batch: channels must be 1 (grey) or 3 (RGB), got " +
                           std::to_string(options.channels));
    }
    const int N = static_cast<int>(paths.size());
    Tensor<Scalar> batch(Shape(N, options.channels, options.height, options.width));
    const std::size_t plane = static_cast<std::size_t>(options.height) * static_cast<std::size_t>(options.width);
    std::vector<float> in_plane, out_plane;
    for (int i = 0; i < N; ++i) {
        const Image image = load_image(paths[static_cast<std::size_t>(i)], options.channels);
        const std::size_t in_size = static_cast<std::size_t>(image.height) * static_cast<std::size_t>(image.width);
        for (int c = 0; c < options.channels; ++c) {
            const auto first = image.pixels.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(c) * in_size);
            in_plane.assign(first, first + static_cast<std::ptrdiff_t>(in_size));
            resize_plane(in_plane, image.height, image.width, out_plane, options.height, options.width);
            Scalar* out = batch.sample(i) + static_cast<std::size_t>(c) * plane;
            for (std::size_t k = 0; k < plane; ++k) out[k] = static_cast<Scalar>(out_plane[k] * options.scale + options.offset);
        }
    }
    return batch;
}

}  // namespace deepcnn
