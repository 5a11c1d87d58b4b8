// tests/model/test_graph_torch.cpp: a residual block built as a Graph<double> (conv-bn-relu-conv-bn + skip, add,
// relu) against PyTorch as an oracle: the same input, parameters and upstream gradient give the same output, input
// gradient, parameter gradients and BatchNorm running statistics. The oracle is tests/model/residual_block_oracle.py,
// run with /usr/bin/python3; where that cannot import torch the test says it skipped.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include "gradient_check.hpp"
#include "io/temp_files.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace deepcnn;

namespace {

void write_oracle_tensor(std::ostream& out, const std::string& name, const Tensor<double>& t,
                         const std::vector<int>& dims) {
    out << name;
    for (int d : dims) out << ' ' << d;
    out << " :";
    char buf[32];
    for (double v : t) {
        std::snprintf(buf, sizeof buf, " %.17g", v);
        out << buf;
    }
    out << '\n';
}

std::map<std::string, std::vector<double>> read_oracle_tensors(const std::string& path) {
    std::map<std::string, std::vector<double>> tensors;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        const auto colon = line.find(':');
        std::istringstream head(line.substr(0, colon)), values(line.substr(colon + 1));
        std::string name;
        head >> name;
        for (double v; values >> v;) tensors[name].push_back(v);
    }
    return tensors;
}

void check_oracle_close(const std::string& name, const Tensor<double>& ours, const std::vector<double>& theirs) {
    INFO(name);
    REQUIRE(ours.size() == theirs.size());
    double worst = 0.0;
    for (std::size_t i = 0; i < theirs.size(); ++i) {
        worst = std::max(worst, std::abs(ours[i] - theirs[i]) / std::max(1.0, std::abs(theirs[i])));
    }
    INFO("worst relative difference " << worst);
    CHECK(worst < 1e-10);
}

}  // namespace

TEST_CASE("a residual block as a Graph matches PyTorch: output, every gradient, running statistics",
          "[model][graph][torch]") {
    if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0) {
        WARN("skipped: /usr/bin/python3 cannot import torch (install python3-torch to run the PyTorch oracle)");
        return;
    }
    const int N = 3, C = 4, H = 6, W = 5;
    Graph<double> g(Shape(1, C, H, W), 1, "x");
    g.add("conv1", Conv2D<double>(C, 3), {"x"});
    g.add("bn1", BatchNorm<double>(0.9, 1e-3), {"conv1"});
    g.add("relu1", ReLU<double>(), {"bn1"});
    g.add("conv2", Conv2D<double>(C, 3), {"relu1"});
    g.add("bn2", BatchNorm<double>(0.9, 1e-3), {"conv2"});
    g.add("add", Add<double>(), {"x", "bn2"});
    g.add("relu", ReLU<double>(), {"add"});
    Rng rng(2026);
    for (auto& p : g.params())
        for (auto& v : *p.value) v = rng.uniform(-0.5, 0.5);
    const Tensor<double> x = deepcnn_test::random_tensor(Shape(N, C, H, W), rng);
    g.train();
    const Tensor<double> y = g.forward(x);
    const Tensor<double> dy = deepcnn_test::random_tensor(y.shape(), rng);
    const Tensor<double> dx = g.backward(dy);

    deepcnn_test::TempDir dir;
    {
        std::ofstream in(dir.file("in.txt"));
        write_oracle_tensor(in, "x", x, {N, C, H, W});
        write_oracle_tensor(in, "dy", dy, {N, C, H, W});
        write_oracle_tensor(in, "eps", Tensor<double>(Shape(1, 1, 1, 1), 1e-3), {1});
        write_oracle_tensor(in, "momentum", Tensor<double>(Shape(1, 1, 1, 1), 0.9), {1});
        for (auto& p : g.params()) {
            const Shape& s = p.value->shape();
            write_oracle_tensor(in, p.name, *p.value, {s.n, s.c, s.h, s.w});
        }
    }
    const std::string command = "/usr/bin/python3 " + std::string(DEEPCNN_TEST_DIR) +
                                "/model/residual_block_oracle.py " + dir.file("in.txt") + " " + dir.file("out.txt");
    REQUIRE(std::system(command.c_str()) == 0);
    auto torch = read_oracle_tensors(dir.file("out.txt"));
    check_oracle_close("y", y, torch["y"]);
    check_oracle_close("dx", dx, torch["dx"]);
    for (auto& p : g.params()) check_oracle_close(p.name + " gradient", *p.grad, torch[p.name]);
    for (auto& b : g.buffers()) check_oracle_close(b.name, *b.value, torch[b.name]);
}
