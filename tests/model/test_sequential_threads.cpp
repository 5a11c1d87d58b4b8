// tests/model/test_sequential_threads.cpp: Sequential::set_threads: training steps on several threads give
// bit-identical parameters to one thread for the same seed.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <vector>

using namespace deepcnn;

namespace {

Sequential<float> small_net(int threads) {
    Sequential<float> model(Shape(1, 1, 12, 12), 42);
    model.set_threads(threads);
    model.add(Conv2D<float>(8, 3));
    model.add(BatchNorm<float>());
    model.add(ReLU<float>());
    model.add(MaxPool2D<float>(2));
    model.add(Conv2D<float>(30, 3));
    model.add(ReLU<float>());
    model.add(Flatten<float>());
    model.add(Dropout<float>(0.3));
    model.add(Dense<float>(3));
    model.add(Softmax<float>());
    return model;
}

}  // namespace

TEST_CASE("Sequential trains bit-identically on 1, 2 and 3 threads", "[model][threads]") {
    Rng rng(9);
    Tensor<float> x(Shape(5, 1, 12, 12));
    for (auto& v : x) v = static_cast<float>(rng.uniform(-1.0, 1.0));
    const std::vector<int> labels{0, 1, 2, 1, 0};
    std::vector<std::vector<float>> finals;
    for (int threads : {1, 2, 3}) {
        Sequential<float> model = small_net(threads);
        CHECK(model.threads() == threads);
        SoftmaxCrossEntropy<float> loss;
        Adam<float> optimizer(1e-3);
        for (int step = 0; step < 3; ++step) model.train_step(x, labels, loss, optimizer);
        std::vector<float> values;
        for (auto& p : model.params()) values.insert(values.end(), p.value->begin(), p.value->end());
        finals.push_back(values);
    }
    CHECK(finals[1] == finals[0]);
    CHECK(finals[2] == finals[0]);
}
