// examples/fer_common.hpp: what fer_train, fer_predict and fine_tune share: the metadata a FER model file carries
// (classes, normalisation, flip averaging), command-line helpers and main()'s exit codes and messages.
#pragma once

#include <deepcnn/data/augment.hpp>
#include <deepcnn/data/normalize.hpp>
#include <deepcnn/deepcnn.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fer {

// Exit codes of both programs.
constexpr int exit_ok = 0;
constexpr int exit_data_error = 1;
constexpr int exit_usage = 2;

// A bad command line: main prints the message and the usage, and exits with exit_usage.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The largest test-time shift a FER model or a command line may name: a tenth of a 48x48 face, the largest shift
// training's augmentation makes.
constexpr int max_tta_shift = 5;

// What a FER model file says about its inputs and outputs.
struct ModelInfo {
    std::vector<std::string> classes;  // label order
    std::vector<int> emotions;         // FER2013 emotion code of each class
    deepcnn::Normalization normalization;
    bool flip_averaging = true;
    int tta_shift = 0;  // test-time shifted views, in pixels (0: none; files before it have none)
    std::string net;

    deepcnn::TestTimeAugmentation tta() const { return {flip_averaging, tta_shift}; }
};

// "flip-averaged", "flip-averaged, shifts of 2 pixels (10 views)", "one view": test-time views in words.
inline std::string describe_views(const deepcnn::TestTimeAugmentation& tta) {
    if (tta.shift == 0) return tta.flip ? "flip-averaged" : "one view";
    return std::string(tta.flip ? "flip-averaged, " : "") + "shifts of " + std::to_string(tta.shift) +
           (tta.shift == 1 ? " pixel (" : " pixels (") + std::to_string(tta.views()) + " views)";
}

inline std::vector<std::string> split_text(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (;;) {
        const std::size_t end = text.find(separator, start);
        parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) return parts;
        start = end + 1;
    }
}

inline void store_model_info(const ModelInfo& info, deepcnn::ModelMetadata& meta) {
    std::string classes, emotions;
    for (std::size_t i = 0; i < info.classes.size(); ++i) {
        classes += (i ? "\n" : "") + info.classes[i];
        emotions += (i ? "," : "") + std::to_string(info.emotions[i]);
    }
    meta.text["classes"] = classes;
    meta.text["emotions"] = emotions;
    meta.text["net"] = info.net;
    meta.numbers["norm.mean"] = info.normalization.mean;
    meta.numbers["norm.std"] = info.normalization.stddev;
    meta.numbers["tta.flip"] = info.flip_averaging ? 1.0 : 0.0;
    if (info.tta_shift > 0) meta.numbers["tta.shift"] = info.tta_shift;  // absent: none, as in files before it
}

// Reads the FER fields of a model file's metadata; throws serialization_error naming `source` if one is
// missing or does not match the model's output size (unless `outputs` < 0).
inline ModelInfo read_model_info(const deepcnn::ModelMetadata& meta, int outputs, const std::string& source) {
    auto text = [&](const char* key) {
        auto it = meta.text.find(key);
        if (it == meta.text.end()) throw deepcnn::serialization_error(source + ": not a FER model (no '" + key + "')");
        return it->second;
    };
    auto number = [&](const char* key) {
        auto it = meta.numbers.find(key);
        if (it == meta.numbers.end()) throw deepcnn::serialization_error(source + ": not a FER model (no '" + key + "')");
        return it->second;
    };
    ModelInfo info;
    info.classes = split_text(text("classes"), '\n');
    for (const std::string& code : split_text(text("emotions"), ',')) {
        char* end = nullptr;
        const long value = std::strtol(code.c_str(), &end, 10);
        if (code.empty() || *end != '\0' || value < 0 || value > 6) {
            throw deepcnn::serialization_error(source + ": bad emotion code '" + code + "'");
        }
        info.emotions.push_back(static_cast<int>(value));
    }
    info.net = text("net");
    info.normalization.mean = number("norm.mean");
    info.normalization.stddev = number("norm.std");
    info.flip_averaging = number("tta.flip") != 0.0;
    const auto shift = meta.numbers.find("tta.shift");
    if (shift != meta.numbers.end()) {
        if (!(shift->second >= 0.0 && shift->second <= max_tta_shift) || shift->second != std::floor(shift->second)) {
            throw deepcnn::serialization_error(source + ": bad 'tta.shift' " + std::to_string(shift->second) +
                                               " (expected whole pixels, 0 to " + std::to_string(max_tta_shift) + ")");
        }
        info.tta_shift = static_cast<int>(shift->second);
    }
    if ((outputs >= 0 && static_cast<int>(info.classes.size()) != outputs) || info.emotions.size() != info.classes.size()) {
        throw deepcnn::serialization_error(source + ": " + std::to_string(info.classes.size()) +
                                           " class names for a model with " + std::to_string(outputs) + " outputs");
    }
    if (!(info.normalization.stddev > 0.0)) {
        throw deepcnn::serialization_error(source + ": normalisation std must be > 0");
    }
    return info;
}

// Flushes standard output and reports whether everything written to it arrived: empty if so, otherwise why not
// ("No space left on device" for `> /dev/full` or a full disk). A program that printed its results must exit 1 then,
// not 0: a redirected output cut short is a lost result.
inline std::string standard_output_error() {
    errno = 0;
    std::cout.flush();
    const bool flushed = std::fflush(stdout) == 0;
    const int code = errno;
    if (flushed && !std::ferror(stdout) && std::cout.good()) return std::string();
    return code != 0 ? std::strerror(code) : "write error";
}

// Strict number parsing for options: the whole text must be a number in [lo, hi].
inline long parse_integer(const std::string& option, const std::string& text, long lo, long hi) {
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || value < lo || value > hi) {
        throw usage_error(option + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                          "], got '" + text + "'");
    }
    return value;
}

// The command line, one option at a time: `while (args.next()) if (args.is("--data")) o.data = args.value(); ...`.
class Arguments {
public:
    Arguments(int argc, char** argv) : argc_(argc), argv_(argv) {}
    bool next() { return ++i_ < argc_ && (arg_ = argv_[i_], true); }
    const std::string& arg() const { return arg_; }
    bool is(const char* name) const { return arg_ == name; }
    // The option's value, the next argument; usage_error if there is none.
    std::string value() {
        if (i_ + 1 >= argc_) throw usage_error(arg_ + ": missing value");
        return argv_[++i_];
    }
    // A value that must be on or off.
    bool on_off() {
        const std::string v = value();
        if (v != "on" && v != "off") throw usage_error(arg_ + ": expected on or off, got '" + v + "'");
        return v == "on";
    }

private:
    int argc_;
    char** argv_;
    int i_ = 0;
    std::string arg_;
};

// main() of the FER programs: `parse` reads the command line (a usage_error or config_error prints it with the usage
// and exits 2), `run` does the work and returns the exit code; during it a config_error exits 2, `on_cancel` handles
// a deepcnn::cancelled (if given) and any other exception exits 1; every message is escaped (printable). A standard
// output that lost data (a full disk) turns success into exit 1.
template <class Parse, class Run, class OnCancel>
int run_program(const char* name, const char* usage, Parse&& parse, Run&& run, OnCancel&& on_cancel) {
    const auto report = [&](const char* kind, const std::exception& e) {
        std::cerr << name << ": " << kind << deepcnn::printable(e.what()) << "\n";
    };
    decltype(parse()) options;
    try {
        options = parse();
    } catch (const usage_error& e) {
        report("", e);
        std::cerr << usage;
        return exit_usage;
    } catch (const deepcnn::config_error& e) {
        report("", e);
        std::cerr << usage;
        return exit_usage;
    }
    int code = exit_data_error;
    try {
        code = run(options);
    } catch (const deepcnn::cancelled& e) {
        code = on_cancel(e);
    } catch (const deepcnn::config_error& e) {
        report("", e);
        code = exit_usage;
    } catch (const std::exception& e) {
        report("error: ", e);
        code = exit_data_error;
    }
    const std::string lost = standard_output_error();
    if (!lost.empty()) {
        std::cerr << name << ": error: cannot write standard output: " << lost << "\n";
        if (code == exit_ok) code = exit_data_error;
    }
    return code;
}

// As above, a cancelled run being an error (exit 1) like any other.
template <class Parse, class Run>
int run_program(const char* name, const char* usage, Parse&& parse, Run&& run) {
    return run_program(name, usage, std::forward<Parse>(parse), std::forward<Run>(run), [&](const deepcnn::cancelled& e) {
        std::cerr << name << ": error: " << deepcnn::printable(e.what()) << "\n";
        return exit_data_error;
    });
}

// --average: "off" or a decay in (0, 1).
inline double parse_average(const std::string& arg, const std::string& v) {
    char* end = nullptr;
    const double decay = v == "off" ? 0.0 : std::strtod(v.c_str(), &end);
    if (v != "off" && (v.empty() || *end != '\0' || !(decay > 0.0 && decay < 1.0))) {
        throw usage_error(arg + ": expected off or a decay between 0 and 1 (such as 0.999), got '" + v + "'");
    }
    return decay;
}

// --tta-shift: "auto" (-1) or whole pixels from 0 to max_tta_shift.
inline int parse_tta_shift(const std::string& arg, const std::string& v) {
    if (v == "auto") return -1;
    char* end = nullptr;
    const long pixels = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || pixels < 0 || pixels > max_tta_shift) {
        throw usage_error(arg + ": expected auto or whole pixels from 0 to " + std::to_string(max_tta_shift) + ", got '" +
                          v + "'");
    }
    return static_cast<int>(pixels);
}

// A fraction: a number in [0, 1) or, with one_included, [0, 1].
inline double parse_fraction(const std::string& option, const std::string& text, bool one_included) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(value >= 0.0) || !(one_included ? value <= 1.0 : value < 1.0)) {
        throw usage_error(option + ": expected a number in [0, 1" + (one_included ? "]" : ")") + ", got '" + text + "'");
    }
    return value;
}

inline double parse_positive(const std::string& option, const std::string& text) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(value > 0.0) || !std::isfinite(value)) {
        throw usage_error(option + ": expected a number > 0, got '" + text + "'");
    }
    return value;
}

}  // namespace fer
