// tests/fuzz/fuzz_image.cpp: libFuzzer target for fer_predict's image path: decode_grey_image (stb_image) on
// arbitrary bytes, then resize_grey to the 48x48 face size and to a second size derived from the input length
// (1..97 x 1..131, so shrinking and growing both run). Images are limited to 2^20 pixels (the library allows 2^25,
// tested in tests/io/test_image.cpp), so that garbage decoded at a large declared size does not slow the search
// down to a few executions per second. The only allowed outcomes are images of the requested
// size or a deepcnn::error; anything else escaping or a sanitizer report is a finding. stb_image itself is
// compiled into this target (stb_image_impl.cpp), instrumented, so that its decoders are fuzzed too.
#include <deepcnn/io/image.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace {

void check(const deepcnn::GreyImage& image, int height, int width) {
    if (image.height != height || image.width != width ||
        image.pixels.size() != static_cast<std::size_t>(height) * static_cast<std::size_t>(width)) {
        std::abort();
    }
    for (const float v : image.pixels) {
        if (!(v >= -0.01F && v <= 255.01F)) std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const deepcnn::GreyImage image = deepcnn::decode_grey_image(data, size, "fuzz.img", std::size_t(1) << 20);
        check(deepcnn::resize_grey(image, 48, 48), 48, 48);
        const int height = 1 + static_cast<int>(size % 97);
        const int width = 1 + static_cast<int>(size / 97 % 131);
        check(deepcnn::resize_grey(image, height, width), height, width);
    } catch (const deepcnn::error&) {
    }
    return 0;
}
