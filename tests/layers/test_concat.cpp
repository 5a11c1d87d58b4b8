// tests/layers/test_concat.cpp: Concat: channels joined in input order (images and flat features), gradient slices,
// the shape error, and the double-precision gradient check of every input.
#include <catch2/catch.hpp>

#include <deepcnn/layers/concat.hpp>

#include "gradient_check.hpp"

#include <vector>

using namespace deepcnn;
using deepcnn_test::check_merge_gradients;
using deepcnn_test::random_tensor;

TEST_CASE("Concat joins channels in input order and slices the gradient back", "[layers][concat]") {
    Concat<double> concat;
    Rng rng(0);
    concat.build({Shape(1, 1, 1, 2), Shape(1, 2, 1, 2)}, rng);
    CHECK(concat.merged_shape({Shape(5, 1, 1, 2), Shape(5, 2, 1, 2)}) == Shape(5, 3, 1, 2));
    const Tensor<double> a(Shape(2, 1, 1, 2), {1, 2, 3, 4});
    const Tensor<double> b(Shape(2, 2, 1, 2), {10, 20, 30, 40, 50, 60, 70, 80});
    Tensor<double> y;
    concat.forward({&a, &b}, y);
    REQUIRE(y.shape() == Shape(2, 3, 1, 2));
    CHECK(std::vector<double>(y.begin(), y.end()) ==
          std::vector<double>{1, 2, 10, 20, 30, 40, 3, 4, 50, 60, 70, 80});
    Tensor<double> da, db;
    concat.backward(y, {&da, &db});
    CHECK(std::vector<double>(da.begin(), da.end()) == std::vector<double>(a.begin(), a.end()));
    CHECK(std::vector<double>(db.begin(), db.end()) == std::vector<double>(b.begin(), b.end()));
}

TEST_CASE("Concat joins flat features and names the shapes that do not fit", "[layers][concat][errors]") {
    Concat<float> concat;
    CHECK(concat.merged_shape({Shape(1, 3, 1, 1), Shape(1, 5, 1, 1)}) == Shape(1, 8, 1, 1));
    concat.set_label("node \"join\" (Concat)");
    Rng rng(0);
    CHECK_THROWS_WITH(concat.build({Shape(1, 64, 24, 24), Shape(1, 32, 12, 12)}, rng),
                      "node \"join\" (Concat): inputs (64, 24, 24) and (32, 12, 12) differ in height or width");
}

TEST_CASE("Concat gradients match central differences", "[layers][concat][gradient]") {
    Concat<double> concat;
    Rng rng(4);
    check_merge_gradients(concat, {random_tensor(Shape(2, 2, 3, 3), rng), random_tensor(Shape(2, 3, 3, 3), rng),
                                   random_tensor(Shape(2, 1, 3, 3), rng)});
}
