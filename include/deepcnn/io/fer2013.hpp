// deepcnn/io/fer2013.hpp: read_fer2013(), a streaming, validating reader of the FER2013 CSV
// (`emotion,pixels,Usage`, 48x48 grey pixels per row), plain or gzip-compressed, into a Fer2013Dataset.
// Line reading and decompression are delegated to LineReader; class selection, splits and tensors live in
// deepcnn/data/.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "line_reader.hpp"

namespace deepcnn {

constexpr int fer_image_side = 48;                                 // H = W = 48
constexpr int fer_image_pixels = fer_image_side * fer_image_side;  // 2304
constexpr int fer_emotion_count = 7;

// Emotion names by code, as the tutorial prints them: 0 anger, 1 disgust, 2 fear, 3 happiness, 4 sadness,
// 5 surprise, 6 neutral.
inline const std::array<std::string, fer_emotion_count>& fer_emotion_names() {
    static const std::array<std::string, fer_emotion_count> names = {"anger",   "disgust",  "fear",   "happiness",
                                                                     "sadness", "surprise", "neutral"};
    return names;
}

// The Usage column: Training trains, PublicTest validates (model selection), PrivateTest tests.
enum class Usage : std::uint8_t { training = 0, public_test = 1, private_test = 2 };

// "Training", "PublicTest" or "PrivateTest", as written in the file.
inline const char* usage_name(Usage usage) {
    switch (usage) {
        case Usage::training: return "Training";
        case Usage::public_test: return "PublicTest";
        case Usage::private_test: return "PrivateTest";
    }
    return "?";
}

struct Fer2013Options {
    // Skip malformed data rows (and count them) instead of throwing. A bad header always throws.
    bool skip_bad_rows = false;
    // Stop after this many accepted rows; 0 reads the whole file.
    std::size_t max_rows = 0;
    // If given, reading throws cancelled soon after the flag is set (LineReader polls it per 1 MiB read).
    const CancelFlag* cancel = nullptr;
};

// The rows of a FER2013 file, in file order.
struct Fer2013Dataset {
    std::string path;
    std::vector<std::uint8_t> pixels;  // (rows, 48 * 48), row-major 48x48 per row, 0..255
    std::vector<int> emotions;         // (rows), 0..6
    std::vector<Usage> usages;         // (rows)
    std::vector<std::size_t> rows;     // (rows), 0-based index among the file's non-empty data lines
    std::size_t skipped_rows = 0;      // malformed rows skipped under skip_bad_rows
    // The messages of the first skipped rows (at most max_skip_messages), "PATH:LINE: what was wrong".
    std::vector<std::string> skip_messages;
    static constexpr std::size_t max_skip_messages = 10;

    std::size_t size() const { return emotions.size(); }
    bool empty() const { return emotions.empty(); }
    // The 2304 pixels of row `i`.
    const std::uint8_t* image(std::size_t i) const { return pixels.data() + i * fer_image_pixels; }
};

namespace detail {

inline bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

inline std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

// `s` quoted for an error message, cut to its first 40 bytes, control characters escaped (printable()).
inline std::string quoted(std::string_view s) {
    constexpr std::size_t limit = 40;
    if (s.size() > limit) return "\"" + printable(std::string(s.substr(0, limit))) + "...\"";
    return "\"" + printable(std::string(s)) + "\"";
}

// Parses one data row into the given slots; returns an empty string on success, otherwise what was wrong.
// `pixels` receives 2304 values (only when the row is valid is every one written).
inline std::string parse_fer_row(std::string_view line, int& emotion, std::uint8_t* pixels, Usage& usage) {
    const std::size_t comma1 = line.find(',');
    const std::size_t comma2 = comma1 == std::string_view::npos ? comma1 : line.find(',', comma1 + 1);
    if (comma2 == std::string_view::npos || line.find(',', comma2 + 1) != std::string_view::npos) {
        std::size_t fields = 1;
        for (char c : line) fields += c == ',' ? 1 : 0;
        return "expected 3 fields (emotion,pixels,Usage), got " + std::to_string(fields);
    }

    const std::string_view emotion_field = trim(line.substr(0, comma1));
    if (emotion_field.size() != 1 || emotion_field[0] < '0' || emotion_field[0] > '6') {
        return "emotion: expected an integer 0..6, got " + quoted(emotion_field);
    }
    emotion = emotion_field[0] - '0';

    const std::string_view usage_field = trim(line.substr(comma2 + 1));
    if (usage_field == "Training") {
        usage = Usage::training;
    } else if (usage_field == "PublicTest") {
        usage = Usage::public_test;
    } else if (usage_field == "PrivateTest") {
        usage = Usage::private_test;
    } else {
        return "Usage: expected Training, PublicTest or PrivateTest, got " + quoted(usage_field);
    }

    // The hot loop: about 83 million pixels in the full file.
    const char* p = line.data() + comma1 + 1;
    const char* const end = line.data() + comma2;
    std::size_t count = 0;
    for (;;) {
        while (p != end && (*p == ' ' || *p == '\t')) ++p;
        if (p == end) break;
        const char* const token = p;
        unsigned value = 0;
        while (p != end && static_cast<unsigned>(*p - '0') < 10U && value <= 255U) {
            value = value * 10U + static_cast<unsigned>(*p - '0');
            ++p;
        }
        if (p == token || value > 255U || (p != end && *p != ' ' && *p != '\t')) {
            while (p != end && *p != ' ' && *p != '\t') ++p;
            return "pixel " + std::to_string(count + 1) + ": expected an integer 0..255, got " +
                   quoted(std::string_view(token, static_cast<std::size_t>(p - token)));
        }
        if (count < static_cast<std::size_t>(fer_image_pixels)) pixels[count] = static_cast<std::uint8_t>(value);
        ++count;
    }
    if (count != static_cast<std::size_t>(fer_image_pixels)) {
        return "expected " + std::to_string(fer_image_pixels) + " pixels, got " + std::to_string(count);
    }
    return std::string();
}

}  // namespace detail

// Reads a FER2013 CSV (`.csv` or `.csv.gz`) with the header `emotion,pixels,Usage`.
// Each data row must have exactly three fields: emotion 0..6, exactly 2304 integers 0..255 separated by
// spaces, and Usage Training, PublicTest or PrivateTest. CRLF line ends, blanks around fields and trailing
// blanks are accepted; empty lines are ignored (as pandas does). Lines may end in LF, CRLF or a lone CR.
// Throws io_error if the file cannot be opened or read, and data_error "PATH:LINE: what was wrong" (LINE
// 1-based, the header is line 1) for a malformed header, or for a malformed row unless skip_bad_rows is set;
// cancelled when options.cancel is set while reading.
inline Fer2013Dataset read_fer2013(const std::string& path, const Fer2013Options& options = {}) {
    static const std::string expected_header = "emotion,pixels,Usage";
    LineReader reader(path, LineReader::default_max_line, options.cancel);
    Fer2013Dataset data;
    data.path = path;

    std::string_view line;
    if (!reader.next(line)) {
        throw data_error(path + ":1: empty file, expected the header \"" + expected_header + "\"");
    }
    std::string_view header = detail::trim(line);
    if (header.substr(0, 3) == "\xEF\xBB\xBF") header.remove_prefix(3);  // a UTF-8 byte-order mark
    if (header != expected_header) {
        throw data_error(path + ":1: expected the header \"" + expected_header + "\", got " + detail::quoted(header));
    }

    std::size_t data_row = 0;  // index of the next non-empty data line
    while ((options.max_rows == 0 || data.size() < options.max_rows) && reader.next(line)) {
        if (detail::trim(line).empty()) continue;
        const std::size_t row = data_row++;
        const std::size_t offset = data.pixels.size();
        data.pixels.resize(offset + fer_image_pixels);
        int emotion = 0;
        Usage usage = Usage::training;
        const std::string problem = detail::parse_fer_row(line, emotion, data.pixels.data() + offset, usage);
        if (!problem.empty()) {
            data.pixels.resize(offset);
            std::string message = path + ":" + std::to_string(reader.line_number()) + ": " + problem;
            if (!options.skip_bad_rows) throw data_error(message);
            ++data.skipped_rows;
            if (data.skip_messages.size() < Fer2013Dataset::max_skip_messages) {
                data.skip_messages.push_back(std::move(message));
            }
            continue;
        }
        data.emotions.push_back(emotion);
        data.usages.push_back(usage);
        data.rows.push_back(row);
    }
    return data;
}

}  // namespace deepcnn
