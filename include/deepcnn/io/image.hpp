// deepcnn/io/image.hpp: loading PNG / JPEG / BMP (anything stb_image decodes) as a grey image, colour
// converted with ITU-R BT.601 luma, and as a 48x48 face image in [0, 1] like the FER2013 rows.
// Decoding is delegated to stb_image (linked as libstb, see the top-level CMakeLists.txt); resampling to
// data/resample.hpp.
#pragma once

#include <stb_image.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../data/resample.hpp"
#include "../error.hpp"

namespace deepcnn {

// A grey image, row-major (height, width), values 0..255 (as floats: resampling makes fractions).
struct GreyImage {
    int height = 0;
    int width = 0;
    std::vector<float> pixels;
};

// Decodes an encoded image held in memory. `name` (a path, usually) only goes into error messages.
// Grey and grey+alpha keep their grey channel, RGB and RGBA become 0.299 R + 0.587 G + 0.114 B; alpha is
// ignored. Throws data_error "NAME: cannot decode image: REASON" with stb_image's reason.
inline GreyImage decode_grey_image(const unsigned char* bytes, std::size_t size, const std::string& name) {
    if (size > static_cast<std::size_t>(INT_MAX)) {
        throw data_error(name + ": cannot decode image: file too large (" + std::to_string(size) + " bytes)");
    }
    int width = 0, height = 0, channels = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> decoded(
        stbi_load_from_memory(bytes, static_cast<int>(size), &width, &height, &channels, 0), stbi_image_free);
    if (!decoded) {
        const char* reason = stbi_failure_reason();
        throw data_error(name + ": cannot decode image: " + (reason != nullptr ? reason : "unknown format"));
    }
    GreyImage image;
    image.height = height;
    image.width = width;
    const std::size_t count = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
    image.pixels.resize(count);
    const stbi_uc* p = decoded.get();
    const auto stride = static_cast<std::size_t>(channels);
    for (std::size_t i = 0; i < count; ++i, p += stride) {
        image.pixels[i] = channels >= 3 ? 0.299F * p[0] + 0.587F * p[1] + 0.114F * p[2] : static_cast<float>(p[0]);
    }
    return image;
}

// Reads and decodes an image file at its own size. Throws io_error "cannot open PATH: REASON" if the file
// cannot be read, and data_error "PATH: cannot decode image: REASON" if stb_image cannot decode it.
inline GreyImage load_grey_image(const std::string& path) {
    errno = 0;
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw io_error("cannot open " + path + ": " + (errno != 0 ? std::strerror(errno) : "unknown error"));
    }
    const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (file.bad()) throw io_error("cannot read " + path);
    return decode_grey_image(bytes.data(), bytes.size(), path);
}

// The image resampled to height x width (area averaging where it shrinks, bilinear where it grows).
inline GreyImage resize_grey(const GreyImage& image, int height, int width) {
    GreyImage out;
    out.height = height;
    out.width = width;
    resize_plane(image.pixels, image.height, image.width, out.pixels, height, width);
    return out;
}

// An image file as a FER2013-style face: grey, resampled to side x side (48 by default), scaled by 1/255
// to [0, 1] as make_labeled_images scales the CSV rows. Throws as load_grey_image.
inline std::vector<float> load_face_image(const std::string& path, int side = 48) {
    GreyImage image = resize_grey(load_grey_image(path), side, side);
    for (float& v : image.pixels) v /= 255.0F;
    return std::move(image.pixels);
}

}  // namespace deepcnn
