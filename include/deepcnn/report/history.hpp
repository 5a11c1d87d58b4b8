// deepcnn/report/history.hpp: the per-epoch training record and history.csv (write, and read back for --resume).
// The curves picture is drawn from the same records in plots.hpp.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../io/atomic_file.hpp"

namespace deepcnn {

// One epoch of training. Accuracies are fractions in [0, 1]. A figure that was not measured (no validation set)
// is NaN: it is written as "nan" and left out of the curves.
struct EpochRecord {
    int epoch = 0;                 // 1-based epoch number
    double train_loss = NAN;       // mean training loss over the epoch
    double train_accuracy = NAN;   // training accuracy over the epoch (with augmentation and dropout active)
    double val_loss = NAN;         // validation loss after the epoch
    double val_accuracy = NAN;     // validation accuracy after the epoch
    double learning_rate = NAN;    // learning rate at the end of the epoch
    double seconds = NAN;          // wall time of the epoch, validation included
    double images_per_second = NAN;  // training images per second
};

// The header line of history.csv, without the newline.
inline const char* history_csv_header() {
    return "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,images_per_second";
}

namespace detail {

// printf-formats a finite value; "nan", "inf" or "-inf" otherwise (pandas and strtod read these back).
inline std::string csv_number(double v, const char* format) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

}  // namespace detail

// history.csv as text: the header, then one row per record in the given order, '\n' line ends. Losses and
// accuracies have 6 decimals, the learning rate 6 significant digits, seconds 3 decimals, images/s 1 decimal:
//   epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,images_per_second
//   1,0.912345,0.561234,0.801234,0.640000,0.001,61.250,278.4
inline std::string history_csv(const std::vector<EpochRecord>& history) {
    std::string out = history_csv_header();
    out += '\n';
    for (const EpochRecord& r : history) {
        out += std::to_string(r.epoch);
        out += ',' + detail::csv_number(r.train_loss, "%.6f");
        out += ',' + detail::csv_number(r.train_accuracy, "%.6f");
        out += ',' + detail::csv_number(r.val_loss, "%.6f");
        out += ',' + detail::csv_number(r.val_accuracy, "%.6f");
        out += ',' + detail::csv_number(r.learning_rate, "%.6g");
        out += ',' + detail::csv_number(r.seconds, "%.3f");
        out += ',' + detail::csv_number(r.images_per_second, "%.1f");
        out += '\n';
    }
    return out;
}

// Writes history_csv(history) to `path` atomically (io_error on failure). Call it after every epoch: the file is
// always complete.
inline void write_history_csv(const std::string& path, const std::vector<EpochRecord>& history) {
    write_file_atomically(path, history_csv(history));
}

// Parses text written by history_csv; `source` names it in errors. Throws data_error
// "SOURCE:LINE: what was wrong" for a wrong header, a row without 8 fields or a field that is not a number.
// Accepts CRLF line ends and ignores blank lines.
inline std::vector<EpochRecord> parse_history_csv(const std::string& text, const std::string& source = "history.csv") {
    std::vector<EpochRecord> out;
    std::istringstream in(text);
    std::string line;
    int line_no = 0;
    bool header_seen = false;
    while (std::getline(in, line)) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        const std::string where = source + ":" + std::to_string(line_no) + ": ";
        if (!header_seen) {
            if (line != history_csv_header()) {
                throw data_error(where + "expected header '" + history_csv_header() + "', got '" + line + "'");
            }
            header_seen = true;
            continue;
        }
        std::vector<std::string> fields;
        std::size_t start = 0;
        while (true) {
            const std::size_t comma = line.find(',', start);
            fields.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
        if (fields.size() != 8) {
            throw data_error(where + "expected 8 fields, got " + std::to_string(fields.size()));
        }
        double values[8];
        for (std::size_t i = 0; i < 8; ++i) {
            const char* begin = fields[i].c_str();
            char* end = nullptr;
            values[i] = std::strtod(begin, &end);
            if (fields[i].empty() || *end != '\0') {
                throw data_error(where + "field " + std::to_string(i + 1) + ": expected a number, got '" + fields[i] +
                                 "'");
            }
        }
        if (values[0] != std::floor(values[0]) || values[0] < 0 || values[0] > 1e9) {
            throw data_error(where + "field 1: expected an epoch number, got '" + fields[0] + "'");
        }
        EpochRecord r;
        r.epoch = static_cast<int>(values[0]);
        r.train_loss = values[1];
        r.train_accuracy = values[2];
        r.val_loss = values[3];
        r.val_accuracy = values[4];
        r.learning_rate = values[5];
        r.seconds = values[6];
        r.images_per_second = values[7];
        out.push_back(r);
    }
    if (!header_seen) throw data_error(source + ": empty file, expected header '" + history_csv_header() + "'");
    return out;
}

// Reads a history.csv written by write_history_csv (to continue it after --resume). io_error when the file
// cannot be read; data_error as parse_history_csv, naming the path.
inline std::vector<EpochRecord> read_history_csv(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw io_error("cannot open '" + path + "' for reading");
    std::ostringstream text;
    text << file.rdbuf();
    if (file.bad()) throw io_error("cannot read '" + path + "'");
    return parse_history_csv(text.str(), path);
}

}  // namespace deepcnn
