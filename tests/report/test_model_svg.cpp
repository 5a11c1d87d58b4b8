// tests/report/test_model_svg.cpp: model_svg, the plot_model-style picture: one box per node with name, type and
// output shape, one arrow per input (a residual connection routed down a lane), for a Graph and a Sequential; and
// write_model_svg writing the file.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "io/temp_files.hpp"

using namespace deepcnn;

namespace {

std::size_t svg_occurrences(const std::string& text, const std::string& what) {
    std::size_t count = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
    return count;
}

}  // namespace

TEST_CASE("model_svg draws a Graph's nodes, shapes and edges, the skip connection down a lane", "[report][model_svg]") {
    Graph<float> g(Shape(1, 1, 8, 8), 1);
    g.add("conv1", Conv2D<float>(4, 3), {"input"});
    g.add("bn1", BatchNorm<float>(), {"conv1"});
    g.add("relu1", ReLU<float>(), {"bn1"});
    g.add("conv2", Conv2D<float>(4, 3), {"relu1"});
    g.add("res_add", Add<float>(), {"relu1", "conv2"});
    g.add("side", Conv2D<float>(2, 1), {"input"});
    g.add("join", Concat<float>(), {"res_add", "side"});
    const std::string svg = model_svg(g, "residual <block>");
    CHECK_THAT(svg, Catch::Matchers::StartsWith("<?xml"));
    CHECK_THAT(svg, Catch::Matchers::Contains("<title>residual &lt;block&gt;</title>"));
    for (const char* label : {"input: Input", "conv1: Conv2D", "res_add: Add", "join: Concat", "side: Conv2D"})
        CHECK_THAT(svg, Catch::Matchers::Contains(label));
    CHECK_THAT(svg, Catch::Matchers::Contains(">(6, 8, 8)</text>"));
    CHECK(svg_occurrences(svg, "<rect") == 1 + 8);  // background + input + 7 nodes
    // 9 edges, each with an arrow head of two lines; the ones skipping rows (relu1 -> res_add, input -> side is
    // one row, side -> join skips two) are polylines
    CHECK(svg_occurrences(svg, "<polyline") == 2);
    CHECK(svg_occurrences(svg, "<line") == 9 * 2 + 9 - 2);
}

TEST_CASE("model_svg draws a Sequential as a chain and write_model_svg writes it", "[report][model_svg]") {
    Sequential<float> model(Shape(1, 1, 8, 8), 1);
    model.add(Conv2D<float>(4, 3));
    model.add(ReLU<float>());
    model.add(Flatten<float>());
    model.add(Dense<float>(3));
    deepcnn_test::TempDir dir;
    write_model_svg(dir.file("model.svg"), model);
    std::ifstream in(dir.file("model.svg"));
    std::stringstream text;
    text << in.rdbuf();
    CHECK(text.str() == model_svg(model));
    CHECK_THAT(text.str(), Catch::Matchers::Contains("dense_4: Dense"));
    CHECK_THAT(text.str(), Catch::Matchers::Contains(">(256)</text>"));
    CHECK(svg_occurrences(text.str(), "<polyline") == 0);
    CHECK(svg_occurrences(text.str(), "<line") == 4 * 3);
}
