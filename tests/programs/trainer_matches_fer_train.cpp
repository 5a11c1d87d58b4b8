// tests/programs/trainer_matches_fer_train.cpp: fer_train's default recipe (fer net, three largest classes, AdamW,
// cosine schedule, augmentation, flip-averaged validation) written with deepcnn::Trainer; the test
// program_trainer_matches_fer_train checks that it writes model.dcnn with the bits fer_train writes.
// Usage: trainer_matches_fer_train DATA OUT_DIR EPOCHS THREADS
#include "fer_common.hpp"
#include "fer_nets.hpp"
#include <deepcnn/deepcnn.hpp>
#include <iostream>
#include <variant>
using namespace deepcnn;
int main(int argc, char** argv) {
    if (argc != 5) {
        std::cerr << "usage: trainer_matches_fer_train DATA OUT_DIR EPOCHS THREADS\n";
        return 2;
    }
    const std::string data_path = argv[1], out = argv[2];
    const int epochs = std::atoi(argv[3]);
    const std::uint64_t seed = 1;
    const Fer2013Dataset data = read_fer2013(data_path, Fer2013Options{});
    const ClassSelection selection = select_classes("", count_emotions(data));
    UsageSplits<float> splits = split_by_usage<float>(data, selection);
    fer::ModelInfo info;
    info.classes = selection.names; info.emotions = selection.emotions; info.net = "fer"; info.flip_averaging = true;
    info.normalization = fit_normalization(splits.train.images);
    normalize(splits.train.images, info.normalization);
    normalize(splits.validation.images, info.normalization);
    Sequential<float> model = std::get<Sequential<float>>(fer::make_net("fer", selection.size(), seed));
    model.set_threads(std::atoi(argv[4]));
    const double lr = 2e-3;
    AdamOptions a; a.learning_rate = lr; a.decoupled_weight_decay = true; a.weight_decay = 0.05;
    Adam<float> adam(a);
    TrainerOptions o;
    o.epochs = epochs; o.batch = 64; o.seed = seed * 0x9E3779B97F4A7C15ULL + 12345;
    o.augment = true; o.augmentation = default_augmentation(); o.flip_averaged_evaluation = true;
    o.schedule = std::make_shared<CosineLr>(lr, epochs, std::min(1.0, epochs / 4.0), lr * 0.01);
    o.restore_best_weights = false;
    Trainer<Sequential<float>> trainer(model, adam, o);
    trainer.on_improvement([&](Sequential<float>& m, const EpochRecord& r) {
        ModelMetadata meta; fer::store_model_info(info, meta);
        meta.integers["epoch"] = static_cast<std::uint64_t>(r.epoch);
        save_model(out + "/model.dcnn", m, meta);
    });
    trainer.fit(splits.train.images, splits.train.labels, splits.validation.images, splits.validation.labels);
}
