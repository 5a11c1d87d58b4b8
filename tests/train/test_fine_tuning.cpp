// tests/train/test_fine_tuning.cpp: what fine-tuning needs: clone() is a deep, independent copy; load_weights
// by name with strict shape checks and their messages; freezing (frozen parameters and BatchNorm statistics do
// not move, a frozen BatchNorm runs in eval mode); dropping and replacing the head; activations() shows each
// layer's own output where BatchNorm applies the following ReLU; a parameter assigned another shape is an error,
// not an overflow; layer(99) throws; images into a batch tensor in one call.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <map>
#include <string>
#include <vector>

#include "../io/temp_files.hpp"
#include "../test_nets.hpp"

using namespace deepcnn;

using deepcnn_test::body_and_head;
using deepcnn_test::random_images;
using deepcnn_test::same_tensor;

TEST_CASE("clone is a deep copy that predicts the same bits and trains apart", "[train][fine_tune]") {
    Sequential<float> original = body_and_head(3, 16, 1);
    const Tensor<float> images = random_images(6, 2);
    std::vector<int> labels{0, 1, 2, 0, 1, 2};
    Adam<float> adam(0.01);
    SoftmaxCrossEntropy<float> loss;
    original.train_step(images, labels, loss, adam);  // BatchNorm statistics away from their start

    Sequential<float> copy = original.clone();
    REQUIRE(copy.size() == original.size());
    CHECK(copy.summary() == original.summary());
    const Tensor<float> before = original.predict(images);
    CHECK(same_tensor(copy.predict(images), before));

    Adam<float> copy_adam(0.01);
    for (int i = 0; i < 3; ++i) copy.train_step(images, labels, loss, copy_adam);
    CHECK(same_tensor(original.predict(images), before));
    CHECK_FALSE(same_tensor(copy.predict(images), before));
}

TEST_CASE("clone copies the inference settings of a Sequential and of a Graph", "[train][fine_tune]") {
    // A copy of a model with folding and weight preparation off predicts the layer-by-layer bits, as the original.
    const Tensor<float> images = random_images(6, 2);
    auto check = [&](auto original) {
        original.set_folding(false);
        original.set_prepared_weights(false);
        auto copy = original.clone();
        CHECK_FALSE(copy.folding());
        CHECK_FALSE(copy.prepared_weights());
        CHECK(same_tensor(copy.predict(images), original.predict(images)));
    };
    check(body_and_head(3, 16, 1));
    check(deepcnn_test::small_residual_graph(1));
}

TEST_CASE("load_weights loads by name and says which shapes differ", "[train][fine_tune]") {
    deepcnn_test::TempDir dir;
    const std::string path = dir.file("wide.dcnn");
    Sequential<float> wide = body_and_head(3, 32, 1);
    save_model(path, wide);

    Sequential<float> same = body_and_head(3, 32, 7);
    const WeightLoadReport report = load_weights(same, path);
    CHECK(report.skipped.empty());
    CHECK(report.loaded.size() == wide.params().size() + wide.buffers().size());
    const Tensor<float> images = random_images(4, 3);
    CHECK(same_tensor(same.predict(images), wide.predict(images)));

    Sequential<float> narrow = body_and_head(3, 16, 7);
    const std::map<std::string, Tensor<float>> untouched = snapshot_weights(narrow);
    CHECK_THROWS_AS(load_weights(narrow, path), shape_error);
    CHECK_THROWS_WITH(load_weights(narrow, path),
                      path + ": weights do not match the model: dense_6.weight: file (32, 64), model (16, 64); "
                             "dense_6.bias: file (32), model (16); dense_8.weight: file (3, 32), model (3, 16)");
    const auto after = snapshot_weights(narrow);
    for (const auto& entry : untouched) CHECK(same_tensor(entry.second, after.at(entry.first)));  // nothing assigned

    // Not strict: everything that matches (the body), the rest reported.
    const WeightLoadReport partial = load_weights(narrow, path, false);
    CHECK(partial.skipped.size() == 3);
    CHECK(same_tensor(*narrow.params()[0].value, *wide.params()[0].value));

    Sequential<float> seven = body_and_head(7, 32, 7);
    CHECK_THROWS_WITH(load_weights(seven, path), Catch::Contains("dense_8.weight: file (3, 32), model (7, 32)") &&
                                                     Catch::Contains("dense_8.bias: file (3), model (7)"));
    Sequential<float> shorter(Shape(1, 1, 8, 8));
    shorter.add(Conv2D<float>(4, 3));
    CHECK_THROWS_WITH(load_weights(shorter, path), Catch::Contains("batchnorm_2.gamma: in the file, not in the model"));
}

TEST_CASE("frozen layers keep their weights and BatchNorm statistics, and training reaches the head", "[train][fine_tune]") {
    Sequential<float> model = body_and_head(3, 16, 1);
    model.freeze_up_to(6);  // conv, batchnorm, relu, pool, flatten, dense: the head (dense_8) learns
    CHECK_FALSE(model.trainable(1));
    CHECK(model.trainable(7));
    CHECK(model.trainable_params().size() == 2);
    const auto before = snapshot_weights(model);
    const Tensor<float> images = random_images(8, 4);
    std::vector<int> labels{0, 1, 2, 0, 1, 2, 0, 1};
    Adam<float> adam(0.05);
    SoftmaxCrossEntropy<float> loss;
    for (int i = 0; i < 3; ++i) model.train_step(images, labels, loss, adam);
    CHECK(model.layer(1).mode() == Mode::eval);  // frozen BatchNorm: running statistics, in training too
    CHECK(model.layer(7).mode() == Mode::train);
    const auto after = snapshot_weights(model);
    for (const auto& entry : before) {
        INFO(entry.first);
        if (entry.first.rfind("dense_8.", 0) == 0) CHECK_FALSE(same_tensor(entry.second, after.at(entry.first)));
        else CHECK(same_tensor(entry.second, after.at(entry.first)));
    }
    for (const auto& p : model.params()) {
        INFO(p.name);
        if (p.name.rfind("dense_8.", 0) != 0) {
            for (float g : *p.grad) REQUIRE(g == 0.0f);  // below the lowest layer that learns: zero, not stale
        }
    }
    Trainer<Sequential<float>> trainer(model, adam, [] {
        TrainerOptions options;
        options.epochs = 1;
        options.batch = 4;
        options.verbosity = Verbosity::silent;
        return options;
    }());
    trainer.fit(images, labels);  // the divergence guard reads every gradient, the frozen ones too
    model.unfreeze(1);
    CHECK(model.trainable_params().size() == 4);
    model.train();
    CHECK(model.layer(1).mode() == Mode::train);
}

TEST_CASE("pop drops the head so that a new one trains, and undoes fusion when its ReLU goes", "[train][fine_tune]") {
    Sequential<float> model = body_and_head(3, 16, 1);
    model.pop();  // Softmax
    model.pop();  // Dense(3)
    model.add(Dense<float>(7));
    model.add(Softmax<float>());
    CHECK(model.output_shape().per_sample() == 7);
    CHECK(model.params().back().name == "dense_8.bias");
    CHECK(model.params().back().value->size() == 7);
    CHECK(model.predict(random_images(2, 1)).shape() == Shape(2, 7, 1, 1));

    Sequential<float> fused(Shape(1, 1, 8, 8));
    fused.add(BatchNorm<float>());
    fused.add(ReLU<float>());
    fused.pop();
    const Tensor<float> images = random_images(2, 5);
    bool negative = false;
    fused.eval();
    for (float v : fused.forward(images)) negative = negative || v < 0;
    CHECK(negative);  // BatchNorm no longer applies the removed ReLU
    Sequential<float> empty(Shape(1, 1, 8, 8));
    CHECK_THROWS_WITH(empty.pop(), "Sequential::pop: the model has no layers");
}

TEST_CASE("activations show each layer's own output where BatchNorm applies the ReLU", "[train][fine_tune]") {
    Sequential<float> model = body_and_head(3, 16, 1);
    const Tensor<float> images = random_images(3, 6);
    const std::vector<Tensor<float>> outputs = model.activations(images);
    REQUIRE(outputs.size() == model.size());
    bool negative = false;
    for (float v : outputs[1]) negative = negative || v < 0;
    CHECK(negative);  // BatchNorm's own output, before the ReLU it applies in normal passes
    for (std::size_t i = 0; i < outputs[1].size(); ++i) REQUIRE(outputs[2][i] == std::max(outputs[1][i], 0.0f));
    model.set_folding(false);  // predict as forward runs it: the normal (fused) pass agrees bit for bit
    CHECK(same_tensor(outputs.back(), model.predict(images)));
    model.set_folding(true);  // with the BatchNorm folded into the convolution: within float rounding
    const Tensor<float> folded = model.predict(images);
    for (std::size_t i = 0; i < folded.size(); ++i) CHECK(folded[i] == Approx(outputs.back()[i]).margin(1e-6));
}

TEST_CASE("a parameter assigned a tensor of another shape is an error, not an overflow", "[train][fine_tune]") {
    Sequential<float> model(Shape(1, 64, 1, 1));
    model.add(Dense<float>(3));
    *model.params()[0].value = Tensor<float>(Shape(2, 64, 1, 1));
    CHECK_THROWS_AS(model.predict(Tensor<float>(Shape(1, 64, 1, 1))), shape_error);
    CHECK_THROWS_WITH(model.predict(Tensor<float>(Shape(1, 64, 1, 1))),
                      "dense_1.weight: the value has shape (2, 64, 1, 1), its layer was built for (3, 64, 1, 1)");
}

TEST_CASE("layer(99) throws a deepcnn error naming the model's size", "[train][fine_tune]") {
    Sequential<float> model = body_and_head(3, 16, 1);
    CHECK_THROWS_AS(model.layer(99), error);
    CHECK_THROWS_WITH(model.layer(99), "Sequential::layer: no layer 99 (the model has 9 layers, 0 to 8)");
    CHECK_THROWS_AS(model.layer_name(9), error);
    CHECK_THROWS_AS(model.freeze(9), error);
}

TEST_CASE("load_image_batch reads grey and RGB files into one tensor, resized and scaled", "[train][io][image]") {
    deepcnn_test::TempDir dir;
    // 4 x 2 RGB: a red left half and a blue right half.
    std::vector<std::uint8_t> rgb(4 * 2 * 3, 0);
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 4; ++x) rgb[static_cast<std::size_t>((y * 4 + x) * 3 + (x < 2 ? 0 : 2))] = 255;
    write_file_atomically(dir.file("halves.png"), encode_png(rgb.data(), 4, 2, 3));
    std::vector<std::uint8_t> grey(4 * 2, 51);
    write_file_atomically(dir.file("grey.png"), encode_png(grey.data(), 4, 2, 1));

    ImageBatchOptions options;
    options.channels = 3;
    options.height = 1;
    options.width = 2;
    const Tensor<float> batch = load_image_batch({dir.file("halves.png"), dir.file("grey.png")}, options);
    REQUIRE(batch.shape() == Shape(2, 3, 1, 2));
    const std::vector<float> expected{1, 0, 0, 0, 0, 1, 0.2f, 0.2f, 0.2f, 0.2f, 0.2f, 0.2f};
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(batch[i] == Approx(expected[i]));

    options.channels = 1;
    const Tensor<float> luma = load_image_batch({dir.file("halves.png")}, options);
    REQUIRE(luma.shape() == Shape(1, 1, 1, 2));
    CHECK(luma[0] == Approx(0.299));
    CHECK(luma[1] == Approx(0.114));
    CHECK_THROWS_AS(load_image_batch({dir.file("missing.png")}), io_error);
    options.channels = 2;
    CHECK_THROWS_AS(load_image_batch({dir.file("grey.png")}, options), config_error);
}
