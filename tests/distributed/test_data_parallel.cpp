// tests/distributed/test_data_parallel.cpp: the communicator interface and data-parallel training within one
// process: SingleProcessCommunicator's contract; a Trainer with a one-rank communicator gives the bits of one
// without (Sequential and Graph, BatchNorm per rank or synchronised, Dropout, augmentation); its split validation
// gives evaluate_classifier's figures; gradient sums start while backward runs (overlap) or after it; the batch must
// hold a sample per rank. Several ranks: tests/distributed.cmake (mpirun).
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "../test_nets.hpp"

using namespace deepcnn;

namespace data_parallel_test {

Sequential<float> small_net() { return deepcnn_test::small_chain(3, 3, /*softmax=*/false); }

Graph<float> small_graph() {
    Graph<float> g(Shape(1, 1, 8, 8), 3);
    g.add("conv", Conv2D<float>(4, 3), {"input"});
    g.add("bn", BatchNorm<float>(), {"conv"});
    g.add("relu", ReLU<float>(), {"bn"});
    g.add("sum", Add<float>(), {"relu", "conv"});
    g.add("flat", Flatten<float>(), {"sum"});
    g.add("dense", Dense<float>(3), {"flat"});
    return g;
}

void make_data(Tensor<float>& images, std::vector<int>& labels) {
    Rng rng(9);
    images = Tensor<float>(Shape(40, 1, 8, 8));
    labels.resize(40);
    for (int n = 0; n < 40; ++n) {
        labels[static_cast<std::size_t>(n)] = n % 3;
        for (int k = 0; k < 64; ++k) images.sample(n)[k] = float((k % 3 == n % 3 ? 1.0 : 0.0) + 0.3 * rng.uniform());
    }
}

TrainerOptions options() {
    TrainerOptions o;
    o.epochs = 2;
    o.batch = 16;  // 40 samples: a last batch of 8
    o.augment = true;
    o.verbosity = Verbosity::silent;
    o.gradient_bucket_bytes = 64;
    return o;
}

template <class Model>
std::map<std::string, Tensor<float>> trained(Model model, Communicator* comm, bool sync_batch_norm = false) {
    Tensor<float> images;
    std::vector<int> labels;
    make_data(images, labels);
    Adam<float> adam(1e-2);
    TrainerOptions o = options();
    o.communicator = comm;
    o.sync_batch_norm = sync_batch_norm;
    Trainer<Model> trainer(model, adam, o);
    trainer.fit(images, labels);
    return snapshot_weights(model);
}

void require_same(const std::map<std::string, Tensor<float>>& a, const std::map<std::string, Tensor<float>>& b) {
    REQUIRE(a.size() == b.size());
    for (const auto& entry : a) {
        const Tensor<float>& other = b.at(entry.first);
        REQUIRE(other.shape() == entry.second.shape());
        for (std::size_t i = 0; i < other.size(); ++i) {
            INFO(entry.first << "[" << i << "]");
            REQUIRE(other[i] == entry.second[i]);
        }
    }
}

// One rank that records what the data-parallel machinery asks of it: "start N" (a sum of N values), "progress"
// (between layers of backward), "wait". `ranks` is the size it claims (its sums stay one-rank sums).
class RecordingCommunicator : public SingleProcessCommunicator {
public:
    explicit RecordingCommunicator(int ranks = 1) : ranks_(ranks) {}
    int size() const override { return ranks_; }
    Request start_sum(float* data, std::size_t count) override {
        events.push_back("start " + std::to_string(count));
        return SingleProcessCommunicator::start_sum(data, count);
    }
    void wait(Request request) override {
        events.push_back("wait");
        SingleProcessCommunicator::wait(request);
    }
    void progress() override { events.push_back("progress"); }
    std::vector<std::string> events;

private:
    int ranks_;
};

}  // namespace data_parallel_test

using namespace data_parallel_test;

TEST_CASE("SingleProcessCommunicator: rank 0 of 1, sums leave the data, bad requests and roots throw",
          "[distributed]") {
    SingleProcessCommunicator comm;
    REQUIRE(comm.rank() == 0);
    REQUIRE(comm.size() == 1);
    REQUIRE(comm.where() == "rank 0 of 1");
    std::vector<float> data{1.5f, -2.0f};
    comm.sum(data.data(), data.size());
    REQUIRE(data == std::vector<float>{1.5f, -2.0f});
    double d = 3.0;
    const Communicator::Request request = comm.start_sum(&d, 1);
    comm.wait(request);
    REQUIRE(d == 3.0);
    REQUIRE_THROWS_WITH(comm.wait(request + 1), "SingleProcessCommunicator::wait: no request " + std::to_string(request + 1));
    comm.broadcast(&d, sizeof(d), 0);
    REQUIRE_THROWS_AS(comm.broadcast(&d, sizeof(d), 1), communicator_error);
    comm.barrier();
}

TEST_CASE("Trainer: a one-rank communicator trains to the bits of no communicator", "[distributed][trainer]") {
    SingleProcessCommunicator comm;
    SECTION("Sequential (BatchNorm, Dropout, augmentation)") {
        require_same(trained(small_net(), &comm), trained(small_net(), nullptr));
    }
    SECTION("Graph") { require_same(trained(small_graph(), &comm), trained(small_graph(), nullptr)); }
    SECTION("Synchronised BatchNorm") {
        require_same(trained(small_net(), &comm, true), trained(small_net(), nullptr));
        require_same(trained(small_graph(), &comm, true), trained(small_graph(), nullptr));
    }
}

TEST_CASE("DataParallel: validation split over one rank gives evaluate_classifier's figures", "[distributed]") {
    Tensor<float> images;
    std::vector<int> labels;
    make_data(images, labels);
    Sequential<float> model = small_net();
    model.eval();
    SingleProcessCommunicator comm;
    DataParallel<Sequential<float>> parallel(model, comm);
    TensorSource<float> source(images, labels);
    for (const TestTimeAugmentation tta : {TestTimeAugmentation{false, 0}, TestTimeAugmentation{true, 0},
                                           TestTimeAugmentation{true, 2}}) {
        const ClassifierEvaluation<float> own = evaluate_classifier(model, source, tta, 16);
        const ClassifierEvaluation<float> split = parallel.evaluate_classifier(source, tta, 16);
        REQUIRE(split.loss == own.loss);
        REQUIRE(split.accuracy == own.accuracy);
        REQUIRE(split.labels == own.labels);
        REQUIRE(split.predicted == own.predicted);
        REQUIRE(std::equal(split.probabilities.begin(), split.probabilities.end(), own.probabilities.begin(),
                           own.probabilities.end()));
    }
}

TEST_CASE("DataParallel: gradient sums start while backward runs, or after it without overlap", "[distributed]") {
    Tensor<float> images;
    std::vector<int> labels;
    make_data(images, labels);
    for (const bool overlap : {true, false}) {
        INFO("overlap " << overlap);
        Sequential<float> model = small_net();
        RecordingCommunicator comm;
        DataParallel<Sequential<float>> parallel(model, comm, 64, overlap);
        // Buckets from the last layer back, each at least 64 bytes: dense (weight 3 x 64, bias 3: 195 values),
        // then batchnorm (gamma, beta) with conv (bias, weight 4 x 9): 48 values.
        REQUIRE(parallel.bucket_count() == 2);
        Sgd<float> sgd(0.1);
        SoftmaxCrossEntropy<float> loss;
        parallel.begin_step(16);
        parallel.end_step(model.train_step(images.slice(0, 16), {labels.begin(), labels.begin() + 16}, loss, sgd));
        const auto& e = comm.events;
        const auto at = [&](const std::string& event) { return std::find(e.begin(), e.end(), event) - e.begin(); };
        const auto last_progress = e.rend() - std::find(e.rbegin(), e.rend(), std::string("progress")) - 1;
        REQUIRE(at("start 8") > last_progress);  // BatchNorm's running statistics, after backward
        if (overlap) {
            // The dense bucket starts right after the dense layer's backward, four layers' backward before the
            // conv bucket (dropout, flatten, pooling, batchnorm with its fused ReLU).
            REQUIRE(e.front() == "start 195");
            REQUIRE(std::count(e.begin(), e.begin() + at("start 48"), std::string("progress")) == 5);
        } else {
            REQUIRE(at("start 195") > last_progress);
            REQUIRE(at("start 48") > last_progress);
        }
        REQUIRE(parallel.timings().steps == 1);
    }
}

TEST_CASE("Trainer: data-parallel needs a sample per rank in the batch", "[distributed][trainer]") {
    Sequential<float> model = small_net();
    Sgd<float> sgd(0.1);
    RecordingCommunicator comm(4);
    TrainerOptions o = options();
    o.batch = 3;
    o.communicator = &comm;
    REQUIRE_THROWS_WITH((Trainer<Sequential<float>>(model, sgd, o)),
                        "Trainer: the batch (3) must be at least the number of ranks (4)");
}
