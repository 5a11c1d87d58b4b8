// deepcnn/io/image.hpp: loading PNG / JPEG / BMP (anything stb_image decodes) as a grey image, colour
// converted with ITU-R BT.601 luma, or as RGB planes, and as a 48x48 face image in [0, 1] like the FER2013 rows.
// Many files into one batch tensor: io/image_batch.hpp.
// Decoding is delegated to stb_image (linked as libstb, see the top-level CMakeLists.txt); resampling to
// data/resample.hpp.
#pragma once

#include <stb_image.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../data/resample.hpp"
#include "../error.hpp"
#include "read_file.hpp"

namespace deepcnn {

// The largest image decode_grey_image accepts, in pixels (about 8K UHD, 7680 x 4320): a header declaring more
// is rejected before stb_image allocates anything for it.
constexpr std::size_t max_image_pixels = std::size_t(1) << 25;
// The largest image file load_grey_image reads: an uncompressed RGBA image of max_image_pixels, plus 1 MiB of
// headers and metadata. A larger file (or /dev/zero) is refused before (or while) reading, not decoded.
constexpr std::size_t max_image_file_bytes = 4 * max_image_pixels + (std::size_t(1) << 20);

// A grey image, row-major (height, width), values 0..255 (as floats: resampling makes fractions).
struct GreyImage {
    int height = 0;
    int width = 0;
    std::vector<float> pixels;
};

namespace detail {

// The JPEG Huffman table definitions (DHT segments) stb_image would read from `bytes`, checked for a table with
// more than 256 codes: stb_image up to v2.27 (Debian 12's libstb) builds such a table past the end of its arrays
// (a heap overflow, found by tests/fuzz/fuzz_image). Returns the code count of the first bad table, or 0.
// Before the first scan the segments are walked as stb_image walks them (APPn and COM payloads skipped); from
// the first scan on, every FF C4 marker is checked, since entropy-coded data never contains one.
inline int jpeg_oversized_huffman_table(const unsigned char* bytes, std::size_t size) {
    const auto byte = [&](std::size_t i) -> unsigned { return i < size ? bytes[i] : 0U; };  // 0 past the end
    // The tables of the DHT segment whose length field starts at `at`; returns the largest bad count or 0.
    const auto check_dht = [&](std::size_t at) -> int {
        long left = static_cast<long>(byte(at) << 8 | byte(at + 1)) - 2;
        std::size_t pos = at + 2;
        while (left > 0 && pos < size) {
            const unsigned q = byte(pos);
            if ((q >> 4) > 1 || (q & 15U) > 3) return 0;  // stb_image rejects the segment before reading counts
            int codes = 0;
            for (std::size_t i = 1; i <= 16; ++i) codes += static_cast<int>(byte(pos + i));
            if (codes > 256) return codes;
            pos += 17 + static_cast<std::size_t>(codes);
            left -= 17 + codes;
        }
        return 0;
    };
    std::size_t pos = 0;
    while (byte(pos) == 0xFF) ++pos;
    if (pos == 0 || pos >= size || bytes[pos] != 0xD8) return 0;  // no SOI: stb_image does not read it as JPEG
    ++pos;
    while (pos < size) {  // the segments before the first scan
        if (bytes[pos] != 0xFF) {
            ++pos;
            continue;
        }
        while (pos < size && bytes[pos] == 0xFF) ++pos;
        if (pos >= size) return 0;
        const unsigned marker = bytes[pos++];
        if (marker == 0xDA) break;  // SOS
        if (marker == 0xD9) return 0;  // EOI
        if (marker == 0xC4) {
            if (const int codes = check_dht(pos)) return codes;
        }
        pos += byte(pos) << 8 | byte(pos + 1);
    }
    for (; pos + 1 < size; ++pos) {
        if (bytes[pos] == 0xFF && bytes[pos + 1] == 0xC4) {
            if (const int codes = check_dht(pos + 2)) return codes;
        }
    }
    return 0;
}

// The PNG in `bytes` without its empty IDAT chunks, or an empty vector if it has none (or is not a PNG).
// stb_image up to v2.27 copies an empty IDAT that comes before any image data to a null pointer (undefined
// behaviour, found by tests/fuzz/fuzz_image), even when the file ends before the chunk's CRC; an empty IDAT
// carries no data, so dropping the whole chunk (length, type, CRC, or what the file holds of them) leaves the
// same image, or the same truncated file. Chunks are walked up to the first one that runs past the end.
inline std::vector<unsigned char> png_without_empty_idat(const unsigned char* bytes, std::size_t size) {
    static constexpr unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (size < 8 || std::memcmp(bytes, signature, 8) != 0) return {};
    std::vector<std::pair<std::size_t, std::size_t>> dropped;  // [begin, end) of each empty IDAT
    std::size_t pos = 8;
    while (size - pos >= 8) {  // a chunk's length and type
        const std::size_t length = std::size_t(bytes[pos]) << 24 | std::size_t(bytes[pos + 1]) << 16 |
                                   std::size_t(bytes[pos + 2]) << 8 | std::size_t(bytes[pos + 3]);
        const bool whole = size - pos >= 12 && length <= size - pos - 12;
        const std::size_t end = whole ? pos + 12 + length : size;
        if (length == 0 && std::memcmp(bytes + pos + 4, "IDAT", 4) == 0) dropped.emplace_back(pos, end);
        if (!whole) break;
        pos = end;
    }
    if (dropped.empty()) return {};
    std::vector<unsigned char> kept;
    kept.reserve(size);
    std::size_t from = 0;
    for (const auto& [begin, end] : dropped) {
        kept.insert(kept.end(), bytes + from, bytes + begin);
        from = end;
    }
    kept.insert(kept.end(), bytes + from, bytes + size);
    return kept;
}

}  // namespace detail

// An image as planes, row-major (channels, height, width), values 0..255 (as floats: resampling makes fractions).
struct Image {
    int channels = 0;
    int height = 0;
    int width = 0;
    std::vector<float> pixels;
};

// Decodes an encoded image held in memory into `channels` planes (1: grey, 3: RGB). `name` (a path, usually) only
// goes into error messages. Grey: grey and grey+alpha keep their grey channel, RGB and RGBA become
// 0.299 R + 0.587 G + 0.114 B. RGB: colour images keep R, G, B; grey ones repeat their grey in all three. Alpha is
// ignored. Throws data_error "NAME: cannot decode image: REASON" with stb_image's reason, or naming a declared
// size over `max_pixels` (default max_image_pixels), or a corrupt JPEG Huffman table (which stb_image itself
// would overflow on). Empty PNG IDAT chunks are dropped before stb_image sees them (see png_without_empty_idat).
// Throws config_error for a channel count other than 1 or 3.
inline Image decode_image(const unsigned char* bytes, std::size_t size, const std::string& name, int channels,
                          std::size_t max_pixels = max_image_pixels) {
    if (channels != 1 && channels != 3) {
        throw config_error(name + ": images are decoded to 1 (grey) or 3 (RGB) channels, not " + std::to_string(channels));
    }
    const std::string failed = name + ": cannot decode image: ";
    if (size > static_cast<std::size_t>(INT_MAX)) {
        throw data_error(failed + "file too large (" + std::to_string(size) + " bytes)");
    }
    if (const int codes = detail::jpeg_oversized_huffman_table(bytes, size)) {
        throw data_error(failed + "corrupt JPEG (a Huffman table with " + std::to_string(codes) +
                         " codes, at most 256)");
    }
    const std::vector<unsigned char> cleaned = detail::png_without_empty_idat(bytes, size);
    if (!cleaned.empty()) {
        bytes = cleaned.data();
        size = cleaned.size();
    }
    // stb_image's reason, or a generic one where it gives none (a PNG cut inside its header gives "").
    const auto reason = [] {
        const char* text = stbi_failure_reason();
        return text != nullptr && *text != '\0' ? std::string(text) : std::string("unknown format or corrupt data");
    };
    int width = 0, height = 0, stored = 0;
    if (!stbi_info_from_memory(bytes, static_cast<int>(size), &width, &height, &stored)) {
        throw data_error(failed + reason());
    }
    if (width > 0 && height > 0 &&
        static_cast<std::size_t>(width) * static_cast<std::size_t>(height) > max_pixels) {
        throw data_error(failed + std::to_string(width) + "x" + std::to_string(height) + " is too large (at most " +
                         std::to_string(max_pixels) + " pixels)");
    }
    std::unique_ptr<stbi_uc, void (*)(void*)> decoded(
        stbi_load_from_memory(bytes, static_cast<int>(size), &width, &height, &stored, 0), stbi_image_free);
    if (!decoded) throw data_error(failed + reason());
    if (width <= 0 || height <= 0 || static_cast<std::size_t>(width) * static_cast<std::size_t>(height) > max_pixels) {
        throw data_error(failed + "decoded an unexpected size " + std::to_string(width) + "x" + std::to_string(height));
    }
    Image image;
    image.channels = channels;
    image.height = height;
    image.width = width;
    const std::size_t count = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
    image.pixels.resize(count * static_cast<std::size_t>(channels));
    const stbi_uc* p = decoded.get();
    const auto stride = static_cast<std::size_t>(stored);
    for (std::size_t i = 0; i < count; ++i, p += stride) {
        if (channels == 1) {
            image.pixels[i] = stored >= 3 ? 0.299F * p[0] + 0.587F * p[1] + 0.114F * p[2] : static_cast<float>(p[0]);
        } else {
            for (std::size_t c = 0; c < 3; ++c) image.pixels[c * count + i] = static_cast<float>(p[stored >= 3 ? c : 0]);
        }
    }
    return image;
}

// Decodes an encoded image held in memory as a grey image: decode_image with one channel (which see).
inline GreyImage decode_grey_image(const unsigned char* bytes, std::size_t size, const std::string& name,
                                   std::size_t max_pixels = max_image_pixels) {
    Image decoded = decode_image(bytes, size, name, 1, max_pixels);
    GreyImage image;
    image.height = decoded.height;
    image.width = decoded.width;
    image.pixels = std::move(decoded.pixels);
    return image;
}

// Reads and decodes an image file at its own size into `channels` planes. Throws io_error "cannot open PATH:
// REASON" if the file cannot be opened or read (a directory: "Is a directory"), data_error if it is larger than
// max_image_file_bytes, and as decode_image.
inline Image load_image(const std::string& path, int channels) {
    const std::string bytes = read_file_bounded(path, max_image_file_bytes, "image file");
    return decode_image(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), path, channels);
}

// Reads and decodes an image file at its own size as a grey image; throws as load_image.
inline GreyImage load_grey_image(const std::string& path) {
    const std::string bytes = read_file_bounded(path, max_image_file_bytes, "image file");
    return decode_grey_image(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), path);
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
