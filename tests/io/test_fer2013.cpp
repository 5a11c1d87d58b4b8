// tests/io/test_fer2013.cpp: read_fer2013 and LineReader on good input (plain, gzip, CRLF, trailing blanks),
// on each kind of bad line with its exact message, with skip_bad_rows and max_rows, and on the shared sample.
#include <catch2/catch.hpp>

#include <deepcnn/io/fer2013.hpp>
#include <deepcnn/io/line_reader.hpp>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "temp_files.hpp"

using namespace deepcnn;
using deepcnn_test::TempDir;
using deepcnn_test::write_gzip;
using deepcnn_test::write_text;

namespace {

const std::string header = "emotion,pixels,Usage\n";

// Pixel i of test image `seed`.
int pixel_value(int seed, int i) { return (i * 7 + seed * 31) % 256; }

std::string pixel_list(int seed, int count = fer_image_pixels) {
    std::string out;
    for (int i = 0; i < count; ++i) {
        if (i > 0) out += ' ';
        out += std::to_string(pixel_value(seed, i));
    }
    return out;
}

std::string row(int emotion, int seed, const std::string& usage, const std::string& end = "\n") {
    return std::to_string(emotion) + "," + pixel_list(seed) + "," + usage + end;
}

// Three rows: (3, Training), (0, PublicTest), (6, PrivateTest).
std::string good_file(const std::string& end = "\n") {
    return "emotion,pixels,Usage" + end + row(3, 1, "Training", end) + row(0, 2, "PublicTest", end) +
           row(6, 3, "PrivateTest", end);
}

void check_good(const Fer2013Dataset& data) {
    REQUIRE(data.size() == 3);
    CHECK(data.emotions == std::vector<int>{3, 0, 6});
    CHECK(data.usages == std::vector<Usage>{Usage::training, Usage::public_test, Usage::private_test});
    CHECK(data.rows == std::vector<std::size_t>{0, 1, 2});
    CHECK(data.skipped_rows == 0);
    REQUIRE(data.pixels.size() == 3 * static_cast<std::size_t>(fer_image_pixels));
    for (int r = 0; r < 3; ++r) {
        for (int i = 0; i < fer_image_pixels; ++i) {
            if (data.image(static_cast<std::size_t>(r))[i] != pixel_value(r + 1, i)) {
                FAIL("row " << r << " pixel " << i << ": " << int(data.image(static_cast<std::size_t>(r))[i]));
            }
        }
    }
}

// The message of the data_error that reading `content` (one header, then `bad` as line 3) throws.
std::string error_for_line3(const TempDir& dir, const std::string& bad) {
    const std::string path = dir.file("bad.csv");
    write_text(path, header + row(4, 1, "Training") + bad + "\n" + row(5, 2, "Training"));
    try {
        read_fer2013(path);
    } catch (const data_error& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("read_fer2013 reads a good file", "[io][fer2013]") {
    TempDir dir;
    const std::string path = dir.file("good.csv");
    write_text(path, good_file());
    const Fer2013Dataset data = read_fer2013(path);
    CHECK(data.path == path);
    check_good(data);
}

TEST_CASE("read_fer2013 tolerates CRLF, trailing blanks, blank lines and a missing final newline", "[io][fer2013]") {
    TempDir dir;
    const std::string path = dir.file("crlf.csv");
    std::string content = "emotion,pixels,Usage \r\n" + row(3, 1, "Training", "  \r\n") + "\r\n" +
                          row(0, 2, "PublicTest", "\t\r\n") + row(6, 3, "PrivateTest", "");
    write_text(path, content);
    check_good(read_fer2013(path));
}

TEST_CASE("read_fer2013 reads gzip input", "[io][fer2013]") {
    TempDir dir;
    const std::string path = dir.file("good.csv.gz");
    write_gzip(path, good_file("\r\n"));
    check_good(read_fer2013(path));
}

TEST_CASE("read_fer2013 reports each kind of bad line with its line number", "[io][fer2013]") {
    TempDir dir;
    const std::string path = dir.file("bad.csv");
    const std::string pixels = pixel_list(9);
    CHECK(error_for_line3(dir, "3," + pixel_list(9, 2303) + ",Training") ==
          path + ":3: expected 2304 pixels, got 2303");
    CHECK(error_for_line3(dir, "3," + pixel_list(9, 2305) + ",Training") ==
          path + ":3: expected 2304 pixels, got 2305");
    CHECK(error_for_line3(dir, "3,,Training") == path + ":3: expected 2304 pixels, got 0");
    CHECK(error_for_line3(dir, "3," + pixels) == path + ":3: expected 3 fields (emotion,pixels,Usage), got 2");
    CHECK(error_for_line3(dir, "3," + pixels + ",Training,x") ==
          path + ":3: expected 3 fields (emotion,pixels,Usage), got 4");
    CHECK(error_for_line3(dir, "7," + pixels + ",Training") ==
          path + ":3: emotion: expected an integer 0..6, got \"7\"");
    CHECK(error_for_line3(dir, "-1," + pixels + ",Training") ==
          path + ":3: emotion: expected an integer 0..6, got \"-1\"");
    CHECK(error_for_line3(dir, "," + pixels + ",Training") == path + ":3: emotion: expected an integer 0..6, got \"\"");
    CHECK(error_for_line3(dir, "3," + pixels + ",Validation") ==
          path + ":3: Usage: expected Training, PublicTest or PrivateTest, got \"Validation\"");
    CHECK(error_for_line3(dir, "3," + pixels + ",training") ==
          path + ":3: Usage: expected Training, PublicTest or PrivateTest, got \"training\"");

    const std::string head = "3,10 20 30 40 ";
    const std::string tail = " " + pixel_list(9, 2299) + ",Training";
    CHECK(error_for_line3(dir, head + "256" + tail) == path + ":3: pixel 5: expected an integer 0..255, got \"256\"");
    CHECK(error_for_line3(dir, head + "1000" + tail) == path + ":3: pixel 5: expected an integer 0..255, got \"1000\"");
    CHECK(error_for_line3(dir, head + "-1" + tail) == path + ":3: pixel 5: expected an integer 0..255, got \"-1\"");
    CHECK(error_for_line3(dir, head + "12a" + tail) == path + ":3: pixel 5: expected an integer 0..255, got \"12a\"");
    CHECK(error_for_line3(dir, head + "1.5" + tail) == path + ":3: pixel 5: expected an integer 0..255, got \"1.5\"");
}

TEST_CASE("read_fer2013 rejects a bad header or an empty file at line 1", "[io][fer2013]") {
    TempDir dir;
    const std::string path = dir.file("header.csv");
    write_text(path, "emotion,pixels\n" + row(3, 1, "Training"));
    CHECK_THROWS_WITH(read_fer2013(path),
                      path + ":1: expected the header \"emotion,pixels,Usage\", got \"emotion,pixels\"");
    Fer2013Options skip;
    skip.skip_bad_rows = true;
    CHECK_THROWS_AS(read_fer2013(path, skip), data_error);

    write_text(path, "");
    CHECK_THROWS_WITH(read_fer2013(path), path + ":1: empty file, expected the header \"emotion,pixels,Usage\"");
    CHECK_THROWS_AS(read_fer2013(path), data_error);
}

TEST_CASE("read_fer2013 throws io_error naming a file it cannot open", "[io][fer2013]") {
    TempDir dir;
    const std::string path = dir.file("missing.csv");
    CHECK_THROWS_AS(read_fer2013(path), io_error);
    CHECK_THROWS_WITH(read_fer2013(path), "cannot open " + path + ": No such file or directory");
}

TEST_CASE("read_fer2013 throws io_error on a truncated gzip file", "[io][fer2013]") {
    TempDir dir;
    const std::string full = dir.file("full.csv.gz");
    write_gzip(full, good_file());
    std::ifstream in(full, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string cut = dir.file("cut.csv.gz");
    write_text(cut, bytes.substr(0, bytes.size() / 2));
    CHECK_THROWS_AS(read_fer2013(cut), io_error);
    CHECK_THROWS_WITH(read_fer2013(cut), Catch::StartsWith("cannot read " + cut + ": "));
}

TEST_CASE("read_fer2013 skips and counts bad rows when asked", "[io][fer2013]") {
    TempDir dir;
    const std::string path = dir.file("mixed.csv");
    write_text(path, header + row(3, 1, "Training") + "9," + pixel_list(2) + ",Training\n" + row(0, 2, "PublicTest") +
                         "3,1 2 3,Training\n" + row(6, 3, "PrivateTest") + "garbage\n");
    Fer2013Options options;
    options.skip_bad_rows = true;
    const Fer2013Dataset data = read_fer2013(path, options);
    CHECK(data.size() == 3);
    CHECK(data.skipped_rows == 3);
    CHECK(data.emotions == std::vector<int>{3, 0, 6});
    CHECK(data.rows == std::vector<std::size_t>{0, 2, 4});
    REQUIRE(data.skip_messages.size() == 3);
    CHECK(data.skip_messages[0] == path + ":3: emotion: expected an integer 0..6, got \"9\"");
    CHECK(data.skip_messages[1] == path + ":5: expected 2304 pixels, got 3");
    CHECK(data.skip_messages[2] == path + ":7: expected 3 fields (emotion,pixels,Usage), got 1");
    for (int r = 0; r < 3; ++r) CHECK(int(data.image(static_cast<std::size_t>(r))[100]) == pixel_value(r + 1, 100));
}

TEST_CASE("read_fer2013 stops after max_rows rows", "[io][fer2013]") {
    TempDir dir;
    const std::string path = dir.file("limit.csv");
    write_text(path, good_file() + "not even a row\n");
    Fer2013Options options;
    options.max_rows = 2;
    const Fer2013Dataset data = read_fer2013(path, options);
    CHECK(data.size() == 2);
    CHECK(data.emotions == std::vector<int>{3, 0});
    CHECK(data.pixels.size() == 2 * static_cast<std::size_t>(fer_image_pixels));
}

TEST_CASE("LineReader splits lines, strips CR and numbers them", "[io][line_reader]") {
    TempDir dir;
    const std::string path = dir.file("lines.txt.gz");
    std::string long_line(3 << 20, 'x');
    write_gzip(path, "a\r\n\nbc\n" + long_line + "\nlast");
    LineReader reader(path, std::size_t(4) << 20);
    std::string_view line;
    std::vector<std::string> lines;
    while (reader.next(line)) lines.emplace_back(line);
    REQUIRE(lines.size() == 5);
    CHECK(lines[0] == "a");
    CHECK(lines[1].empty());
    CHECK(lines[2] == "bc");
    CHECK(lines[3] == long_line);
    CHECK(lines[4] == "last");
    CHECK(reader.line_number() == 5);

    LineReader strict(path, 1000);
    REQUIRE(strict.next(line));
    REQUIRE(strict.next(line));
    REQUIRE(strict.next(line));
    CHECK_THROWS_WITH(strict.next(line), path + ":4: line longer than 1000 bytes");
}

TEST_CASE("read_fer2013 reads the shared 700-row sample", "[io][fer2013]") {
    const std::string path = std::string(DEEPCNN_SHARED_DIR) + "/data/fer2013_sample.csv";
    const Fer2013Dataset data = read_fer2013(path);
    CHECK(data.size() == 700);
    CHECK(data.skipped_rows == 0);
    // The README: row 0 is emotion 3, starting 208 128 68.
    CHECK(data.emotions[0] == 3);
    CHECK(int(data.image(0)[0]) == 208);
    CHECK(int(data.image(0)[1]) == 128);
    CHECK(int(data.image(0)[2]) == 68);
    std::size_t training = 0, public_test = 0, private_test = 0;
    for (Usage usage : data.usages) {
        training += usage == Usage::training;
        public_test += usage == Usage::public_test;
        private_test += usage == Usage::private_test;
    }
    CHECK(training == 490);
    CHECK(public_test == 105);
    CHECK(private_test == 105);
}

TEST_CASE("read_fer2013 reads CR-only line ends", "[io][fer2013]") {
    TempDir dir;
    const std::string path = dir.file("cr.csv");
    write_text(path, good_file("\r"));  // used to be one 20 KB line: "line longer than ..." once the file was large
    check_good(read_fer2013(path));
    write_gzip(path + ".gz", good_file("\r"));
    check_good(read_fer2013(path + ".gz"));
}

TEST_CASE("LineReader ends lines at LF, CRLF and a lone CR, also where a read ends between CR and LF",
          "[io][line_reader]") {
    TempDir dir;
    const std::string path = dir.file("mixed.txt");
    write_text(path, "a\rb\r\nc\n\rd\r\re");
    LineReader reader(path);
    std::string_view line;
    std::vector<std::string> lines;
    while (reader.next(line)) lines.emplace_back(line);
    CHECK(lines == std::vector<std::string>{"a", "b", "c", "", "d", "", "e"});

    // The first read fills the 1 MiB buffer and ends right after a CR: only the next read shows the LF that
    // makes it one CRLF line end rather than a CR followed by an empty LF line.
    const std::string boundary = dir.file("boundary.txt");
    write_text(boundary, std::string((std::size_t(1) << 20) - 1, 'x') + "\r\nnext\r");
    LineReader split(boundary);
    lines.clear();
    while (split.next(line)) lines.emplace_back(line);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].size() == (std::size_t(1) << 20) - 1);
    CHECK(lines[1] == "next");
}

TEST_CASE("read_fer2013 stops with cancelled when its cancellation flag is set", "[io][fer2013]") {
    TempDir dir;
    const std::string path = dir.file("good.csv");
    write_text(path, good_file());
    CancelFlag flag{0};
    Fer2013Options options;
    options.cancel = &flag;
    check_good(read_fer2013(path, options));
    flag = 2;
    CHECK_THROWS_AS(read_fer2013(path, options), cancelled);
    CHECK_THROWS_WITH(read_fer2013(path, options), "interrupted while reading " + path);
}

TEST_CASE("read_fer2013 escapes control characters of the data in its messages", "[io][fer2013]") {
    TempDir dir;
    const std::string path = dir.file("escape.csv");
    write_text(path, header + row(3, 1, "\x1b]2;owned\x07"));
    CHECK_THROWS_WITH(read_fer2013(path),
                      path + ":2: Usage: expected Training, PublicTest or PrivateTest, got \"\\x1B]2;owned\\x07\"");
}
