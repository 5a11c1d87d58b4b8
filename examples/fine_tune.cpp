// examples/fine_tune.cpp: fine-tunes a 3-class FER model to all seven FER2013 emotions with the library alone:
// loads a fer_train model (or, without --model, pretrains one on the three largest classes), clones it, replaces
// its 3-way head by a 7-way one, trains the head with the body frozen, then the whole net at a lower rate with
// early stopping, and reports PrivateTest accuracy (flip-averaged) and the confusion matrix. Writes
// OUT/model.dcnn, which fer_predict reads.
#include "fer_common.hpp"
#include "fer_nets.hpp"

#include <deepcnn/deepcnn.hpp>

#include <filesystem>
#include <system_error>
#include <variant>

#include <iostream>
#include <memory>
#include <string>

#ifndef FER_DEFAULT_DATA
#define FER_DEFAULT_DATA "examples/data/fer2013_sample3.csv.gz"
#endif

namespace {

using namespace deepcnn;

const char* const usage_text =
    "usage: fine_tune [--data PATH] [--model FILE] [--pretrain-epochs N] [--head-epochs N] [--epochs N]\n"
    "                 [--batch N] [--lr X] [--seed N] [--threads N] [--max-rows N] [--out DIR]\n"
    "Fine-tunes a 3-class FER model (--model, from fer_train; without it one is pretrained here on the three\n"
    "largest classes) to all seven emotions: the new head alone first, then the whole net at lr / 10.\n"
    "Writes model.dcnn into --out (default fine_tune_out). The bundled sample holds three emotions only: use\n"
    "the full FER2013 CSV (--data) for a real result.\n";

struct Options {
    std::string data = FER_DEFAULT_DATA;
    std::string model;
    int pretrain_epochs = 3;
    int head_epochs = 2;
    int epochs = 6;
    int batch = 64;
    double lr = 2e-3;
    std::uint64_t seed = 1;
    int threads = 0;
    long max_rows = 0;
    std::string out = "fine_tune_out";
};

Options parse_options(int argc, char** argv) {
    Options o;
    for (fer::Arguments a(argc, argv); a.next();) {
        const std::string& arg = a.arg();
        if (a.is("--data")) o.data = a.value();
        else if (a.is("--model")) o.model = a.value();
        else if (a.is("--pretrain-epochs")) o.pretrain_epochs = static_cast<int>(fer::parse_integer(arg, a.value(), 1, 1000));
        else if (a.is("--head-epochs")) o.head_epochs = static_cast<int>(fer::parse_integer(arg, a.value(), 1, 1000));
        else if (a.is("--epochs")) o.epochs = static_cast<int>(fer::parse_integer(arg, a.value(), 1, 1000));
        else if (a.is("--batch")) o.batch = static_cast<int>(fer::parse_integer(arg, a.value(), 1, 65536));
        else if (a.is("--lr")) o.lr = fer::parse_positive(arg, a.value());
        else if (a.is("--seed")) o.seed = static_cast<std::uint64_t>(fer::parse_integer(arg, a.value(), 0, 2147483647L));
        else if (a.is("--threads")) o.threads = static_cast<int>(fer::parse_integer(arg, a.value(), 1, 1024));
        else if (a.is("--max-rows")) o.max_rows = fer::parse_integer(arg, a.value(), 1, 100000000L);
        else if (a.is("--out")) o.out = a.value();
        else if (a.is("--help") || a.is("-h")) { std::cout << usage_text; std::exit(fer::exit_ok); }
        else throw fer::usage_error("unknown option '" + arg + "'");
    }
    return o;
}

TrainerOptions trainer_options(const Options& o, int epochs) {
    TrainerOptions options;
    options.epochs = epochs;
    options.batch = o.batch;
    options.seed = o.seed * 0x9E3779B97F4A7C15ULL + 12345;
    options.augment = true;
    options.flip_averaged_evaluation = true;
    options.verbosity = Verbosity::automatic;
    return options;
}

// Images of `split` normalised with `norm`, labels mapped through `selection`.
UsageSplits<float> normalised_splits(const Fer2013Dataset& data, const ClassSelection& selection,
                                     const Normalization& norm) {
    UsageSplits<float> splits = split_by_usage<float>(data, selection);
    normalize(splits.train.images, norm);
    normalize(splits.validation.images, norm);
    normalize(splits.test.images, norm);
    return splits;
}

int run(const Options& o) {
    std::cout << "Reading " << o.data << " ..." << std::endl;
    Fer2013Options read_options;
    read_options.max_rows = static_cast<std::size_t>(o.max_rows);
    const Fer2013Dataset data = read_fer2013(o.data, read_options);
    const std::vector<ClassCount> counts = count_emotions(data);
    std::cout << format_class_table(counts);

    // The 3-class model and the normalisation its inputs had.
    fer::ModelInfo info;
    Sequential<float> pretrained(Shape(1, 1, 48, 48));
    if (!o.model.empty()) {
        ModelMetadata meta;
        pretrained = load_model<float>(o.model, &meta);
        info = fer::read_model_info(meta, static_cast<int>(pretrained.output_shape().per_sample()), o.model);
        std::cout << "Pretrained: " << o.model << " (" << info.classes.size() << " classes)\n";
    } else {
        const ClassSelection three = select_classes("", counts);
        info.classes = three.names;
        info.emotions = three.emotions;
        info.net = "fer";
        UsageSplits<float> splits = split_by_usage<float>(data, three);
        info.normalization = fit_normalization(splits.train.images);
        normalize(splits.train.images, info.normalization);
        normalize(splits.validation.images, info.normalization);
        pretrained = std::get<fer::Model>(fer::make_net("fer", three.size(), o.seed));  // a chain: its head is replaced below
        if (o.threads > 0) pretrained.set_threads(o.threads);
        std::cout << "Pretraining a 3-class fer net for " << o.pretrain_epochs << " epochs\n";
        AdamOptions adam_options;
        adam_options.learning_rate = o.lr;
        adam_options.decoupled_weight_decay = true;
        adam_options.weight_decay = 0.05;
        Adam<float> adam(adam_options);
        TrainerOptions options = trainer_options(o, o.pretrain_epochs);
        options.schedule = std::make_shared<CosineLr>(o.lr, o.pretrain_epochs, std::min(1.0, o.pretrain_epochs / 4.0), o.lr * 0.01);
        Trainer<Sequential<float>> trainer(pretrained, adam, options);
        trainer.fit(splits.train.images, splits.train.labels, splits.validation.images, splits.validation.labels);
    }

    // All seven emotions, label = emotion code; inputs normalised as the pretrained model's were.
    const ClassSelection seven = select_all_classes();
    UsageSplits<float> splits = normalised_splits(data, seven, info.normalization);
    std::cout << "Seven classes: train " << splits.train.size() << ", validation " << splits.validation.size()
              << ", test " << splits.test.size() << "\n";

    // The pretrained body under a new 7-way head.
    Sequential<float> model = pretrained.clone();
    model.pop();  // Softmax
    model.pop();  // Dense(3)
    model.rng().reseed(o.seed);
    model.add(Dense<float>(static_cast<int>(seven.size())));
    model.add(Softmax<float>());
    if (o.threads > 0) model.set_threads(o.threads);

    std::cout << "\nStage 1: the new head only (" << o.head_epochs << " epochs, body frozen)\n";
    model.freeze_up_to(model.size() - 2);
    Adam<float> head_adam(o.lr);
    Trainer<Sequential<float>> head(model, head_adam, trainer_options(o, o.head_epochs));
    head.fit(splits.train.images, splits.train.labels, splits.validation.images, splits.validation.labels);

    std::cout << "\nStage 2: the whole net at lr " << o.lr / 10 << " (" << o.epochs << " epochs, early stopping)\n";
    for (std::size_t i = 0; i < model.size(); ++i) model.unfreeze(i);
    AdamOptions whole_options;
    whole_options.learning_rate = o.lr / 10;
    whole_options.decoupled_weight_decay = true;
    whole_options.weight_decay = 0.05;
    Adam<float> whole_adam(whole_options);
    TrainerOptions options = trainer_options(o, o.epochs);
    options.schedule = std::make_shared<CosineLr>(o.lr / 10, o.epochs);
    options.early_stopping_patience = 4;
    Trainer<Sequential<float>> whole(model, whole_adam, options);
    const TrainingResult result =
        whole.fit(splits.train.images, splits.train.labels, splits.validation.images, splits.validation.labels);
    std::cout << "Best epoch " << result.best_epoch << " (validation accuracy " << result.best_accuracy << ")\n";

    TensorSource<float> test(splits.test.images, splits.test.labels);
    const ClassifierEvaluation<float> evaluation = evaluate_classifier(model, test, /*flip=*/true);
    const ConfusionMatrix cm = confusion_matrix(evaluation.labels, evaluation.predicted, seven.size());
    std::cout << "\nTest (PrivateTest, " << splits.test.size() << " images, flip-averaged):\n"
              << format_evaluation(cm, seven.names) << "\n";

    fer::ModelInfo tuned = info;
    tuned.classes = seven.names;
    tuned.emotions = seven.emotions;
    tuned.flip_averaging = true;
    ModelMetadata meta;
    fer::store_model_info(tuned, meta);
    std::error_code failed;
    std::filesystem::create_directories(o.out, failed);
    if (failed) throw io_error(o.out + ": cannot create output directory (" + failed.message() + ")");
    save_model(o.out + "/model.dcnn", model, meta);
    std::cout << "Wrote " << o.out << "/model.dcnn\n";
    return fer::exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
    return fer::run_program("fine_tune", usage_text, [&] { return parse_options(argc, argv); },
                            [](const Options& o) { return run(o); });
}
