// tests/layers/test_batch_norm.cpp: BatchNorm: batch statistics in training (per channel for images, per feature
// for flat input), the running-statistics update, eval mode on running statistics computed by hand, buffers vs
// parameters, the gradient check through the batch statistics (training) and through the affine map (eval), and
// synchronised BatchNorm (two shards in two threads equal the whole batch).
#include <catch2/catch.hpp>

#include <deepcnn/layers/batch_norm.hpp>

#include "gradient_check.hpp"

#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace deepcnn;
using deepcnn_test::check_layer_gradients;
using deepcnn_test::random_tensor;
using deepcnn_test::randomize_params;

TEST_CASE("BatchNorm training normalises with the biased batch variance and updates running statistics",
          "[layers][batch_norm]") {
    BatchNorm<double> bn(0.9, 1e-3);
    Rng rng(0);
    bn.build(Shape(1, 1, 1, 3), rng);
    const Tensor<double> x(Shape(2, 1, 1, 3), {1, 2, 3, 4, 5, 6});
    const Tensor<double> y = bn.forward(x);
    // mean 3.5, biased variance 17.5 / 6, unbiased variance 3.5
    const double inv_std = 1.0 / std::sqrt(17.5 / 6.0 + 1e-3);
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(y[i] == Approx((x[i] - 3.5) * inv_std).epsilon(1e-12));
    CHECK(bn.running_mean()[0] == Approx(0.9 * 0.0 + 0.1 * 3.5).epsilon(1e-12));
    CHECK(bn.running_var()[0] == Approx(0.9 * 1.0 + 0.1 * 3.5).epsilon(1e-12));

    bn.forward(x);  // a second identical batch moves the running statistics again
    CHECK(bn.running_mean()[0] == Approx(0.9 * 0.35 + 0.1 * 3.5).epsilon(1e-12));
    CHECK(bn.running_var()[0] == Approx(0.9 * 1.25 + 0.1 * 3.5).epsilon(1e-12));
}

TEST_CASE("BatchNorm keeps separate statistics per channel and per flat feature", "[layers][batch_norm]") {
    Rng rng(0);
    SECTION("images: statistics over N, H, W of each channel") {
        BatchNorm<double> bn;
        bn.build(Shape(1, 2, 2, 2), rng);
        Rng data(4);
        Tensor<double> x = random_tensor(Shape(3, 2, 2, 2), data);
        for (int n = 0; n < 3; ++n)
            for (int i = 0; i < 4; ++i) x.sample(n)[4 + i] = 10.0 * x.sample(n)[4 + i] + 100.0;
        bn.gamma() = Tensor<double>(Shape(1, 2, 1, 1), {2.0, 0.5});
        bn.beta() = Tensor<double>(Shape(1, 2, 1, 1), {-1.0, 3.0});
        const Tensor<double> y = bn.forward(x);
        for (int c = 0; c < 2; ++c) {
            double mean = 0.0, var = 0.0;
            for (int n = 0; n < 3; ++n)
                for (int i = 0; i < 4; ++i) mean += x.sample(n)[c * 4 + i] / 12.0;
            for (int n = 0; n < 3; ++n)
                for (int i = 0; i < 4; ++i) var += std::pow(x.sample(n)[c * 4 + i] - mean, 2) / 12.0;
            for (int n = 0; n < 3; ++n)
                for (int i = 0; i < 4; ++i) {
                    const double expected = bn.gamma()[c] * (x.sample(n)[c * 4 + i] - mean) / std::sqrt(var + 1e-3) +
                                            bn.beta()[c];
                    CHECK(y.sample(n)[c * 4 + i] == Approx(expected).epsilon(1e-10));
                }
        }
    }
    SECTION("flat input: statistics over N of each feature") {
        BatchNorm<double> bn;
        bn.build(Shape(1, 2, 1, 1), rng);
        const Tensor<double> x(Shape(3, 2, 1, 1), {1, 10, 2, 20, 3, 30});
        const Tensor<double> y = bn.forward(x);
        const double inv0 = 1.0 / std::sqrt(2.0 / 3.0 + 1e-3), inv1 = 1.0 / std::sqrt(200.0 / 3.0 + 1e-3);
        CHECK(y[0] == Approx(-1.0 * inv0).epsilon(1e-12));
        CHECK(y[1] == Approx(-10.0 * inv1).epsilon(1e-12));
        CHECK(y[2] == Approx(0.0).margin(1e-12));
        CHECK(y[3] == Approx(0.0).margin(1e-12));
        CHECK(y[4] == Approx(1.0 * inv0).epsilon(1e-12));
        CHECK(y[5] == Approx(10.0 * inv1).epsilon(1e-12));
    }
}

TEST_CASE("BatchNorm eval mode uses the running statistics and leaves them alone", "[layers][batch_norm]") {
    BatchNorm<double> bn(0.99, 1e-3);
    Rng rng(0);
    bn.build(Shape(1, 2, 1, 2), rng);
    bn.running_mean() = Tensor<double>(Shape(1, 2, 1, 1), {1.0, -2.0});
    bn.running_var() = Tensor<double>(Shape(1, 2, 1, 1), {4.0 - 1e-3, 0.25 - 1e-3});  // std 2 and 0.5
    bn.gamma() = Tensor<double>(Shape(1, 2, 1, 1), {2.0, 0.5});
    bn.beta() = Tensor<double>(Shape(1, 2, 1, 1), {0.5, 1.0});
    bn.set_mode(Mode::eval);
    // sample 0: channel 0 [3, -1], channel 1 [-2, -1]; sample 1: channel 0 [1, 5], channel 1 [0, -3]
    const Tensor<double> x(Shape(2, 2, 1, 2), {3, -1, -2, -1, 1, 5, 0, -3});
    const Tensor<double> y = bn.forward(x);
    // y = gamma (x - mean) / std + beta
    const std::vector<double> expected = {2.0 * (3 - 1) / 2 + 0.5,   2.0 * (-1 - 1) / 2 + 0.5,
                                          0.5 * (-2 + 2) / 0.5 + 1.0, 0.5 * (-1 + 2) / 0.5 + 1.0,
                                          2.0 * (1 - 1) / 2 + 0.5,   2.0 * (5 - 1) / 2 + 0.5,
                                          0.5 * (0 + 2) / 0.5 + 1.0,  0.5 * (-3 + 2) / 0.5 + 1.0};
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(y[i] == Approx(expected[i]).epsilon(1e-12));
    CHECK(bn.running_mean()[0] == 1.0);
    CHECK(bn.running_var()[1] == 0.25 - 1e-3);

    // eval backward: dx = gamma / std * dy, dgamma = sum dy x_hat, dbeta = sum dy
    const Tensor<double> dy(Shape(2, 2, 1, 2), {1, 2, 3, 4, 5, 6, 7, 8});
    const Tensor<double> dx = bn.backward(dy);
    CHECK(dx[0] == Approx(1.0 * 2.0 / 2.0).epsilon(1e-9));
    CHECK(dx[3] == Approx(4.0 * 0.5 / 0.5).epsilon(1e-9));
    CHECK(dx[5] == Approx(6.0).epsilon(1e-9));
    auto params = bn.params();
    CHECK((*params[1].grad)[0] == Approx(1 + 2 + 5 + 6));
    CHECK((*params[1].grad)[1] == Approx(3 + 4 + 7 + 8));
    // x_hat channel 0: [1, -1, 0, 2]; channel 1: [0, 2, 4, -2]
    CHECK((*params[0].grad)[0] == Approx(1 * 1 + 2 * -1 + 5 * 0 + 6 * 2).epsilon(1e-9));
    CHECK((*params[0].grad)[1] == Approx(3 * 0 + 4 * 2 + 7 * 4 + 8 * -2).epsilon(1e-9));
}

TEST_CASE("BatchNorm running statistics are buffers, gamma and beta are parameters", "[layers][batch_norm]") {
    BatchNorm<float> bn;
    Rng rng(0);
    bn.build(Shape(1, 3, 4, 4), rng);
    auto params = bn.params();
    REQUIRE(params.size() == 2);
    CHECK(params[0].name == "gamma");
    CHECK(params[1].name == "beta");
    auto buffers = bn.buffers();
    REQUIRE(buffers.size() == 2);
    CHECK(buffers[0].name == "running_mean");
    CHECK(buffers[1].name == "running_var");
    for (int c = 0; c < 3; ++c) {
        CHECK(bn.gamma()[c] == 1.0f);
        CHECK(bn.beta()[c] == 0.0f);
        CHECK(bn.running_mean()[c] == 0.0f);
        CHECK(bn.running_var()[c] == 1.0f);
    }
    CHECK(bn.output_shape(Shape(5, 3, 4, 4)) == Shape(5, 3, 4, 4));
    CHECK_THROWS_AS(BatchNorm<float>(1.0), config_error);
    CHECK_THROWS_AS(BatchNorm<float>(0.9, 0.0), config_error);
}

TEST_CASE("BatchNorm gradients match central differences", "[layers][batch_norm][gradient]") {
    Rng rng(21);
    SECTION("training mode, images: the full backward through the batch statistics") {
        BatchNorm<double> bn;
        bn.build(Shape(1, 3, 3, 2), rng);
        randomize_params(bn, rng, 0.5, 1.5);
        check_layer_gradients(bn, random_tensor(Shape(2, 3, 3, 2), rng), 3);
    }
    SECTION("training mode, flat features") {
        BatchNorm<double> bn(0.9, 1e-2);
        bn.build(Shape(1, 4, 1, 1), rng);
        randomize_params(bn, rng, -1.0, 1.0);
        check_layer_gradients(bn, random_tensor(Shape(5, 4, 1, 1), rng, -2.0, 2.0), 4);
    }
    SECTION("eval mode: running statistics are constants") {
        BatchNorm<double> bn;
        bn.build(Shape(1, 2, 2, 3), rng);
        randomize_params(bn, rng);
        for (auto& v : bn.running_mean()) v = rng.uniform(-1.0, 1.0);
        for (auto& v : bn.running_var()) v = rng.uniform(0.5, 2.0);
        bn.set_mode(Mode::eval);
        check_layer_gradients(bn, random_tensor(Shape(3, 2, 2, 3), rng), 5);
    }
}

TEST_CASE("BatchNorm gradients match central differences on runs longer than the 8-wide sums",
          "[layers][batch_norm][gradient]") {
    Rng rng(23);
    BatchNorm<double> bn;
    bn.build(Shape(1, 2, 3, 7), rng);
    randomize_params(bn, rng, 0.5, 1.5);
    check_layer_gradients(bn, random_tensor(Shape(3, 2, 3, 7), rng), 6);
}

// Plain two-pass reference in double for one channel layout (N, C, H, W): forward in training mode and the
// backward through the batch statistics.
static void batch_norm_reference(const Tensor<float>& x, const Tensor<float>& dy, const std::vector<double>& gamma,
                                 const std::vector<double>& beta, double eps, std::vector<double>& y,
                                 std::vector<double>& dx) {
    const int N = x.n(), C = x.c();
    const long S = static_cast<long>(x.h()) * x.w();
    const double M = double(N) * S;
    y.assign(x.size(), 0.0);
    dx.assign(x.size(), 0.0);
    for (int c = 0; c < C; ++c) {
        auto at = [&](int n, long i) { return (static_cast<long>(n) * C + c) * S + i; };
        double mean = 0.0, var = 0.0;
        for (int n = 0; n < N; ++n)
            for (long i = 0; i < S; ++i) mean += x[at(n, i)];
        mean /= M;
        for (int n = 0; n < N; ++n)
            for (long i = 0; i < S; ++i) var += (x[at(n, i)] - mean) * (x[at(n, i)] - mean);
        var /= M;
        const double inv_std = 1.0 / std::sqrt(var + eps);
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int n = 0; n < N; ++n)
            for (long i = 0; i < S; ++i) {
                const double xhat = (x[at(n, i)] - mean) * inv_std;
                y[at(n, i)] = gamma[c] * xhat + beta[c];
                sum_dy += dy[at(n, i)];
                sum_dy_xhat += dy[at(n, i)] * xhat;
            }
        for (int n = 0; n < N; ++n)
            for (long i = 0; i < S; ++i) {
                const double xhat = (x[at(n, i)] - mean) * inv_std;
                dx[at(n, i)] = gamma[c] * inv_std / M * (M * dy[at(n, i)] - sum_dy - xhat * sum_dy_xhat);
            }
    }
}

TEST_CASE("BatchNorm in float matches a double reference, also for channels whose mean dwarfs their spread",
          "[layers][batch_norm]") {
    Rng rng(5);
    const Shape shape(4, 3, 9, 11);
    Tensor<float> x(shape), dy(shape);
    for (int n = 0; n < shape.n; ++n)
        for (int c = 0; c < shape.c; ++c)
            for (long i = 0; i < 99; ++i) {
                const double centre = c == 0 ? 0.0 : (c == 1 ? 1000.0 : -250.0);
                x[(static_cast<long>(n) * 3 + c) * 99 + i] = static_cast<float>(centre + rng.uniform(-1.0, 1.0));
            }
    for (auto& v : dy) v = static_cast<float>(rng.uniform(-1.0, 1.0));
    for (const bool retained : {false, true}) {
        BatchNorm<float> bn(0.9, 1e-3);
        bn.build(Shape(1, 3, 9, 11), rng);
        bn.set_input_retained(retained);
        const std::vector<double> gamma = {0.7, 1.3, -0.4}, beta = {0.1, -0.2, 0.3};
        for (int c = 0; c < 3; ++c) {
            bn.gamma()[c] = static_cast<float>(gamma[c]);
            bn.beta()[c] = static_cast<float>(beta[c]);
        }
        std::vector<double> y_ref, dx_ref;
        batch_norm_reference(x, dy, gamma, beta, 1e-3, y_ref, dx_ref);
        const Tensor<float> y = bn.forward(x);
        const Tensor<float> dx = bn.backward(dy);
        for (std::size_t i = 0; i < x.size(); ++i) {
            REQUIRE(y[i] == Approx(y_ref[i]).margin(2e-3));
            REQUIRE(dx[i] == Approx(dx_ref[i]).margin(2e-3));
        }
        CHECK(bn.running_mean()[1] == Approx(0.1 * 1000.0).epsilon(1e-3));
    }
}

TEST_CASE("BatchNorm with the following ReLU fused matches central differences", "[layers][batch_norm][gradient]") {
    Rng rng(31);
    BatchNorm<double> bn;
    bn.build(Shape(1, 2, 2, 4), rng);
    REQUIRE(bn.fuse_following_relu());
    randomize_params(bn, rng, 0.5, 1.5);
    check_layer_gradients(bn, random_tensor(Shape(3, 2, 2, 4), rng), 7);

    BatchNorm<double> flat;
    flat.build(Shape(1, 6, 1, 1), rng);
    CHECK_FALSE(flat.fuse_following_relu());  // one value per channel and image: not a whole mask byte
}

namespace {

// PyTorch's relative error (max |y - y_double| / max |y_double|) for float batch_norm in training mode on `x`, or a
// negative number when /usr/bin/python3 with torch is not available.
double torch_batch_norm_relative_error(const Tensor<float>& x, double eps) {
    char path[] = "/tmp/deepcnn_bn_XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) return -1.0;
    ::close(fd);
    {
        std::ofstream out(path);
        out.precision(9);
        for (float v : x) out << v << "\n";
    }
    const Shape s = x.shape();
    const std::string command = "/usr/bin/python3 -c \"import sys, torch\n"
                                "x = torch.tensor([float(l) for l in open(sys.argv[1])], dtype=torch.float64)"
                                ".reshape(" + std::to_string(s.n) + "," + std::to_string(s.c) + "," +
                                std::to_string(s.h) + "," + std::to_string(s.w) + ")\n"
                                "f = torch.nn.functional.batch_norm\n"
                                "ref = f(x, None, None, training=True, eps=" + std::to_string(eps) + ")\n"
                                "y = f(x.float(), None, None, training=True, eps=" + std::to_string(eps) + ").double()\n"
                                "print(((y - ref).abs().max() / ref.abs().max()).item())\" " + path + " 2>/dev/null";
    double error = -1.0;
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
        if (std::fscanf(pipe, "%lf", &error) != 1) error = -1.0;
        if (::pclose(pipe) != 0) error = -1.0;
    }
    ::unlink(path);
    return error;
}

}  // namespace

TEST_CASE("BatchNorm's float variance keeps its digits on 1000 + N(0, 1) with a zero first element, as PyTorch does",
          "[layers][batch_norm][torch]") {
    // Issue 25: the sums were shifted by each channel's first element; with that element 0 and the rest near 1000
    // the shifted sums cancelled, and the output's relative error was 3.5e-4 (PyTorch: about 8e-8).
    Rng rng(25);
    const Shape shape(8, 4, 8, 8);
    Tensor<float> x(shape), dy(shape);
    for (auto& v : x) v = static_cast<float>(1000.0 + rng.normal());
    for (int c = 0; c < shape.c; ++c) x[static_cast<std::size_t>(c) * 64] = 0.0f;  // sample 0's first element
    for (auto& v : dy) v = 0.0f;
    BatchNorm<float> bn(0.9, 1e-3);
    bn.build(Shape(1, 4, 8, 8), rng);
    const Tensor<float> y = bn.forward(x);
    std::vector<double> y_ref, dx_ref;
    batch_norm_reference(x, dy, {1.0, 1.0, 1.0, 1.0}, {0.0, 0.0, 0.0, 0.0}, 1e-3, y_ref, dx_ref);
    double max_error = 0.0, max_value = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        max_error = std::max(max_error, std::abs(double(y[i]) - y_ref[i]));
        max_value = std::max(max_value, std::abs(y_ref[i]));
    }
    const double ours = max_error / max_value;
    CHECK(ours < 1e-6);
    const double torch = torch_batch_norm_relative_error(x, 1e-3);
    if (torch < 0) {
        WARN("/usr/bin/python3 with torch not found: the PyTorch comparison is skipped (ours: " << ours << ")");
    } else {
        INFO("relative error: deepcnn " << ours << ", PyTorch " << torch);
        CHECK(ours <= 4.0 * torch);
    }
}

namespace batch_norm_test {

// Ranks that are threads of this process: sum() adds every rank's data in rank order and gives each the result,
// as a Communicator's sums do.
class ThreadRanks {
public:
    explicit ThreadRanks(int ranks) : slots_(static_cast<std::size_t>(ranks)) {
        for (int r = 0; r < ranks; ++r) syncs_.emplace_back(*this, r);
    }
    BatchNormSync& sync(int rank) { return syncs_[static_cast<std::size_t>(rank)]; }
    int calls() const { return calls_; }

private:
    struct RankSync final : BatchNormSync {
        RankSync(ThreadRanks& group, int rank) : group_(group), rank_(rank) {}
        void sum(double* data, std::size_t count) override { group_.sum(rank_, data, count); }
        ThreadRanks& group_;
        int rank_;
    };
    void wait_for_all() {
        std::unique_lock<std::mutex> lock(mutex_);
        const long generation = generation_;
        if (++arrived_ == static_cast<int>(slots_.size())) {
            arrived_ = 0;
            ++generation_;
            all_arrived_.notify_all();
        } else {
            all_arrived_.wait(lock, [&] { return generation_ != generation; });
        }
    }
    void sum(int rank, double* data, std::size_t count) {
        slots_[static_cast<std::size_t>(rank)] = data;
        wait_for_all();
        if (rank == 0) {
            ++calls_;
            result_.assign(data, data + count);
            for (std::size_t r = 1; r < slots_.size(); ++r)
                for (std::size_t i = 0; i < count; ++i) result_[i] += slots_[r][i];
        }
        wait_for_all();
        std::copy(result_.begin(), result_.end(), data);
        wait_for_all();
    }

    std::vector<double*> slots_;
    std::vector<RankSync> syncs_;
    std::vector<double> result_;
    std::mutex mutex_;
    std::condition_variable all_arrived_;
    int arrived_ = 0, calls_ = 0;
    long generation_ = 0;
};

}  // namespace batch_norm_test

TEST_CASE("Synchronised BatchNorm on shards of a batch equals BatchNorm on the whole batch", "[layers][batch_norm]") {
    // Shards of 2 and 4 samples (shares 1/3 and 2/3); each rank's dy is 1 / share times the whole batch's, as
    // data-parallel training's per-rank mean loss gives.
    const int N = 6, C = 3;
    const int first[] = {0, 2}, count[] = {2, 4};
    Rng rng(31);
    const Tensor<double> x = random_tensor<double>(Shape(N, C, 2, 4), rng, -2.0, 3.0);
    const Tensor<double> dy = random_tensor<double>(x.shape(), rng);
    Rng build_rng(1);
    BatchNorm<double> whole(0.9);
    whole.build(Shape(1, C, 2, 4), build_rng);
    randomize_params(whole, rng);
    const Tensor<double> y = whole.forward(x);
    const Tensor<double> dx = whole.backward(dy);

    batch_norm_test::ThreadRanks ranks(2);
    BatchNorm<double> shard0(0.9), shard1(0.9);
    BatchNorm<double>* shards[] = {&shard0, &shard1};
    Tensor<double> ys[2], dxs[2];
    const auto run_rank = [&](int r) {
        BatchNorm<double>& bn = *shards[r];
        Rng unused(1);
        bn.build(Shape(1, C, 2, 4), unused);
        bn.gamma() = whole.gamma();
        bn.beta() = whole.beta();
        bn.set_sync(&ranks.sync(r));
        const double share = double(count[r]) / N;
        Tensor<double> dy_shard = dy.slice(first[r], count[r]);
        for (auto& v : dy_shard) v /= share;
        ys[r] = bn.forward(x.slice(first[r], count[r]));
        dxs[r] = bn.backward(dy_shard);
    };
    std::thread other(run_rank, 1);
    run_rank(0);
    other.join();
    REQUIRE(ranks.calls() == 3);  // forward: count and sums, then the shifted sums; backward: the gradient sums

    for (int r = 0; r < 2; ++r) {
        const double share = double(count[r]) / N;
        const std::size_t offset = static_cast<std::size_t>(first[r]) * x.shape().per_sample();
        for (std::size_t i = 0; i < ys[r].size(); ++i) {
            REQUIRE(ys[r][i] == Approx(y[offset + i]).margin(1e-12));
            REQUIRE(dxs[r][i] * share == Approx(dx[offset + i]).margin(1e-12));
        }
        for (int c = 0; c < C; ++c) {
            REQUIRE(shards[r]->running_mean()[c] == Approx(whole.running_mean()[c]).margin(1e-12));
            REQUIRE(shards[r]->running_var()[c] == Approx(whole.running_var()[c]).margin(1e-12));
        }
    }
    // dgamma and dbeta stay each rank's own: weighted by the shares (as the gradient sums do) they add up.
    for (std::size_t p = 0; p < 2; ++p) {
        const Tensor<double>& expected = *whole.params()[p].grad;
        const Tensor<double>& a = *shard0.params()[p].grad;
        const Tensor<double>& b = *shard1.params()[p].grad;
        for (int c = 0; c < C; ++c) REQUIRE(a[c] / 3 + b[c] * 2 / 3 == Approx(expected[c]).margin(1e-12));
    }
}
