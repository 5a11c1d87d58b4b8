// examples/fer_predict.cpp: classifies face images (PNG / JPEG / BMP) with a model saved by fer_train (a Sequential
// or a Graph), or evaluates a FER2013 CSV's rows, printing labels, class probabilities, accuracy and the confusion
// matrix.
#include "fer_common.hpp"

#include <deepcnn/data/classes.hpp>
#include <deepcnn/data/split.hpp>
#include <deepcnn/deepcnn.hpp>
#include <deepcnn/io/fer2013.hpp>
#include <deepcnn/io/image.hpp>
#include <deepcnn/report/json.hpp>
#include <deepcnn/report/metrics.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <variant>
#include <vector>

namespace {

using namespace deepcnn;

const char* const usage_text =
    "usage: fer_predict --model FILE [--json] [--tta on|off] [--tta-shift N] IMAGE...\n"
    "       fer_predict --model FILE --csv PATH [--usage PrivateTest|PublicTest|Training|all] [--skip-bad-rows]\n"
    "                   [--tta on|off] [--tta-shift N]\n"
    "       fer_predict --model FILE --info\n"
    "Prints each image's predicted emotion and every class probability (--json: the same as JSON), or a CSV\n"
    "split's accuracy and confusion matrix. Images may be any size and colour; they are converted to grey and\n"
    "resampled to 48x48. --info prints the model's summary, classes, normalisation and a CRC-32 of its\n"
    "weights. An image that cannot be read is reported and the others are still classified.\n"
    "--tta on averages each face's probabilities with its mirror image's, --tta-shift N (0 to 5) with copies\n"
    "moved N pixels each way too (5 or 10 views); both default to what the model file says fer_train chose.\n"
    "--tta off predicts each face alone (one view; only the shifts too if --tta-shift is given).\n"
    "Exit codes: 0 success, 1 data or file error (any image, or standard output), 2 bad command line.\n";

struct Options {
    std::string model;
    std::string csv;
    std::string usage = "PrivateTest";
    bool json = false;
    bool skip_bad_rows = false;
    bool info = false;
    int tta = -1;        // -1: as the model file says
    int tta_shift = -1;  // -1: as the model file says
    std::vector<std::string> images;
};

Options parse_options(int argc, char** argv) {
    Options o;
    for (fer::Arguments a(argc, argv); a.next();) {
        if (a.is("--model")) o.model = a.value();
        else if (a.is("--csv")) o.csv = a.value();
        else if (a.is("--usage")) o.usage = a.value();
        else if (a.is("--json")) o.json = true;
        else if (a.is("--skip-bad-rows")) o.skip_bad_rows = true;
        else if (a.is("--info")) o.info = true;
        else if (a.is("--tta")) o.tta = a.on_off() ? 1 : 0;
        else if (a.is("--tta-shift")) o.tta_shift = static_cast<int>(fer::parse_integer(a.arg(), a.value(), 0, fer::max_tta_shift));
        else if (a.is("--help") || a.is("-h")) { std::cout << usage_text; std::exit(fer::exit_ok); }
        else if (!a.arg().empty() && a.arg()[0] == '-') throw fer::usage_error("unknown option '" + a.arg() + "'");
        else o.images.push_back(a.arg());
    }
    if (o.model.empty()) throw fer::usage_error("--model FILE is required");
    if (o.info) {
        if (!o.csv.empty() || !o.images.empty()) throw fer::usage_error("--info takes no images and no --csv");
        return o;
    }
    if (o.csv.empty() && o.images.empty()) throw fer::usage_error("give IMAGE files or --csv PATH");
    if (!o.csv.empty() && !o.images.empty()) throw fer::usage_error("give either IMAGE files or --csv, not both");
    if (o.usage != "PrivateTest" && o.usage != "PublicTest" && o.usage != "Training" && o.usage != "all") {
        throw fer::usage_error("--usage: expected PrivateTest, PublicTest, Training or all, got '" + o.usage + "'");
    }
    return o;
}

// The test-time views: the model file's choice unless the command line overrides it (--tta off: one view, or
// only the shifts --tta-shift names).
TestTimeAugmentation views(const fer::ModelInfo& info, const Options& o) {
    TestTimeAugmentation tta = info.tta();
    if (o.tta == 0) tta = {false, 0};
    if (o.tta == 1) tta.flip = true;
    if (o.tta_shift >= 0) tta.shift = o.tta_shift;
    return tta;
}

// Classifies every image that loads; one that does not is reported on stderr (and makes the exit code 1) without
// costing the others their results.
template <class Model>
int classify_images(Model& model, const fer::ModelInfo& info, Options o) {
    std::vector<std::vector<float>> faces;
    std::vector<std::string> loaded;
    int failed = 0;
    for (const std::string& path : o.images) {
        try {
            faces.push_back(load_face_image(path));
            loaded.push_back(path);
        } catch (const deepcnn::error& e) {
            std::cerr << "fer_predict: error: " << printable(e.what()) << "\n";
            ++failed;
        }
    }
    o.images = loaded;
    const int status = failed > 0 ? fer::exit_data_error : fer::exit_ok;
    if (o.images.empty()) return status;
    Tensor<float> images(Shape(static_cast<int>(o.images.size()), 1, 48, 48));
    for (std::size_t i = 0; i < faces.size(); ++i) std::copy(faces[i].begin(), faces[i].end(), images.sample(static_cast<int>(i)));
    normalize(images, info.normalization);
    const Tensor<float> probabilities = predict_probabilities(model, images, views(info, o));
    const std::vector<int> predicted = argmax_rows(probabilities);
    const std::size_t K = info.classes.size();
    if (o.json) {
        std::string out = "[";
        for (std::size_t i = 0; i < o.images.size(); ++i) {
            out += i ? ",\n " : "";
            out += "{\"image\": " + json_quote(o.images[i]) + ", \"label\": " +
                   json_quote(info.classes[static_cast<std::size_t>(predicted[i])]) + ", \"probabilities\": {";
            for (std::size_t k = 0; k < K; ++k) {
                out += (k ? ", " : "") + json_quote(info.classes[k]) + ": " +
                       json_number(probabilities.sample(static_cast<int>(i))[k]);
            }
            out += "}}";
        }
        std::cout << out << "]\n";
        return status;
    }
    for (std::size_t i = 0; i < o.images.size(); ++i) {
        std::printf("%s: %s", printable(o.images[i]).c_str(), info.classes[static_cast<std::size_t>(predicted[i])].c_str());
        for (std::size_t k = 0; k < K; ++k) {
            std::printf("  %s %.3f", info.classes[k].c_str(), double(probabilities.sample(static_cast<int>(i))[k]));
        }
        std::printf("\n");
    }
    return status;
}

// The model's summary and what fer_train stored, plus a CRC-32 over every parameter and buffer (in file order),
// which tells two models' weights apart or shows them bit-identical.
template <class Model>
int print_info(Model& model, const fer::ModelInfo& info, const ModelMetadata& meta) {
    std::cout << model.summary();
    std::cout << "net: " << info.net << "\nclasses:";
    for (const auto& name : info.classes) std::cout << " " << name;
    std::cout << "\nnormalisation: mean " << info.normalization.mean << ", std " << info.normalization.stddev
              << "\ntest-time views: " << fer::describe_views(info.tta()) << "\n";
    auto epoch = meta.integers.find("epoch");
    if (epoch != meta.integers.end()) std::cout << "epochs trained: " << epoch->second << "\n";
    std::uint32_t crc = 0;
    bool first = true;
    auto add = [&](const Tensor<float>& t) {
        const auto bytes = reinterpret_cast<const char*>(t.data());
        const std::uint32_t part = detail::crc32_of(bytes, t.size() * sizeof(float));
        crc = first ? part : static_cast<std::uint32_t>(crc32_combine(crc, part, static_cast<z_off_t>(t.size() * sizeof(float))));
        first = false;
    };
    for (const auto& p : model.params()) add(*p.value);
    for (const auto& b : model.buffers()) add(*b.value);
    std::printf("weights crc32: %08x\n", crc);
    return fer::exit_ok;
}

template <class Model>
int evaluate_csv(Model& model, const fer::ModelInfo& info, const Options& o) {
    Fer2013Options read_options;
    read_options.skip_bad_rows = o.skip_bad_rows;
    const Fer2013Dataset data = read_fer2013(o.csv, read_options);
    ClassSelection selection;
    selection.emotions = info.emotions;
    selection.names = info.classes;
    std::vector<std::size_t> rows;
    if (o.usage == "all") {
        rows = selected_rows(data, selection);
    } else {
        const Usage usage = o.usage == "Training" ? Usage::training : o.usage == "PublicTest" ? Usage::public_test
                                                                                              : Usage::private_test;
        rows = selected_rows(data, selection, usage);
    }
    if (rows.empty()) throw data_error(o.csv + ": no " + o.usage + " rows of the model's classes");
    LabeledImages<float> split = make_labeled_images<float>(data, selection, rows);
    normalize(split.images, info.normalization);
    const TestTimeAugmentation tta = views(info, o);
    const std::vector<int> predicted = argmax_rows(predict_probabilities(model, split.images, tta));
    const ConfusionMatrix cm = confusion_matrix(split.labels, predicted, static_cast<int>(info.classes.size()));
    std::cout << printable(o.csv) << " (" << o.usage << ", " << rows.size() << " rows, " << fer::describe_views(tta) << ")";
    if (data.skipped_rows) std::cout << ", " << data.skipped_rows << " malformed rows skipped";
    // "test accuracy" for the test split, as fer_train prints it; otherwise the split's name
    const std::string heading = o.usage == "PrivateTest" ? "test" : o.usage == "all" ? "all rows'" : o.usage;
    std::cout << "\n" << format_evaluation(cm, info.classes, heading);
    return fer::exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
    return fer::run_program("fer_predict", usage_text, [&] { return parse_options(argc, argv); }, [](const Options& o) {
        ModelMetadata meta;
        AnyModel<float> loaded = load_any_model<float>(o.model, &meta);  // a Sequential's file or a Graph's
        return std::visit(
            [&](auto& model) {
                const fer::ModelInfo info = fer::read_model_info(meta, static_cast<int>(model.output_shape().per_sample()), o.model);
                if (model.input_shape() != Shape(1, 1, 48, 48)) {
                    throw data_error(o.model + ": model input is " + model.input_shape().sample_str() + ", expected (1, 48, 48)");
                }
                if (o.info) return print_info(model, info, meta);
                return o.csv.empty() ? classify_images(model, info, o) : evaluate_csv(model, info, o);
            },
            loaded);
    });
}
