// tests/io/test_image.cpp: loading PNG, JPEG, BMP and TGA files written here with stb_image_write (grey and
// colour, BT.601 luma), resampling to 48x48 (area averaging down, bilinear up), and the errors for missing and
// undecodable files, oversized declared sizes, and the corrupt JPEG and the empty PNG data chunk found by
// tests/fuzz/fuzz_image.cpp.
#include <catch2/catch.hpp>

#include <deepcnn/io/image.hpp>

#include <stb_image_write.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "temp_files.hpp"

using namespace deepcnn;
using deepcnn_test::TempDir;
using deepcnn_test::write_text;

TEST_CASE("a grey PNG loads exactly", "[io][image]") {
    TempDir dir;
    const std::string path = dir.file("grey.png");
    std::vector<unsigned char> pixels(48 * 48);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<unsigned char>((i * 11) % 256);
    REQUIRE(stbi_write_png(path.c_str(), 48, 48, 1, pixels.data(), 48) != 0);

    const GreyImage image = load_grey_image(path);
    CHECK(image.width == 48);
    CHECK(image.height == 48);
    REQUIRE(image.pixels.size() == pixels.size());
    for (std::size_t i = 0; i < pixels.size(); ++i) REQUIRE(image.pixels[i] == static_cast<float>(pixels[i]));

    const std::vector<float> face = load_face_image(path);
    REQUIRE(face.size() == 2304);
    for (std::size_t i = 0; i < pixels.size(); ++i) REQUIRE(face[i] == Approx(pixels[i] / 255.0f));
}

TEST_CASE("a colour BMP loads as luma", "[io][image]") {
    TempDir dir;
    const std::string path = dir.file("two.bmp");
    const unsigned char rgb[] = {10, 20, 30, 200, 150, 100};  // 2 x 1
    REQUIRE(stbi_write_bmp(path.c_str(), 2, 1, 3, rgb) != 0);
    const GreyImage image = load_grey_image(path);
    REQUIRE(image.pixels.size() == 2);
    CHECK(image.pixels[0] == Approx(0.299 * 10 + 0.587 * 20 + 0.114 * 30));
    CHECK(image.pixels[1] == Approx(0.299 * 200 + 0.587 * 150 + 0.114 * 100));
}

TEST_CASE("colour PNGs become BT.601 luma, alpha ignored", "[io][image]") {
    TempDir dir;
    const std::string rgb_path = dir.file("rgb.png");
    const std::string rgba_path = dir.file("rgba.png");
    // 3 x 1: red, green, blue.
    const unsigned char rgb[] = {255, 0, 0, 0, 255, 0, 0, 0, 255};
    const unsigned char rgba[] = {255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255};
    REQUIRE(stbi_write_png(rgb_path.c_str(), 3, 1, 3, rgb, 9) != 0);
    REQUIRE(stbi_write_png(rgba_path.c_str(), 3, 1, 4, rgba, 12) != 0);
    for (const std::string& path : {rgb_path, rgba_path}) {
        const GreyImage image = load_grey_image(path);
        REQUIRE(image.pixels.size() == 3);
        CHECK(image.pixels[0] == Approx(0.299 * 255));
        CHECK(image.pixels[1] == Approx(0.587 * 255));
        CHECK(image.pixels[2] == Approx(0.114 * 255));
    }
}

TEST_CASE("a colour JPEG of any size loads as a 48x48 face", "[io][image]") {
    TempDir dir;
    const std::string path = dir.file("face.jpg");
    // 100 x 80, a uniform colour: JPEG keeps it within a grey level or two.
    const int W = 100, H = 80;
    std::vector<unsigned char> pixels(static_cast<std::size_t>(W * H * 3));
    for (std::size_t i = 0; i < pixels.size(); i += 3) {
        pixels[i] = 200;
        pixels[i + 1] = 100;
        pixels[i + 2] = 50;
    }
    REQUIRE(stbi_write_jpg(path.c_str(), W, H, 3, pixels.data(), 95) != 0);
    const GreyImage image = load_grey_image(path);
    CHECK(image.width == W);
    CHECK(image.height == H);
    const std::vector<float> face = load_face_image(path);
    REQUIRE(face.size() == 2304);
    const float luma = (0.299f * 200 + 0.587f * 100 + 0.114f * 50) / 255.0f;
    for (float v : face) REQUIRE(v == Approx(luma).margin(3.0 / 255.0));
}

TEST_CASE("resize_plane averages areas when shrinking and interpolates when growing", "[io][image]") {
    // 4 x 4 -> 2 x 2: each output is the mean of a 2 x 2 block.
    const std::vector<float> in = {0, 2, 10, 10, 4, 6, 10, 10, 1, 1, 0, 0, 1, 1, 0, 8};
    std::vector<float> out;
    resize_plane(in, 4, 4, out, 2, 2);
    CHECK(out == std::vector<float>{3, 10, 1, 2});

    // 3 -> 2 columns: output 0 covers input [0, 1.5): (a + 0.5 b) / 1.5.
    resize_plane(std::vector<float>{3, 6, 9}, 1, 3, out, 1, 2);
    REQUIRE(out.size() == 2);
    CHECK(out[0] == Approx((3 + 0.5 * 6) / 1.5));
    CHECK(out[1] == Approx((0.5 * 6 + 9) / 1.5));

    // 2 -> 4 columns, bilinear on pixel centres: positions -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
    resize_plane(std::vector<float>{0, 8}, 1, 2, out, 1, 4);
    CHECK(out == std::vector<float>{0, 2, 6, 8});

    // Any size to 48 x 48 keeps a constant image constant.
    for (const auto& [h, w] : std::vector<std::pair<int, int>>{{97, 61}, {20, 33}, {48, 200}, {1, 1}}) {
        resize_plane(std::vector<float>(static_cast<std::size_t>(h * w), 77.0f), h, w, out, 48, 48);
        REQUIRE(out.size() == 2304);
        for (float v : out) REQUIRE(v == Approx(77.0f));
    }
    CHECK_THROWS_AS(resize_plane(std::vector<float>(5), 2, 2, out, 48, 48), shape_error);
    CHECK_THROWS_AS(resize_plane(std::vector<float>(4), 2, 2, out, 0, 48), shape_error);
}

TEST_CASE("image loading names the file it cannot open or decode", "[io][image]") {
    TempDir dir;
    const std::string missing = dir.file("missing.png");
    CHECK_THROWS_AS(load_grey_image(missing), io_error);
    CHECK_THROWS_WITH(load_grey_image(missing), "cannot open " + missing + ": No such file or directory");

    const std::string junk = dir.file("junk.png");
    write_text(junk, "this is not an image");
    CHECK_THROWS_AS(load_grey_image(junk), data_error);
    CHECK_THROWS_WITH(load_grey_image(junk), Catch::StartsWith(junk + ": cannot decode image: "));
    try {
        load_face_image(junk);
    } catch (const data_error& e) {
        CHECK(std::string(e.what()).size() > (junk + ": cannot decode image: ").size());
    }
}

TEST_CASE("a JPEG Huffman table with more than 256 codes is rejected before stb_image sees it", "[io][image]") {
    // Fuzz finding: stb_image <= 2.27 writes such a table past the end of its arrays. SOI, DHT with 16 counts
    // of 32 (512 codes), then the start of the symbols.
    std::vector<unsigned char> jpeg = {0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x13, 0x00};
    jpeg.insert(jpeg.end(), 16, 0x20);
    jpeg.insert(jpeg.end(), 32, 0x01);
    CHECK_THROWS_WITH(decode_grey_image(jpeg.data(), jpeg.size(), "bad.jpg"),
                      "bad.jpg: cannot decode image: corrupt JPEG (a Huffman table with 512 codes, at most 256)");
    // The same table after an APP0 segment whose payload holds FF C4 (skipped, as stb_image skips it), and in
    // a progressive JPEG's second scan (after an SOS, where every FF C4 is a marker).
    std::vector<unsigned char> app = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x06, 0xFF, 0xC4, 0xFF, 0xFF};
    app.insert(app.end(), jpeg.begin() + 2, jpeg.end());
    CHECK_THROWS_WITH(decode_grey_image(app.data(), app.size(), "app.jpg"), Catch::Contains("512 codes"));
    std::vector<unsigned char> scan = {0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34, 0xFF, 0x00, 0x56};
    scan.insert(scan.end(), jpeg.begin() + 2, jpeg.end());
    CHECK_THROWS_WITH(decode_grey_image(scan.data(), scan.size(), "scan.jpg"), Catch::Contains("512 codes"));
    const std::vector<unsigned char> payload_only(app.begin(), app.begin() + 10);
    CHECK(detail::jpeg_oversized_huffman_table(payload_only.data(), payload_only.size()) == 0);
}

TEST_CASE("empty PNG IDAT chunks are dropped before stb_image sees them", "[io][image]") {
    // Fuzz finding: stb_image <= 2.27 copies an empty IDAT before the image data to a null pointer. The chunk
    // is legal and empty, so the image must decode as if it were not there.
    TempDir dir;
    const std::string path = dir.file("grey.png");
    std::vector<unsigned char> pixels(9 * 4);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<unsigned char>(i * 7 + 3);
    REQUIRE(stbi_write_png(path.c_str(), 9, 4, 1, pixels.data(), 9) != 0);
    std::ifstream file(path, std::ios::binary);
    const std::vector<unsigned char> plain((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const std::string text(plain.begin(), plain.end());
    const std::size_t first_idat = text.find("IDAT") - 4;
    const std::size_t iend = text.find("IEND") - 4;
    REQUIRE(first_idat == 33);  // signature (8) and IHDR (25)
    const std::vector<unsigned char> empty_idat = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xAF, 0x06, 0x1E};
    std::vector<unsigned char> padded(plain.begin(), plain.begin() + static_cast<std::ptrdiff_t>(first_idat));
    padded.insert(padded.end(), empty_idat.begin(), empty_idat.end());
    padded.insert(padded.end(), plain.begin() + static_cast<std::ptrdiff_t>(first_idat),
                  plain.begin() + static_cast<std::ptrdiff_t>(iend));
    padded.insert(padded.end(), empty_idat.begin(), empty_idat.end());
    padded.insert(padded.end(), plain.begin() + static_cast<std::ptrdiff_t>(iend), plain.end());

    CHECK(detail::png_without_empty_idat(plain.data(), plain.size()).empty());
    CHECK(detail::png_without_empty_idat(padded.data(), padded.size()) == plain);
    const GreyImage image = decode_grey_image(padded.data(), padded.size(), "padded.png");
    REQUIRE(image.width == 9);
    REQUIRE(image.height == 4);
    for (std::size_t i = 0; i < pixels.size(); ++i) REQUIRE(image.pixels[i] == static_cast<float>(pixels[i]));

    // The walk stops at a chunk that runs past the end; what follows the last whole chunk is kept as it was.
    const std::vector<unsigned char> cut(padded.begin(), padded.begin() + static_cast<std::ptrdiff_t>(first_idat + 20));
    std::vector<unsigned char> cut_kept(plain.begin(), plain.begin() + static_cast<std::ptrdiff_t>(first_idat + 8));
    CHECK(detail::png_without_empty_idat(cut.data(), cut.size()) == cut_kept);
    CHECK_THROWS_AS(decode_grey_image(cut.data(), cut.size(), "cut.png"), data_error);
    // An empty IDAT cut before its CRC (the second finding): dropped too, so stb_image sees a file that ends
    // after IHDR.
    std::vector<unsigned char> cut_idat(plain.begin(), plain.begin() + static_cast<std::ptrdiff_t>(first_idat));
    cut_idat.insert(cut_idat.end(), empty_idat.begin(), empty_idat.begin() + 8);
    const std::vector<unsigned char> header_only(plain.begin(), plain.begin() + static_cast<std::ptrdiff_t>(first_idat));
    CHECK(detail::png_without_empty_idat(cut_idat.data(), cut_idat.size()) == header_only);
    CHECK_THROWS_AS(decode_grey_image(cut_idat.data(), cut_idat.size(), "cut_idat.png"), data_error);
    const std::vector<unsigned char> not_png = {'B', 'M', 0, 0, 0, 0, 'I', 'D', 'A', 'T', 0, 0, 0, 0, 0, 0};
    CHECK(detail::png_without_empty_idat(not_png.data(), not_png.size()).empty());
}

TEST_CASE("an image declaring more than max_image_pixels is rejected before decoding", "[io][image]") {
    // A 54-byte BMP header declaring 10000 x 10000 24-bit pixels and no pixel data.
    std::vector<unsigned char> bmp(54, 0);
    const auto put32 = [&](std::size_t at, std::uint32_t v) {
        for (int i = 0; i < 4; ++i) bmp[at + i] = static_cast<unsigned char>(v >> (8 * i));
    };
    bmp[0] = 'B';
    bmp[1] = 'M';
    put32(2, 54);
    put32(10, 54);
    put32(14, 40);
    put32(18, 10000);
    put32(22, 10000);
    bmp[26] = 1;
    bmp[28] = 24;
    CHECK_THROWS_WITH(decode_grey_image(bmp.data(), bmp.size(), "huge.bmp"),
                      "huge.bmp: cannot decode image: 10000x10000 is too large (at most 33554432 pixels)");
    // A PNG IHDR declaring 20000 x 20000 (stb_image does not check chunk CRCs).
    std::vector<unsigned char> png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                      0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20, 8, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_THROWS_WITH(decode_grey_image(png.data(), png.size(), "huge.png"),
                      "huge.png: cannot decode image: 20000x20000 is too large (at most 33554432 pixels)");
}

TEST_CASE("a grey TGA loads exactly", "[io][image]") {
    TempDir dir;
    const std::string path = dir.file("grey.tga");
    std::vector<unsigned char> pixels(7 * 5);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<unsigned char>(i * 7);
    REQUIRE(stbi_write_tga(path.c_str(), 7, 5, 1, pixels.data()) != 0);
    const GreyImage image = load_grey_image(path);
    REQUIRE(image.width == 7);
    REQUIRE(image.height == 5);
    for (std::size_t i = 0; i < pixels.size(); ++i) REQUIRE(image.pixels[i] == static_cast<float>(pixels[i]));
}

TEST_CASE("decode_grey_image takes a lower pixel limit", "[io][image]") {
    TempDir dir;
    const std::string path = dir.file("grey.png");
    const std::vector<unsigned char> pixels(40 * 30, 128);
    REQUIRE(stbi_write_png(path.c_str(), 40, 30, 1, pixels.data(), 40) != 0);
    std::ifstream file(path, std::ios::binary);
    const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    CHECK(decode_grey_image(bytes.data(), bytes.size(), "grey.png", 1200).pixels.size() == 1200);
    CHECK_THROWS_WITH(decode_grey_image(bytes.data(), bytes.size(), "grey.png", 1199),
                      "grey.png: cannot decode image: 40x30 is too large (at most 1199 pixels)");
}

TEST_CASE("a cut PNG, a directory and an endless device each get a message naming them", "[io][image]") {
    TempDir dir;
    const std::string png = dir.file("face.png");
    std::vector<unsigned char> grey(48 * 48, 128);
    REQUIRE(stbi_write_png(png.c_str(), 48, 48, 1, grey.data(), 48) != 0);
    std::ifstream in(png, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string cut = dir.file("cut.png");
    write_text(cut, bytes.substr(0, 33));  // signature and IHDR, nothing after: stb_image gives an empty reason
    CHECK_THROWS_WITH(load_grey_image(cut), cut + ": cannot decode image: unknown format or corrupt data");

    CHECK_THROWS_AS(load_grey_image(dir.file("")), io_error);  // was basic_filebuf::underflow, without the name
    CHECK_THROWS_WITH(load_grey_image(dir.file("")), "cannot open " + dir.file("") + ": Is a directory");
    CHECK_THROWS_WITH(load_grey_image("/dev/zero"),  // was std::bad_alloc
                      "/dev/zero: image file larger than " + std::to_string(max_image_file_bytes) + " bytes");
}
