// tests/train/test_fine_tuning_graph.cpp: fine-tuning by names, for either kind of model (model/fine_tuning.hpp):
// Graph::pop, replace_head (a Graph keeps its node names; a Sequential gets what pop + add give), layer_index,
// freeze_layers and freeze_through with their errors; a Graph whose body is frozen trains only its head, skips the
// frozen nodes' backward and matches a Sequential of the same chain bit for bit; and a small Graph pretrained on the
// bundled sample's three emotions, saved, loaded and fine-tuned to seven with the Trainer.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <cmath>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "../io/temp_files.hpp"
#include "../test_nets.hpp"

using namespace deepcnn;

using deepcnn_test::body_and_head;
using deepcnn_test::random_images;
using deepcnn_test::same_tensor;
using deepcnn_test::small_residual_graph;

TEST_CASE("Graph::pop removes the output node, its name and parameters, and undoes its fusion", "[train][fine_tune][graph]") {
    Graph<float> g = small_residual_graph(1);
    const std::size_t params = g.params().size();
    g.pop();  // softmax
    g.pop();  // logits
    CHECK(g.size() == 9);
    CHECK_FALSE(g.has("logits"));
    CHECK(g.params().size() == params - 2);
    g.add("logits", Dense<float>(5), {"flat"});
    CHECK(g.output_shape().per_sample() == 5);
    CHECK(g.params().back().name == "logits.bias");
    CHECK(g.predict(random_images(2, 1)).shape() == Shape(2, 5, 1, 1));

    Graph<float> fused(Shape(1, 1, 8, 8));
    fused.add("bn", BatchNorm<float>(), {"input"});
    fused.add("relu", ReLU<float>(), {"bn"});
    REQUIRE(fused.fused(1));
    fused.pop();
    fused.eval();
    bool negative = false;
    for (float v : fused.forward(random_images(2, 5))) negative = negative || v < 0;
    CHECK(negative);  // the BatchNorm no longer applies the removed ReLU
    fused.pop();
    CHECK_THROWS_WITH(fused.pop(), "Graph::pop: the model has no nodes");
}

TEST_CASE("replace_head gives either model a head for other classes and keeps the body", "[train][fine_tune][graph]") {
    Graph<float> g = small_residual_graph(1);
    const Tensor<float> images = random_images(4, 2);
    Adam<float> adam(0.01);
    SoftmaxCrossEntropy<float> loss;
    g.train_step(images, {0, 1, 2, 0}, loss, adam);  // BatchNorm statistics away from their start
    const auto before = snapshot_weights(g);

    const std::size_t head = replace_head(g, 7);
    CHECK(head == 9);
    CHECK(g.layer_name(head) == "logits");
    CHECK(g.layer_name(head + 1) == "softmax");
    CHECK(g.node_inputs(head) == std::vector<std::string>{"flat"});
    CHECK(g.output_shape().per_sample() == 7);
    const auto after = snapshot_weights(g);
    CHECK(after.at("logits.weight").shape() == Shape(7, 64, 1, 1));
    for (const auto& entry : before) {
        INFO(entry.first);
        if (entry.first.rfind("logits.", 0) != 0) CHECK(same_tensor(entry.second, after.at(entry.first)));
    }
    CHECK(g.predict(images).shape() == Shape(4, 7, 1, 1));

    // A Sequential: the same as popping and adding by hand (the new weights come from the model's generator).
    Sequential<float> by_hand = body_and_head(3, 16, 1);
    Sequential<float> replaced = body_and_head(3, 16, 1);
    by_hand.pop();
    by_hand.pop();
    by_hand.add(Dense<float>(7));
    by_hand.add(Softmax<float>());
    CHECK(replace_head(replaced, 7) == 7);
    CHECK(same_tensor(replaced.predict(images), by_hand.predict(images)));

    // Without a Softmax: the Dense alone is the head.
    Sequential<float> logits = body_and_head(3, 16, 1);
    logits.pop();
    replace_head(logits, 2);
    CHECK(logits.layer(logits.size() - 1).type() == "Dense");
    CHECK(logits.output_shape().per_sample() == 2);
}

TEST_CASE("replace_head says why a model has no head it can replace", "[train][fine_tune][graph]") {
    Graph<float> conv(Shape(1, 1, 8, 8));
    conv.add("c", Conv2D<float>(2, 3), {"input"});
    CHECK_THROWS_AS(replace_head(conv, 7), config_error);
    CHECK_THROWS_WITH(replace_head(conv, 7), "Graph::replace_head: expected the model to end in a Dense layer, or a "
                                             "Dense and a Softmax reading it; its last layers are c (Conv2D)");
    conv.add("s", Softmax<float>(), {"c"});
    CHECK_THROWS_WITH(replace_head(conv, 7), Catch::EndsWith("its last layers are s (Softmax) reading c (Conv2D)"));

    Graph<float> branch(Shape(1, 4, 1, 1));
    branch.add("a", Dense<float>(3), {"input"});
    branch.add("b", Dense<float>(3), {"input"});
    branch.add("sum", Add<float>(), {"a", "b"});
    branch.add("d", Dense<float>(3), {"input"});
    branch.add("s", Softmax<float>(), {"sum"});  // the Dense before it is not what it reads
    CHECK_THROWS_WITH(replace_head(branch, 7),
                      "Graph::replace_head: the output node s (Softmax) does not read the Dense node d");
    Sequential<float> empty(Shape(1, 1, 8, 8));
    CHECK_THROWS_WITH(replace_head(empty, 7), Catch::EndsWith("the model has no layers"));
    Sequential<float> model = body_and_head(3, 16, 1);
    CHECK_THROWS_WITH(replace_head(model, 0), "Sequential::replace_head: classes must be positive, got 0");
}

TEST_CASE("layers are frozen by name or up to a name", "[train][fine_tune][graph]") {
    Graph<float> g = small_residual_graph(1);
    CHECK(layer_index(g, "bn2") == 4);
    CHECK_THROWS_AS(layer_index(g, "nope"), config_error);
    CHECK_THROWS_WITH(layer_index(g, "nope"), "Graph: no layer named \"nope\" (its layers are conv ... softmax)");
    CHECK(freeze_through(g, "add") == 6);
    for (std::size_t i = 0; i < g.size(); ++i) CHECK(g.trainable(i) == (i >= 6));
    unfreeze_all(g);
    CHECK(g.trainable_params().size() == g.params().size());

    freeze_layers(g, {"conv", "bn2"});
    CHECK_FALSE(g.trainable(0));
    CHECK_FALSE(g.trainable(4));
    CHECK(g.trainable(3));
    unfreeze_all(g);
    CHECK_THROWS_WITH(freeze_layers(g, {"conv", "missing"}), Catch::StartsWith("Graph: no layer named \"missing\""));
    CHECK(g.trainable(0));  // every name is checked before any layer is frozen

    Sequential<float> s = body_and_head(3, 16, 1);
    CHECK(freeze_through(s, "flatten_5") == 5);
    CHECK(s.trainable_params().size() == 4);  // dense_6 and dense_8
    CHECK_THROWS_WITH(layer_index(s, "dense_2"),
                      "Sequential: no layer named \"dense_2\" (its layers are conv2d_1 ... softmax_9)");
}

namespace {

// The chain of body_and_head as a Graph of the same layers (the same seed draws the same weights).
Graph<float> chain_graph(std::uint64_t seed) {
    Graph<float> g(Shape(1, 1, 8, 8), seed);
    g.add("conv", Conv2D<float>(4, 3), {"input"});
    g.add("bn", BatchNorm<float>(), {"conv"});
    g.add("relu", ReLU<float>(), {"bn"});
    g.add("pool", MaxPool2D<float>(2), {"relu"});
    g.add("flat", Flatten<float>(), {"pool"});
    g.add("hidden", Dense<float>(16), {"flat"});
    g.add("hidden_relu", ReLU<float>(), {"hidden"});
    g.add("logits", Dense<float>(3), {"hidden_relu"});
    g.add("softmax", Softmax<float>(), {"logits"});
    g.set_threads(1);
    return g;
}

}  // namespace

TEST_CASE("a Graph with a frozen body trains only its head, as the same Sequential does", "[train][fine_tune][graph]") {
    Graph<float> g = chain_graph(5);
    Sequential<float> s = body_and_head(3, 16, 5);
    REQUIRE(g.params().size() == s.params().size());
    g.freeze_up_to(replace_head(g, 4));
    s.freeze_up_to(replace_head(s, 4));
    CHECK(g.trainable_params().size() == 2);
    const auto before = snapshot_weights(g);
    const Tensor<float> images = random_images(8, 4);
    const std::vector<int> labels{0, 1, 2, 3, 0, 1, 2, 3};
    Adam<float> g_adam(0.05), s_adam(0.05);
    SoftmaxCrossEntropy<float> loss;
    for (int i = 0; i < 3; ++i) {
        const StepResult a = g.train_step(images, labels, loss, g_adam);
        const StepResult b = s.train_step(images, labels, loss, s_adam);
        CHECK(a.loss == b.loss);
    }
    CHECK(g.layer(1).mode() == Mode::eval);  // the frozen BatchNorm normalises with its running statistics
    const auto after = snapshot_weights(g);
    for (const auto& entry : before) {
        INFO(entry.first);
        CHECK(same_tensor(entry.second, after.at(entry.first)) == (entry.first.rfind("logits.", 0) != 0));
    }
    for (const auto& p : g.params()) {
        INFO(p.name);
        if (p.name.rfind("logits.", 0) != 0) {
            for (float v : *p.grad) REQUIRE(v == 0.0f);  // the frozen nodes' backward was skipped
        }
    }
    CHECK(same_tensor(g.predict(images), s.predict(images)));

    // Unfrozen again, both train the whole net, still bit for bit alike.
    unfreeze_all(g);
    unfreeze_all(s);
    g.train_step(images, labels, loss, g_adam);
    s.train_step(images, labels, loss, s_adam);
    CHECK_FALSE(same_tensor(before.at("conv.weight"), *g.params()[0].value));
    CHECK(same_tensor(*g.params()[0].value, *s.params()[0].value));
}

TEST_CASE("a small Graph pretrained on three emotions of the sample is fine-tuned to seven", "[train][fine_tune][graph]") {
    const Fer2013Dataset data =
        read_fer2013(std::string(DEEPCNN_TEST_DIR) + "/../examples/data/fer2013_sample3.csv.gz", Fer2013Options());
    const ClassSelection three = select_classes("", count_emotions(data));
    UsageSplits<float> splits3 = split_by_usage<float>(data, three);
    const Normalization norm = fit_normalization(splits3.train.images);
    normalize(splits3.train.images, norm);

    // Pretrained: a strided stem, a residual block at 6 x 6, global pooling and a 3-way head.
    Graph<float> pretrained(Shape(1, 1, 48, 48), 3);
    pretrained.set_threads(2);
    pretrained.add("stem", Conv2D<float>(4, 3).with_stride(2, 2), {"input"});
    pretrained.add("stem_bn", BatchNorm<float>(), {"stem"});
    pretrained.add("stem_relu", ReLU<float>(), {"stem_bn"});
    pretrained.add("pool", MaxPool2D<float>(4), {"stem_relu"});
    pretrained.add("res_conv", Conv2D<float>(4, 3), {"pool"});
    pretrained.add("res_bn", BatchNorm<float>(), {"res_conv"});
    pretrained.add("res_add", Add<float>(), {"pool", "res_bn"});
    pretrained.add("res_relu", ReLU<float>(), {"res_add"});
    pretrained.add("gap", GlobalAvgPool2D<float>(), {"res_relu"});
    pretrained.add("head", Dense<float>(3), {"gap"});
    pretrained.add("softmax", Softmax<float>(), {"head"});
    TrainerOptions options;
    options.epochs = 1;
    options.batch = 64;
    options.verbosity = Verbosity::silent;
    Adam<float> adam(0.01);
    fit(pretrained, adam, splits3.train.images, splits3.train.labels, options);
    deepcnn_test::TempDir dir;
    save_model(dir.file("three.dcnn"), pretrained);

    // Seven classes, label = emotion code; the sample has three of them.
    const ClassSelection seven = select_all_classes();
    UsageSplits<float> splits = split_by_usage<float>(data, seven);
    normalize(splits.train.images, norm);
    normalize(splits.validation.images, norm);
    Graph<float> model = std::get<Graph<float>>(load_any_model<float>(dir.file("three.dcnn")));
    model.set_threads(2);
    model.rng().reseed(11);
    model.freeze_up_to(replace_head(model, 7));
    const auto body = snapshot_weights(model);
    TensorSource<float> validation(splits.validation.images, splits.validation.labels);
    const double loss_before = evaluate_classifier(model, validation, false).loss;

    options.epochs = 3;
    Adam<float> head_adam(0.02);
    Trainer<Graph<float>> trainer(model, head_adam, options);
    TensorSource<float> train(splits.train.images, splits.train.labels);
    trainer.fit(train, &validation);
    const ClassifierEvaluation<float> tuned = evaluate_classifier(model, validation, false);
    CHECK(tuned.probabilities.shape() == Shape(splits.validation.size(), 7, 1, 1));
    // The new head learns at least which three emotions the data holds: from about log 7 towards log 3 or lower.
    INFO("validation loss " << loss_before << " -> " << tuned.loss);
    CHECK(tuned.loss < loss_before - 0.3);
    const auto after = snapshot_weights(model);
    for (const auto& entry : body) {
        INFO(entry.first);
        CHECK(same_tensor(entry.second, after.at(entry.first)) == (entry.first.rfind("head.", 0) != 0));
    }
}

TEST_CASE("Graph::clone is a deep copy that predicts and trains as the original, apart from it", "[train][fine_tune][graph]") {
    Graph<float> original = small_residual_graph(1);
    const Tensor<float> images = random_images(6, 2);
    const std::vector<int> labels{0, 1, 2, 0, 1, 2};
    SoftmaxCrossEntropy<float> loss;
    Adam<float> adam(0.01);
    original.train_step(images, labels, loss, adam);  // BatchNorm statistics away from their start
    original.freeze(0);

    Graph<float> copy = original.clone();
    REQUIRE(copy.size() == original.size());
    CHECK(copy.summary() == original.summary());
    CHECK_FALSE(copy.trainable(0));
    CHECK(copy.fused(2) == original.fused(2));
    const Tensor<float> before = original.predict(images);
    CHECK(same_tensor(copy.predict(images), before));

    // The same steps from here give the same bits; the copy's steps leave the original alone.
    Adam<float> copy_adam(0.01), original_adam(0.01);
    for (int i = 0; i < 3; ++i) copy.train_step(images, labels, loss, copy_adam);
    CHECK(same_tensor(original.predict(images), before));
    CHECK_FALSE(same_tensor(copy.predict(images), before));
    for (int i = 0; i < 3; ++i) original.train_step(images, labels, loss, original_adam);
    CHECK(same_tensor(copy.predict(images), original.predict(images)));
}
