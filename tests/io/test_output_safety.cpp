// tests/io/test_output_safety.cpp: writing results safely (issue 25): temporaries never follow a planted symlink,
// one lock holder per output directory (named to the second), directories created all or nothing, the space
// replaced files give back, bounded file reads, and control characters escaped in messages.
#include <catch2/catch.hpp>

#include <deepcnn/io/atomic_file.hpp>
#include <deepcnn/io/output_directory.hpp>
#include <deepcnn/io/read_file.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "temp_files.hpp"

using namespace deepcnn;
using deepcnn_test::TempDir;
using deepcnn_test::write_text;

namespace {

std::string contents(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool is_symlink(const std::string& path) {
    struct stat info {};
    return ::lstat(path.c_str(), &info) == 0 && S_ISLNK(info.st_mode);
}

}  // namespace

TEST_CASE("write_file_atomically never writes through a symlink planted as its temporary", "[io][atomic_file]") {
    TempDir dir;
    const std::string victim = dir.file("victim"), path = dir.file("model.dcnn");
    write_text(victim, "precious");
    REQUIRE(::symlink(victim.c_str(), (path + ".tmp").c_str()) == 0);
    write_file_atomically(path, std::string("new model"));
    CHECK(contents(victim) == "precious");  // opened with O_TRUNC and following links, it became "new model"
    CHECK(contents(path) == "new model");
    CHECK_FALSE(is_symlink(path));
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

    // A symlink at the path itself is replaced by the new file; its target is untouched.
    const std::string report = dir.file("report.json");
    REQUIRE(::symlink(victim.c_str(), report.c_str()) == 0);
    write_file_atomically(report, std::string("{}"));
    CHECK(contents(victim) == "precious");
    CHECK_FALSE(is_symlink(report));
    CHECK(contents(report) == "{}");
}

TEST_CASE("DirectoryLock admits one holder and names it to the next", "[io][output_directory]") {
    TempDir dir;
    const std::string path = dir.file("");
    {
        const DirectoryLock first(path);
        char host[256] = {};
        ::gethostname(host, sizeof host - 1);
        // flock conflicts between two open file descriptions, in one process as between two.
        CHECK_THROWS_WITH(DirectoryLock(path), Catch::Contains("is in use by another run (pid " +
                                                               std::to_string(::getpid()) + " on host " + host + ")"));
        CHECK_THROWS_AS(DirectoryLock(path), io_error);
    }
    const DirectoryLock again(path);  // released with its holder
    CHECK(std::filesystem::exists(dir.file(".deepcnn.lock")));
}

TEST_CASE("create_output_directory leaves nothing behind when it fails", "[io][output_directory]") {
    TempDir dir;
    std::string deep = dir.file("top");
    while (deep.size() < 5000) deep += "/d";
    CHECK_THROWS_WITH(create_output_directory(deep), Catch::Contains("cannot create output directory (File name too long)"));
    CHECK_FALSE(std::filesystem::exists(dir.file("top")));  // 2,045 nested directories were left

    write_text(dir.file("file"), "x");
    CHECK_THROWS_WITH(create_output_directory(dir.file("made/../file/sub")), Catch::Contains("Not a directory"));
    CHECK_FALSE(std::filesystem::exists(dir.file("made")));  // created on the way, removed again

    create_output_directory(dir.file("a/b/c"));
    CHECK(std::filesystem::is_directory(dir.file("a/b/c")));
}

TEST_CASE("existing_bytes counts the regular files a run would replace", "[io][output_directory]") {
    TempDir dir;
    write_text(dir.file("model.dcnn"), std::string(1000, 'm'));
    write_text(dir.file("checkpoint.dcnn"), std::string(3000, 'c'));
    REQUIRE(::symlink(dir.file("model.dcnn").c_str(), dir.file("link.dcnn").c_str()) == 0);
    CHECK(existing_bytes(dir.file(""), {"model.dcnn", "checkpoint.dcnn", "missing.dcnn", "link.dcnn"}) == 4000);
}

TEST_CASE("read_file_bounded refuses directories and files past the bound before reading them", "[io][read_file]") {
    TempDir dir;
    CHECK_THROWS_WITH(read_file_bounded(dir.file(""), 100, "image file"), Catch::EndsWith(": Is a directory"));
    write_text(dir.file("big"), std::string(101, 'b'));
    CHECK_THROWS_WITH(read_file_bounded(dir.file("big"), 100, "image file"),
                      dir.file("big") + ": image file larger than 100 bytes");
    CHECK(read_file_bounded(dir.file("big"), 101, "image file").size() == 101);
    CHECK_THROWS_WITH(read_file_bounded("/dev/zero", 4096, "image file"), "/dev/zero: image file larger than 4096 bytes");
}

TEST_CASE("printable escapes control characters and keeps UTF-8", "[io][printable]") {
    CHECK(printable("\x1b]2;owned\x07 name\nline\r\tx\x7f") == "\\x1B]2;owned\\x07 name\\nline\\r\\tx\\x7F");
    CHECK(printable(printable("a\x1b")) == printable("a\x1b"));  // a message escaped twice reads the same
    CHECK(printable("caf\xc3\xa9 happiness") == "caf\xc3\xa9 happiness");
}
