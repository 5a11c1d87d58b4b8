// tests/train/test_trainer.cpp: the Trainer: a run stopped mid-epoch and resumed from its checkpoint gives the
// same bits as a straight run (augmentation with erasing, label smoothing, Dropout, weight average, per-batch schedule
// all on); label smoothing keeps the training loss above its targets' entropy; early stopping
// restores the best epoch's weights; the divergence guard stops on a NaN pixel and on a diverging loss; the
// schedule per epoch (CosineLr's warm-up); fit's one-call form and the callbacks.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <atomic>
#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../io/temp_files.hpp"
#include "../test_nets.hpp"

using namespace deepcnn;


namespace trainer_test {

// A small net on 8x8 images with every stateful piece: a fused BatchNorm + ReLU, Dropout's generator.
Sequential<float> trainer_net(std::uint64_t seed) {
    Sequential<float> model = deepcnn_test::small_chain(seed);
    model.set_threads(2);
    return model;
}

// Random images whose class is where the brightest quadrant is (learnable), with seeded noise.
void make_data(int n, std::uint64_t seed, Tensor<float>& images, std::vector<int>& labels) {
    Rng rng(seed);
    images = Tensor<float>(Shape(n, 1, 8, 8));
    labels.assign(static_cast<std::size_t>(n), 0);
    for (int i = 0; i < n; ++i) {
        const int label = static_cast<int>(rng.uniform() * 3) % 3;
        labels[static_cast<std::size_t>(i)] = label;
        for (int y = 0; y < 8; ++y)
            for (int x = 0; x < 8; ++x) {
                const bool bright = (label == 0 && y < 4) || (label == 1 && y >= 4 && x < 4) || (label == 2 && y >= 4 && x >= 4);
                images.sample(i)[y * 8 + x] = static_cast<float>((bright ? 1.0 : 0.0) + 0.5 * rng.uniform());
            }
    }
}

// The resume tests' data: 50 training images (7 steps per epoch of 8, the last one of 2) and 20 to validate.
struct ResumeData {
    Tensor<float> images, val_images;
    std::vector<int> labels, val_labels;
    ResumeData() {
        make_data(50, 1, images, labels);
        make_data(20, 2, val_images, val_labels);
    }
};

TrainerOptions resumable_options(const std::string& checkpoint) {
    TrainerOptions options;
    options.epochs = 3;
    options.batch = 8;
    options.seed = 77;
    options.augment = true;
    options.weight_average = 0.9;
    options.flip_averaged_evaluation = true;
    options.augmentation.erase_probability = 0.5;
    options.label_smoothing = 0.1;
    options.schedule = std::make_shared<CosineLr>(0.01, 3, 1, 1e-4);
    options.checkpoint_path = checkpoint;
    options.verbosity = Verbosity::silent;
    return options;
}

// A residual net on 8x8 images: a skip connection around a convolution and BatchNorm, and Dropout's generator.
Graph<float> trainer_graph(std::uint64_t seed) {
    Graph<float> model(Shape(1, 1, 8, 8), seed);
    model.add("stem", Conv2D<float>(4, 3), {"input"});
    model.add("stem_relu", ReLU<float>(), {"stem"});
    model.add("res_conv", Conv2D<float>(4, 3), {"stem_relu"});
    model.add("res_bn", BatchNorm<float>(), {"res_conv"});
    model.add("res_add", Add<float>(), {"stem_relu", "res_bn"});
    model.add("pool", MaxPool2D<float>(2), {"res_add"});
    model.add("flatten", Flatten<float>(), {"pool"});
    model.add("dropout", Dropout<float>(0.25), {"flatten"});
    model.add("logits", Dense<float>(3), {"dropout"});
    model.add("softmax", Softmax<float>(), {"logits"});
    model.set_threads(2);
    return model;
}

template <class Model>
void require_same_weights(Model& a, Model& b) {
    const auto wa = snapshot_weights(a), wb = snapshot_weights(b);
    REQUIRE(wa.size() == wb.size());
    for (const auto& entry : wa) {
        const Tensor<float>& other = wb.at(entry.first);
        REQUIRE(other.shape() == entry.second.shape());
        for (std::size_t i = 0; i < other.size(); ++i) {
            INFO(entry.first << "[" << i << "]");
            REQUIRE(other[i] == entry.second[i]);
        }
    }
}

bool same_weights(const std::map<std::string, Tensor<float>>& a, const std::map<std::string, Tensor<float>>& b) {
    for (const auto& entry : a) {
        const Tensor<float>& other = b.at(entry.first);
        for (std::size_t i = 0; i < other.size(); ++i)
            if (other[i] != entry.second[i]) return false;
    }
    return true;
}

}  // namespace trainer_test

using namespace trainer_test;

TEST_CASE("a run stopped mid-epoch and resumed gives the bits of a straight run", "[train][trainer]") {
    deepcnn_test::TempDir dir;
    const ResumeData data;
    const Tensor<float>&images = data.images, &val_images = data.val_images;
    const std::vector<int>&labels = data.labels, &val_labels = data.val_labels;

    Sequential<float> straight = trainer_net(5);
    Adam<float> straight_adam(0.01);
    Trainer<Sequential<float>> straight_trainer(straight, straight_adam, resumable_options(dir.file("straight.dcnn")));
    const TrainingResult straight_result = straight_trainer.fit(images, labels, val_images, val_labels);
    REQUIRE(straight_result.reason == StopReason::completed);
    REQUIRE(straight_result.epochs_done == 3);

    for (int stop_epoch : {1, 2}) {
        DYNAMIC_SECTION("stopped in epoch " << stop_epoch << " after step 3") {
            const std::string checkpoint = dir.file("interrupted.dcnn");
            {
                Sequential<float> model = trainer_net(5);
                Adam<float> adam(0.01);
                Trainer<Sequential<float>> trainer(model, adam, resumable_options(checkpoint));
                trainer.on_batch_end([&](const BatchEnd& b) {
                    if (b.epoch == stop_epoch && b.step == 3) trainer.request_stop();
                });
                const TrainingResult stopped = trainer.fit(images, labels, val_images, val_labels);
                REQUIRE(stopped.reason == StopReason::stop_requested);
                REQUIRE(stopped.epochs_done == stop_epoch - 1);
                REQUIRE(stopped.step_in_epoch == 3);
            }
            Sequential<float> resumed = trainer_net(99);  // other initial weights: all must come from the checkpoint
            Adam<float> adam(0.01);
            Trainer<Sequential<float>> trainer(resumed, adam, resumable_options(checkpoint));
            trainer.resume(checkpoint);
            const TrainingResult result = trainer.fit(images, labels, val_images, val_labels);
            REQUIRE(result.reason == StopReason::completed);
            CHECK(result.best_epoch == straight_result.best_epoch);
            REQUIRE(result.history.size() == 3);
            for (std::size_t e = 0; e < 3; ++e) {
                // epochs finished before the stop come back from the checkpoint's history text (6 digits)
                if (static_cast<int>(e) + 1 < stop_epoch) {
                    CHECK(result.history[e].train_loss == Approx(straight_result.history[e].train_loss).epsilon(1e-5));
                } else {
                    CHECK(result.history[e].train_loss == straight_result.history[e].train_loss);
                }
                CHECK(result.history[e].val_accuracy == Approx(straight_result.history[e].val_accuracy).epsilon(1e-5));
            }
            require_same_weights(straight, resumed);
        }
    }
}

TEST_CASE("a stop flag set by the caller ends fit with a checkpoint, and resume rejects another optimizer", "[train][trainer]") {
    deepcnn_test::TempDir dir;
    Tensor<float> images;
    std::vector<int> labels;
    make_data(40, 3, images, labels);
    CancelFlag stop{0};
    Sequential<float> model = trainer_net(1);
    Adam<float> adam(0.01);
    TrainerOptions options;
    options.batch = 8;
    options.stop = &stop;
    options.checkpoint_path = dir.file("checkpoint.dcnn");
    options.verbosity = Verbosity::silent;
    Trainer<Sequential<float>> trainer(model, adam, options);
    trainer.on_batch_end([&](const BatchEnd& b) { stop.store(b.step == 2); });
    const TrainingResult result = trainer.fit(images, labels);
    CHECK(result.reason == StopReason::stop_requested);
    CHECK(result.step_in_epoch == 2);

    Sgd<float> sgd(SgdOptions{});
    Trainer<Sequential<float>> other(model, sgd, options);
    CHECK_THROWS_WITH(other.resume(options.checkpoint_path),
                      options.checkpoint_path + ": checkpoint holds Adam optimizer state, this run uses SGD");
}

TEST_CASE("early stopping restores the best epoch's weights", "[train][trainer]") {
    Tensor<float> images, val_images;
    std::vector<int> labels, val_labels;
    make_data(48, 4, images, labels);
    make_data(30, 5, val_images, val_labels);
    for (int& label : val_labels) label = (label + 1) % 3;  // validation disagrees: its accuracy cannot keep rising

    Sequential<float> model = trainer_net(3);
    Adam<float> adam(0.02);
    TrainerOptions options;
    options.epochs = 30;
    options.batch = 8;
    options.early_stopping_patience = 2;
    std::ostringstream log;
    options.log = &log;
    options.verbosity = Verbosity::epochs;
    Trainer<Sequential<float>> trainer(model, adam, options);
    std::map<std::string, Tensor<float>> at_best, at_last;
    trainer.on_improvement([&](Sequential<float>& m, const EpochRecord&) { at_best = snapshot_weights(m); });
    trainer.on_epoch_end([&](const EpochRecord&, bool) { at_last = snapshot_weights(model); });
    const TrainingResult result = trainer.fit(images, labels, val_images, val_labels);

    REQUIRE(result.reason == StopReason::early_stopping);
    REQUIRE(result.best_epoch > 0);
    CHECK(result.epochs_done == result.best_epoch + 2);
    CHECK(log.str().find("Early stopping: no validation improvement for 2 epochs") != std::string::npos);
    CHECK(log.str().find("*best") != std::string::npos);
    CHECK(same_weights(at_best, snapshot_weights(model)));
    CHECK_FALSE(same_weights(at_last, snapshot_weights(model)));
}

TEST_CASE("reduce on plateau lowers the rate after epochs without a better validation accuracy", "[train][trainer]") {
    Tensor<float> images, val_images;
    std::vector<int> labels, val_labels;
    make_data(48, 4, images, labels);
    make_data(30, 5, val_images, val_labels);
    for (int& label : val_labels) label = (label + 1) % 3;
    Sequential<float> model = trainer_net(3);
    Adam<float> adam(0.02);
    TrainerOptions options;
    options.epochs = 6;
    options.batch = 8;
    options.schedule = std::make_shared<ReduceOnPlateau>(0.02, 0.5, 1, true, 1e-6);
    options.verbosity = Verbosity::silent;
    const TrainingResult result = fit(model, adam, images, labels, options, val_images, val_labels);
    REQUIRE(result.history.size() == 6);
    double expected = 0.02, best = -1.0;
    for (const EpochRecord& record : result.history) {
        CHECK(record.learning_rate == Approx(expected));  // the rate the epoch trained at
        if (record.val_accuracy > best) best = record.val_accuracy;
        else expected *= 0.5;  // patience 1: halved after each epoch that did not improve
    }
    CHECK(result.history.back().learning_rate < 0.02);
}

TEST_CASE("the divergence guard stops on a NaN pixel before training on it", "[train][trainer]") {
    Tensor<float> images;
    std::vector<int> labels;
    make_data(16, 6, images, labels);
    images.sample(11)[5] = NAN;
    Sequential<float> model = trainer_net(2);
    Adam<float> adam(0.01);
    TrainerOptions options;
    options.batch = 16;
    options.shuffle = false;
    options.verbosity = Verbosity::silent;
    const auto before = snapshot_weights(model);
    CHECK_THROWS_AS(fit(model, adam, images, labels, options), data_error);
    CHECK_THROWS_WITH(fit(model, adam, images, labels, options),
                      "training sample 11 holds a non-finite value (nan) at element 5 (epoch 1, step 1); training "
                      "stopped before using it");
    CHECK(same_weights(before, snapshot_weights(model)));
}

TEST_CASE("the divergence guard stops a diverging run with the step and the first bad parameter", "[train][trainer]") {
    Tensor<float> images;
    std::vector<int> labels;
    make_data(32, 7, images, labels);
    Sequential<float> model = trainer_net(2);
    SgdOptions huge;
    huge.learning_rate = 1e30;
    Sgd<float> sgd(huge);
    TrainerOptions options;
    options.batch = 8;
    options.verbosity = Verbosity::silent;
    CHECK_THROWS_AS(fit(model, sgd, images, labels, options), divergence_error);
    Sequential<float> again = trainer_net(2);
    Sgd<float> sgd_again(huge);
    CHECK_THROWS_WITH(fit(again, sgd_again, images, labels, options), Catch::StartsWith("training diverged at epoch 1, step "));
}

TEST_CASE("a per-epoch schedule sets one rate per epoch, and CosineLr's warm-up starts above zero", "[train][trainer]") {
    CosineLr cosine(1e-3, 10, 2);
    CHECK(cosine.rate(0.0) == Approx(1e-12));  // per batch: the ramp starts at zero, as before
    CHECK(cosine.rate_for_epoch(0) == Approx(5e-4));
    CHECK(cosine.rate_for_epoch(1) == Approx(1e-3));
    CHECK(cosine.rate_for_epoch(2) == Approx(cosine.rate(2.0)));
    CHECK(CosineLr(1e-3, 10, 0.5).rate_for_epoch(0) == Approx(1e-3));
    StepLr step(1e-2, 1, 0.5);
    CHECK(step.rate_for_epoch(3) == Approx(step.rate(3.0)));

    Tensor<float> images;
    std::vector<int> labels;
    make_data(24, 8, images, labels);
    Sequential<float> model = trainer_net(4);
    Adam<float> adam(1.0);
    TrainerOptions options;
    options.epochs = 3;
    options.batch = 8;
    options.schedule = std::make_shared<CosineLr>(1e-3, 3, 1);
    options.schedule_step = ScheduleStep::per_epoch;
    options.verbosity = Verbosity::silent;
    Trainer<Sequential<float>> trainer(model, adam, options);
    std::vector<double> rates;
    trainer.on_batch_end([&](const BatchEnd& b) { rates.push_back(b.learning_rate); });
    trainer.fit(images, labels);
    REQUIRE(rates.size() == 9);
    for (int e = 0; e < 3; ++e)
        for (int s = 0; s < 3; ++s) CHECK(rates[static_cast<std::size_t>(3 * e + s)] == options.schedule->rate_for_epoch(e));
    CHECK(rates[0] == Approx(1e-3));
}

TEST_CASE("fit learns a simple task and reports a history", "[train][trainer]") {
    Tensor<float> images, val_images;
    std::vector<int> labels, val_labels;
    make_data(120, 9, images, labels);
    make_data(60, 10, val_images, val_labels);
    Sequential<float> model = trainer_net(8);
    Adam<float> adam(0.01);
    TrainerOptions options;
    options.epochs = 6;
    options.batch = 16;
    options.verbosity = Verbosity::silent;
    const TrainingResult result = fit(model, adam, images, labels, options, val_images, val_labels);
    REQUIRE(result.history.size() == 6);
    CHECK(result.history.back().train_loss < result.history.front().train_loss);
    CHECK(result.best_accuracy > 0.9);
    CHECK(model.evaluate(val_images, val_labels).accuracy == Approx(result.best_accuracy));
}

TEST_CASE("label smoothing keeps the training loss above the entropy of its targets", "[train][trainer]") {
    Tensor<float> images, val_images;
    std::vector<int> labels, val_labels;
    make_data(120, 9, images, labels);
    make_data(60, 10, val_images, val_labels);
    // Targets [0.8, 0.1, 0.1] with 3 classes and smoothing 0.3: no logits give a loss below their entropy.
    const double entropy = -0.8 * std::log(0.8) - 0.2 * std::log(0.1);
    double last_loss[2] = {};
    for (int smoothed = 0; smoothed < 2; ++smoothed) {
        Sequential<float> model = trainer_net(8);
        Adam<float> adam(0.01);
        TrainerOptions options;
        options.epochs = 12;
        options.batch = 16;
        options.label_smoothing = smoothed ? 0.3 : 0.0;
        options.verbosity = Verbosity::silent;
        const TrainingResult result = fit(model, adam, images, labels, options, val_images, val_labels);
        CHECK(result.best_accuracy > 0.9);
        last_loss[smoothed] = result.history.back().train_loss;
        for (const EpochRecord& epoch : result.history) {
            if (smoothed) CHECK(epoch.train_loss >= entropy - 1e-6);
        }
    }
    CHECK(last_loss[0] < entropy);  // without smoothing the same run goes below it
    CHECK(last_loss[1] < entropy + 0.2);
}

TEST_CASE("the Trainer rejects bad options and mismatched data", "[train][trainer]") {
    Sequential<float> model = trainer_net(1);
    Adam<float> adam(0.01);
    TrainerOptions options;
    options.batch = 0;
    CHECK_THROWS_AS(Trainer<Sequential<float>>(model, adam, options), config_error);
    options = TrainerOptions{};
    options.label_smoothing = 1.0;
    CHECK_THROWS_WITH(Trainer<Sequential<float>>(model, adam, options), "Trainer: label smoothing must be in [0, 1), got 1.000000");
    options = TrainerOptions{};
    options.augment = true;
    options.augmentation.erase_probability = 2.0;
    CHECK_THROWS_AS(Trainer<Sequential<float>>(model, adam, options), config_error);
    Tensor<float> images(Shape(4, 1, 8, 8));
    std::vector<int> labels(3, 0);
    CHECK_THROWS_WITH(TensorSource<float>(images, labels), "TensorSource: 4 images but 3 labels");
}

TEST_CASE("the memory estimate counts parameters, a batch's activations, evaluation and scratch, and refuses too much",
          "[train][trainer][memory]") {
    Sequential<float> model(Shape(1, 1, 8, 8), 1);
    model.add(Flatten<float>());
    model.add(Dense<float>(2));
    model.add(Softmax<float>());
    // Parameters 64 * 2 + 2 = 130 floats, with 6 copies beside the values. Per sample in training: each layer's output
    // twice and its input once ((2 * 64 + 64) + (2 * 2 + 64) + (2 * 2 + 2) = 266), plus the batch and its augmented
    // copy (2 * 64): 394 floats. Evaluation: the outputs (64 + 2 + 2) and the batch and its mirror (128): 196 floats.
    const MemoryEstimate e = estimate_training_memory(model, 10, 256, 6);
    CHECK(e.parameters == 130.0 * 4 * 7);
    CHECK(e.activations == 394.0 * 4 * 10);
    CHECK(e.evaluation == 196.0 * 4 * 256);
    CHECK(e.workspace == 0.0);  // no convolution
    CHECK(estimate_training_memory(model, 20, 256, 6).activations == 2 * e.activations);

    AvailableMemory little;
    little.bytes = e.total() - 1;
    little.limit = "a test's limit";
    CHECK_THROWS_WITH(check_memory_fits(e, 10, 256, 1, little),
                      Catch::Contains("training needs about") && Catch::Contains("a batch of 10") &&
                          Catch::Contains("is available (a test's limit); use a smaller batch or fewer threads"));
    AvailableMemory enough = little;
    enough.bytes = e.total();
    CHECK_NOTHROW(check_memory_fits(e, 10, 256, 1, enough));
    CHECK(available_memory().bytes > 0);
}

TEST_CASE("a convolution's kernel scratch grows with the thread count in the memory estimate", "[train][trainer][memory]") {
    Sequential<float> model(Shape(1, 3, 16, 16), 1);
    model.add(Conv2D<float>(8, 3));
    model.add(Flatten<float>());
    model.add(Dense<float>(2));
    model.add(Softmax<float>());
    model.set_threads(1);
    const double one = estimate_training_memory(model, 4, 0, 6).workspace;
    model.set_threads(4);
    const double four = estimate_training_memory(model, 4, 0, 6).workspace;
    CHECK(one > 0.0);
    CHECK(four >= one);
    CHECK(estimate_training_memory(model, 4, 0, 6).evaluation == 0.0);
}

TEST_CASE("a Graph stopped mid-epoch, or by the stop flag during validation, resumes to the bits of a straight run",
          "[train][trainer][graph]") {
    deepcnn_test::TempDir dir;
    const ResumeData d;
    Graph<float> straight = trainer_graph(5);
    Adam<float> straight_adam(0.01);
    Trainer<Graph<float>> straight_trainer(straight, straight_adam, resumable_options(dir.file("straight.dcnn")));
    REQUIRE(straight_trainer.fit(d.images, d.labels, d.val_images, d.val_labels).epochs_done == 3);

    for (const bool during_validation : {false, true}) {
        DYNAMIC_SECTION((during_validation ? "stopped during epoch 2's validation" : "stopped at epoch 2, step 3")) {
            const std::string checkpoint = dir.file("interrupted.dcnn");
            {
                CancelFlag stop{0};
                TrainerOptions options = resumable_options(checkpoint);
                options.stop = &stop;
                Graph<float> model = trainer_graph(5);
                Adam<float> adam(0.01);
                Trainer<Graph<float>> trainer(model, adam, options);
                // The last step of epoch 2 sets the flag: the Trainer does not stop between steps then, and the
                // validation that follows polls it (the model's cancel flag) and stops.
                trainer.on_batch_end([&](const BatchEnd& b) {
                    if (b.epoch == 2 && b.step == (during_validation ? b.steps : 3)) stop.store(1);
                });
                const TrainingResult stopped = trainer.fit(d.images, d.labels, d.val_images, d.val_labels);
                REQUIRE(stopped.reason == StopReason::stop_requested);
                REQUIRE(stopped.epochs_done == 1);
                REQUIRE(stopped.step_in_epoch == (during_validation ? stopped.steps_per_epoch : 3));
            }
            Graph<float> resumed = trainer_graph(99);  // other initial weights: all must come from the checkpoint
            Adam<float> adam(0.01);
            Trainer<Graph<float>> trainer(resumed, adam, resumable_options(checkpoint));
            trainer.resume(checkpoint);
            const TrainingResult result = trainer.fit(d.images, d.labels, d.val_images, d.val_labels);
            REQUIRE(result.reason == StopReason::completed);
            REQUIRE(result.history.size() == 3);
            CHECK(result.history[1].learning_rate == straight_trainer.history()[1].learning_rate);
            require_same_weights(straight, resumed);
        }
    }
}
