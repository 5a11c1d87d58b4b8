// tests/layers/test_add.cpp: Add: hand-computed sums of two and three inputs, the shape error naming both shapes,
// one input as the identity, and the double-precision gradient check of every input.
#include <catch2/catch.hpp>

#include <deepcnn/layers/add.hpp>

#include "gradient_check.hpp"

#include <vector>

using namespace deepcnn;
using deepcnn_test::check_merge_gradients;
using deepcnn_test::random_tensor;

TEST_CASE("Add sums its inputs and passes the gradient to each", "[layers][add]") {
    Add<double> add;
    Rng rng(0);
    add.build({Shape(1, 1, 1, 3), Shape(1, 1, 1, 3), Shape(1, 1, 1, 3)}, rng);
    const Tensor<double> a(Shape(2, 1, 1, 3), {1, 2, 3, 4, 5, 6});
    const Tensor<double> b(Shape(2, 1, 1, 3), {10, 20, 30, 40, 50, 60});
    const Tensor<double> c(Shape(2, 1, 1, 3), {100, 200, 300, 400, 500, 600});
    Tensor<double> y;
    add.forward({&a, &b, &c}, y);
    CHECK(std::vector<double>(y.begin(), y.end()) == std::vector<double>{111, 222, 333, 444, 555, 666});
    const Tensor<double> dy(Shape(2, 1, 1, 3), {1, -1, 2, -2, 3, -3});
    Tensor<double> da, db, dc;
    add.backward(dy, {&da, &db, &dc});
    for (const Tensor<double>* dx : {&da, &db, &dc}) CHECK(std::vector<double>(dx->begin(), dx->end()) ==
                                                           std::vector<double>(dy.begin(), dy.end()));
    CHECK(add.type() == "Add");
    CHECK(add.params().empty());
}

TEST_CASE("Add names both shapes when its inputs differ", "[layers][add][errors]") {
    Add<float> add;
    add.set_label("node \"res2_add\" (Add)");
    Rng rng(0);
    CHECK_THROWS_WITH(add.build({Shape(1, 64, 24, 24), Shape(1, 32, 24, 24)}, rng),
                      "node \"res2_add\" (Add): inputs (64, 24, 24) and (32, 24, 24) differ");
    add.build({Shape(1, 4, 2, 2), Shape(1, 4, 2, 2)}, rng);
    const Tensor<float> x(Shape(1, 4, 2, 2)), wrong(Shape(1, 4, 1, 4));
    Tensor<float> y;
    CHECK_THROWS_AS(add.forward({&x, &wrong}, y), shape_error);
    CHECK_THROWS_AS(add.forward({&x}, y), shape_error);
    Tensor<float> dx;
    CHECK_THROWS_WITH(Add<float>().backward(x, dx), "Add: backward called without a forward pass");
}

TEST_CASE("Add of one input is the identity through the single-input interface", "[layers][add]") {
    Add<double> add;
    Rng rng(2);
    const Tensor<double> x = random_tensor(Shape(3, 2, 2, 2), rng);
    add.build(x.shape(), rng);
    const Tensor<double> y = add.forward(x);
    CHECK(std::vector<double>(y.begin(), y.end()) == std::vector<double>(x.begin(), x.end()));
}

TEST_CASE("Add gradients match central differences", "[layers][add][gradient]") {
    Add<double> add;
    Rng rng(3);
    check_merge_gradients(add, {random_tensor(Shape(2, 3, 4, 5), rng), random_tensor(Shape(2, 3, 4, 5), rng)});
}
