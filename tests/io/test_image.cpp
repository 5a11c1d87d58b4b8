// tests/io/test_image.cpp: loading PNG, JPEG and BMP files written here with stb_image_write (grey and colour,
// BT.601 luma), resampling to 48x48 (area averaging down, bilinear up), and the errors for missing and
// undecodable files.
#include <catch2/catch.hpp>

#include <deepcnn/io/image.hpp>

#include <stb_image_write.h>

#include <cmath>
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
