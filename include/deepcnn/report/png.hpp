// deepcnn/report/png.hpp: a minimal PNG encoder (8-bit grey or RGB, zlib-compressed IDAT) for the report pictures,
// and data: URIs for embedding them in SVG. Reading images is io/'s job (stb_image).
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../detail/base64.hpp"
#include "../error.hpp"

namespace deepcnn {

namespace detail {

inline void png_put_u32(std::string& out, std::uint32_t v) {
    out += static_cast<char>((v >> 24) & 0xFF);
    out += static_cast<char>((v >> 16) & 0xFF);
    out += static_cast<char>((v >> 8) & 0xFF);
    out += static_cast<char>(v & 0xFF);
}

// Appends one chunk: length, type, data, CRC-32 of type and data.
inline void png_put_chunk(std::string& out, const char type[4], const std::string& data) {
    png_put_u32(out, static_cast<std::uint32_t>(data.size()));
    const std::size_t type_at = out.size();
    out.append(type, 4);
    out += data;
    const auto* crc_bytes = reinterpret_cast<const Bytef*>(out.data() + type_at);
    png_put_u32(out, static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0), crc_bytes,
                                                       static_cast<uInt>(4 + data.size()))));
}

}  // namespace detail

// The PNG file bytes of a `width` x `height` image with `channels` 1 (grey) or 3 (RGB) interleaved 8-bit samples,
// rows top to bottom, `pixels` holding width * height * channels bytes. Rows use PNG filter "up" (good for
// photographs and flat plots alike). Throws config_error for bad dimensions or channels and error if zlib fails.
inline std::string encode_png(const std::uint8_t* pixels, int width, int height, int channels) {
    if (width < 1 || height < 1 || width > (1 << 24) || height > (1 << 24)) {
        throw config_error("encode_png: bad size " + std::to_string(width) + "x" + std::to_string(height));
    }
    if (channels != 1 && channels != 3) {
        throw config_error("encode_png: channels must be 1 or 3, got " + std::to_string(channels));
    }
    const std::size_t stride = static_cast<std::size_t>(width) * static_cast<std::size_t>(channels);
    // Filtered scanlines: a filter-type byte, then row bytes minus the row above (mod 256).
    std::vector<std::uint8_t> raw((stride + 1) * static_cast<std::size_t>(height));
    for (int y = 0; y < height; ++y) {
        const std::uint8_t* row = pixels + static_cast<std::size_t>(y) * stride;
        std::uint8_t* dst = raw.data() + static_cast<std::size_t>(y) * (stride + 1);
        if (y == 0) {
            dst[0] = 0;  // none
            for (std::size_t i = 0; i < stride; ++i) dst[1 + i] = row[i];
        } else {
            const std::uint8_t* above = row - stride;
            dst[0] = 2;  // up
            for (std::size_t i = 0; i < stride; ++i) dst[1 + i] = static_cast<std::uint8_t>(row[i] - above[i]);
        }
    }
    uLongf compressed_size = compressBound(static_cast<uLong>(raw.size()));
    std::string compressed(compressed_size, '\0');
    if (compress2(reinterpret_cast<Bytef*>(&compressed[0]), &compressed_size, raw.data(),
                  static_cast<uLong>(raw.size()), 9) != Z_OK) {
        throw error("encode_png: zlib compression failed");
    }
    compressed.resize(compressed_size);

    std::string out("\x89PNG\r\n\x1a\n", 8);
    std::string header;
    detail::png_put_u32(header, static_cast<std::uint32_t>(width));
    detail::png_put_u32(header, static_cast<std::uint32_t>(height));
    header += static_cast<char>(8);                   // bit depth
    header += static_cast<char>(channels == 1 ? 0 : 2);  // colour type: grey or RGB
    header += std::string(3, '\0');                   // deflate, adaptive filtering, no interlace
    detail::png_put_chunk(out, "IHDR", header);
    detail::png_put_chunk(out, "IDAT", compressed);
    detail::png_put_chunk(out, "IEND", std::string());
    return out;
}

// "data:image/png;base64,..." for embedding PNG bytes in SVG or HTML.
inline std::string png_data_uri(const std::string& png_bytes) {
    return "data:image/png;base64," + detail::base64_encode(png_bytes);
}

}  // namespace deepcnn
