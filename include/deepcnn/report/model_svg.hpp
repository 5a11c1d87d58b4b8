// deepcnn/report/model_svg.hpp: a picture of a model as Keras' plot_model draws one: a box per node (the input and
// every layer) with its name, type and output shape, and arrows from each node to the nodes that read it. Nodes are
// placed in rows by depth (one more than their deepest input); an arrow that skips rows (a residual connection) runs
// down a lane to the right of the boxes. model_svg() returns the file's bytes; write_model_svg() writes them
// atomically. Works for Sequential and Graph; drawing primitives are svg.hpp's.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "../io/atomic_file.hpp"
#include "../model/graph.hpp"
#include "../model/sequential.hpp"
#include "svg.hpp"

namespace deepcnn {

// What the picture shows of one node: node 0 is the model's input.
struct ModelPictureNode {
    std::string name;
    std::string type;
    Shape shape;              // per-sample output shape
    std::vector<int> inputs;  // indices of earlier nodes
};

template <class Scalar>
std::vector<ModelPictureNode> model_picture_nodes(const Sequential<Scalar>& model) {
    std::vector<ModelPictureNode> nodes{{"input", "Input", model.input_shape(), {}}};
    Shape shape = model.input_shape();
    for (std::size_t i = 0; i < model.size(); ++i) {
        shape = model.layer(i).output_shape(shape);
        nodes.push_back({model.layer_name(i), model.layer(i).type(), shape, {static_cast<int>(i)}});
    }
    return nodes;
}

template <class Scalar>
std::vector<ModelPictureNode> model_picture_nodes(const Graph<Scalar>& model) {
    std::vector<ModelPictureNode> nodes{{model.input_name(), "Input", model.input_shape(), {}}};
    for (std::size_t i = 0; i < model.size(); ++i) {
        ModelPictureNode node{model.layer_name(i), model.layer(i).type(), model.node_shape(i), {}};
        for (const auto& input : model.node_inputs(i)) {
            for (std::size_t k = 0; k < nodes.size(); ++k)
                if (nodes[k].name == input) node.inputs.push_back(static_cast<int>(k));
        }
        nodes.push_back(std::move(node));
    }
    return nodes;
}

namespace detail {

// A box's fill by the kind of layer, so that the eye finds convolutions, normalisation and merges.
inline const char* model_node_fill(const std::string& type) {
    if (type == "Input") return "#e8e8e8";
    if (type == "Conv2D" || type == "Dense") return "#cfe2f3";
    if (type == "BatchNorm") return "#fff2cc";
    if (type == "ReLU" || type == "Softmax") return "#d9ead3";
    if (type == "MaxPool2D" || type == "AvgPool2D" || type == "GlobalAvgPool2D") return "#f4cccc";
    if (type == "Add" || type == "Concat") return "#ead1dc";
    return "#f3f3f3";
}

}  // namespace detail

// The picture of `nodes` (see ModelPictureNode) as SVG bytes, titled `title`.
inline std::string model_svg(const std::vector<ModelPictureNode>& nodes, const std::string& title) {
    constexpr double font = 12, margin = 20, box_h = 44, row_gap = 34, col_gap = 24, lane_gap = 14, pad = 12;
    std::vector<int> depth(nodes.size(), 0);
    int max_depth = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        for (int input : nodes[i].inputs) depth[i] = std::max(depth[i], depth[static_cast<std::size_t>(input)] + 1);
        max_depth = std::max(max_depth, depth[i]);
    }
    double box_w = 120;
    for (const auto& node : nodes) {
        box_w = std::max(box_w, estimate_text_width(node.name + ": " + node.type, font, true) + 2 * pad);
        box_w = std::max(box_w, estimate_text_width(node.shape.sample_str(), font) + 2 * pad);
    }
    // columns within each row, in node order
    std::vector<int> column(nodes.size(), 0), row_count(static_cast<std::size_t>(max_depth) + 1, 0);
    for (std::size_t i = 0; i < nodes.size(); ++i) column[i] = row_count[static_cast<std::size_t>(depth[i])]++;
    const int widest_row = *std::max_element(row_count.begin(), row_count.end());
    const double rows_w = widest_row * box_w + (widest_row - 1) * col_gap;
    int long_edges = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i)
        for (int input : nodes[i].inputs) long_edges += depth[i] - depth[static_cast<std::size_t>(input)] > 1;
    const double width = 2 * margin + rows_w + (long_edges > 0 ? lane_gap * (long_edges + 1) : 0);
    const double title_h = 28;
    const double height = 2 * margin + title_h + (max_depth + 1) * box_h + max_depth * row_gap;
    const auto box_x = [&](std::size_t i) {
        const int count = row_count[static_cast<std::size_t>(depth[i])];
        const double row_w = count * box_w + (count - 1) * col_gap;
        return margin + (rows_w - row_w) / 2 + column[i] * (box_w + col_gap);
    };
    const auto box_y = [&](std::size_t i) { return margin + title_h + depth[i] * (box_h + row_gap); };

    SvgDocument svg(width, height);
    svg.set_title(title);
    TextStyle heading;
    heading.size = 14;
    heading.bold = true;
    svg.text(margin, margin + 12, title, heading);
    const std::string edge_colour = "#555555";
    const auto arrow_head = [&](double x, double y) {
        svg.line(x - 4, y - 6, x, y, edge_colour, 1.3);
        svg.line(x + 4, y - 6, x, y, edge_colour, 1.3);
    };
    int lane = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        for (int input : nodes[i].inputs) {
            const auto k = static_cast<std::size_t>(input);
            const double x0 = box_x(k) + box_w / 2, y0 = box_y(k) + box_h;
            const double x1 = box_x(i) + box_w / 2, y1 = box_y(i);
            if (depth[i] - depth[k] == 1) {
                svg.line(x0, y0, x1, y1, edge_colour, 1.3);
                arrow_head(x1, y1);
            } else {  // leaves and enters right of centre, apart from the arrows between neighbouring rows
                const double off = std::min(box_w / 4, 30.0);
                const double lane_x = margin + rows_w + lane_gap * (++lane);
                svg.polyline({{x0 + off, y0}, {x0 + off, y0 + row_gap / 2}, {lane_x, y0 + row_gap / 2},
                              {lane_x, y1 - row_gap / 2}, {x1 + off, y1 - row_gap / 2}, {x1 + off, y1}},
                             edge_colour, 1.3);
                arrow_head(x1 + off, y1);
            }
        }
    }
    TextStyle name_style;
    name_style.size = font;
    name_style.anchor = "middle";
    name_style.bold = true;
    TextStyle shape_style = name_style;
    shape_style.bold = false;
    shape_style.fill = "#444444";
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const double x = box_x(i), y = box_y(i);
        svg.rect(x, y, box_w, box_h, detail::model_node_fill(nodes[i].type), "#333333", 1, 4);
        svg.text(x + box_w / 2, y + 18, nodes[i].name + ": " + nodes[i].type, name_style);
        svg.text(x + box_w / 2, y + 35, nodes[i].shape.sample_str(), shape_style);
    }
    return svg.str();
}

// The picture of a Sequential or a Graph as SVG bytes.
template <class Model>
std::string model_svg(const Model& model, const std::string& title = "Model") {
    return model_svg(model_picture_nodes(model), title);
}

// Writes model_svg(model) to `path` atomically (write_file_atomically).
template <class Model>
void write_model_svg(const std::string& path, const Model& model, const std::string& title = "Model") {
    write_file_atomically(path, model_svg(model, title));
}

}  // namespace deepcnn
