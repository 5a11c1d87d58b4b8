// tests/fuzz/fuzz_fer2013_csv.cpp: libFuzzer target for the FER2013 CSV reader (read_fer2013 over LineReader).
// The first input byte chooses how the rest is read: bit 0 set gzip-compresses it with zlib first (otherwise it
// is written as is, so raw gzip streams, corrupt ones included, are fuzzed too), bit 1 sets skip_bad_rows, and
// bits 2-3 give max_rows (0: all). The rest goes to a temporary file, since read_fer2013 reads paths. The only
// allowed outcomes are a dataset or a deepcnn::error; anything else escaping or a sanitizer report is a finding.
// The same file then goes through LineReader alone, with a line limit picked by bits 4-5, and its lines must be
// exactly those of a plain reference split of the text at LF, CRLF and lone CR (or its error the reference's
// first over-long line), which checks the line handling itself, CR-only endings and CRs at buffer ends included.
#include <deepcnn/io/fer2013.hpp>
#include <deepcnn/io/line_reader.hpp>

#include <unistd.h>
#include <zlib.h>

#include "scratch_file.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

// gzip (RFC 1952) encoding of `size` bytes at `data`.
std::string gzip(const std::uint8_t* data, std::size_t size) {
    z_stream stream{};
    if (deflateInit2(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error("deflateInit2 failed");
    }
    std::string out(deflateBound(&stream, static_cast<uLong>(size)), '\0');
    stream.next_in = const_cast<Bytef*>(data);
    stream.avail_in = static_cast<uInt>(size);
    stream.next_out = reinterpret_cast<Bytef*>(&out[0]);
    stream.avail_out = static_cast<uInt>(out.size());
    const int status = deflate(&stream, Z_FINISH);
    deflateEnd(&stream);
    if (status != Z_STREAM_END) throw std::runtime_error("deflate failed");
    out.resize(stream.total_out);
    return out;
}

const std::string& scratch_path() { return deepcnn_fuzz::scratch_path("fer2013", "csv"); }

void write_file(const std::string& path, const char* data, std::size_t size) {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) throw std::runtime_error("cannot write " + path);
    const std::size_t written = size > 0 ? std::fwrite(data, 1, size, file) : 0;
    if (std::fclose(file) != 0 || written != size) throw std::runtime_error("cannot write " + path);
}

// The lines of `text` split at "\n", "\r\n" and a lone "\r"; a last line without a terminator counts, an empty
// text has none.
std::vector<std::string> reference_lines(std::string_view text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\n' && text[i] != '\r') continue;
        lines.emplace_back(text.substr(start, i - start));
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
        start = i + 1;
    }
    if (start < text.size()) lines.emplace_back(text.substr(start));
    return lines;
}

// LineReader over `path` (whose text is `text`) with a line limit of `max_line` agrees with reference_lines.
void check_line_reader(const std::string& path, std::string_view text, std::size_t max_line) {
    const std::vector<std::string> expected = reference_lines(text);
    std::size_t first_too_long = expected.size();
    for (std::size_t i = 0; i < expected.size() && first_too_long == expected.size(); ++i) {
        if (expected[i].size() > max_line) first_too_long = i;
    }
    deepcnn::LineReader reader(path, max_line);
    std::string_view line;
    std::size_t count = 0;
    try {
        while (reader.next(line)) {
            if (count >= first_too_long || count >= expected.size() || line != expected[count]) std::abort();
            ++count;
            if (reader.line_number() != count) std::abort();
        }
    } catch (const deepcnn::data_error& e) {
        const std::string wanted = ":" + std::to_string(first_too_long + 1) + ": line longer than";
        if (count != first_too_long || std::string(e.what()).find(wanted) == std::string::npos) std::abort();
        return;
    }
    if (count != expected.size() || first_too_long != expected.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t mode = data[0];
    const std::uint8_t* body = data + 1;
    const std::size_t body_size = size - 1;
    const std::string& path = scratch_path();
    if (mode & 1U) {
        const std::string compressed = gzip(body, body_size);
        write_file(path, compressed.data(), compressed.size());
    } else {
        write_file(path, reinterpret_cast<const char*>(body), body_size);
    }
    deepcnn::Fer2013Options options;
    options.skip_bad_rows = (mode & 2U) != 0;
    options.max_rows = (mode >> 2) & 3U;
    try {
        const deepcnn::Fer2013Dataset dataset = deepcnn::read_fer2013(path, options);
        if (dataset.pixels.size() != dataset.size() * deepcnn::fer_image_pixels || dataset.rows.size() != dataset.size() ||
            dataset.usages.size() != dataset.size() || (options.max_rows != 0 && dataset.size() > options.max_rows)) {
            std::abort();
        }
        for (const int emotion : dataset.emotions) {
            if (emotion < 0 || emotion >= deepcnn::fer_emotion_count) std::abort();
        }
    } catch (const deepcnn::error&) {
    }
    // Raw bytes that start like gzip are decompressed by the reader (and may be corrupt): no plain reference then.
    const bool raw_gzip = !(mode & 1U) && body_size >= 2 && body[0] == 0x1f && body[1] == 0x8b;
    if (!raw_gzip) {
        static constexpr std::size_t limits[4] = {deepcnn::LineReader::default_max_line, 1, 40, 1000};
        check_line_reader(path, std::string_view(reinterpret_cast<const char*>(body), body_size), limits[(mode >> 4) & 3U]);
    }
    return 0;
}
