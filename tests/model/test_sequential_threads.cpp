// tests/model/test_sequential_threads.cpp: Sequential::set_threads: training steps on several threads give
// bit-identical parameters to one thread for the same seed; and a steady-state training step of a Sequential or a
// Graph allocates nothing through operator new.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
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

// A residual block with a concatenated branch, every node kind Graph handles (fused and unfused ReLUs, Add, Concat).
[[maybe_unused]] Graph<float> small_graph(int threads) {  // unused where AddressSanitizer skips the count
    Graph<float> g(Shape(1, 1, 12, 12), 42);
    g.set_threads(threads);
    g.add("conv1", Conv2D<float>(8, 3), {"input"});
    g.add("bn1", BatchNorm<float>(), {"conv1"});
    g.add("relu1", ReLU<float>(), {"bn1"});
    g.add("conv2", Conv2D<float>(8, 3), {"relu1"});
    g.add("add", Add<float>(), {"relu1", "conv2"});
    g.add("relu2", ReLU<float>(), {"add"});
    g.add("side", Conv2D<float>(4, 1), {"input"});
    g.add("join", Concat<float>(), {"relu2", "side"});
    g.add("pool", MaxPool2D<float>(2), {"join"});
    g.add("flatten", Flatten<float>(), {"pool"});
    g.add("dense", Dense<float>(3), {"flatten"});
    g.add("softmax", Softmax<float>(), {"dense"});
    return g;
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

// Counts every operator new of the test program (the library's strings and vectors; its tensors allocate
// through Eigen's aligned malloc, which this does not see). Left out under AddressSanitizer, which supplies its
// own operator new.
#if !defined(__SANITIZE_ADDRESS__)
namespace {
std::atomic<long> operator_new_calls{0};
}  // namespace

// GCC 12 takes the replaced operator new for the built-in one and warns of free() in the deletes that match it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
    operator_new_calls.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif

TEST_CASE("A training step with Adam and SGD allocates no strings or vectors once its buffers have grown",
          "[model][threads]") {
#if defined(__SANITIZE_ADDRESS__)
    WARN("not counted under AddressSanitizer");
#else
    Rng rng(3);
    Tensor<float> x(Shape(6, 1, 12, 12));
    for (auto& v : x) v = static_cast<float>(rng.uniform(-1.0, 1.0));
    const std::vector<int> labels{0, 1, 2, 1, 0, 2};
    SoftmaxCrossEntropy<float> loss;
    SgdOptions momentum;
    momentum.momentum = 0.9;
    Adam<float> adam(1e-3);
    Sgd<float> sgd(momentum);
    for (Optimizer<float>* optimizer : std::vector<Optimizer<float>*>{&adam, &sgd}) {
        INFO(optimizer->type());
        Sequential<float> model = small_net(2);
        model.set_timing(true);
        for (int step = 0; step < 2; ++step) model.train_step(x, labels, loss, *optimizer);
        const long before = operator_new_calls.load();
        for (int step = 0; step < 3; ++step) model.train_step(x, labels, loss, *optimizer);
        CHECK(operator_new_calls.load() - before == 0);
        Graph<float> graph = small_graph(2);
        graph.set_timing(true);
        for (int step = 0; step < 2; ++step) graph.train_step(x, labels, loss, *optimizer);
        const long graph_before = operator_new_calls.load();
        for (int step = 0; step < 3; ++step) graph.train_step(x, labels, loss, *optimizer);
        CHECK(operator_new_calls.load() - graph_before == 0);
    }
#endif
}
