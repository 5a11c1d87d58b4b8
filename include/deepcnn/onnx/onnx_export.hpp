// deepcnn/onnx/onnx_export.hpp: save_onnx / encode_onnx, a Sequential or Graph as an ONNX model (opset 13, IR
// version 7) for inference: each layer becomes the ONNX node of docs/onnx.md's table (Conv, BatchNormalization,
// Relu, MaxPool, AveragePool, GlobalAveragePool, Flatten, Gemm, Add / Sum, Concat, Softmax; Dropout is left out),
// 'same' padding is written as explicit pads, and OnnxExportOptions adds the input's preprocessing (Sub, Mul), the
// class names and the model's metadata. Layer types of a user's own are refused, naming the node.
#pragma once

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../data/normalize.hpp"
#include "../error.hpp"
#include "../io/atomic_file.hpp"
#include "../io/model_file.hpp"
#include "../kernels/conv_geometry.hpp"
#include "../model/graph.hpp"
#include "../model/sequential.hpp"
#include "onnx_proto.hpp"

namespace deepcnn {

// The one opset deepcnn writes (default domain) and the IR version of the files.
constexpr std::int64_t onnx_opset = 13;
constexpr std::int64_t onnx_ir_version = 7;

// What the exported file says beyond the layers.
struct OnnxExportOptions {
    std::string input_name = "input";    // the graph input: float (N, C, H, W), N symbolic
    std::string output_name = "output";  // the graph output: (N, K) for a flat output, else (N, C, H, W)
    // Applied to the input inside the graph, before the first layer: x' = (x - mean) / stddev, written as
    // Sub(mean) then Mul(1 / stddev) in float, exactly as deepcnn::normalize computes it. Unset: no preprocessing.
    std::optional<Normalization> preprocessing;
    // Written to metadata_props "classes", one name a line (a name may not hold a line break).
    std::vector<std::string> class_names;
    // The model file's metadata, written to metadata_props as "deepcnn.text.KEY", "deepcnn.number.KEY" (17
    // significant digits) and "deepcnn.integer.KEY", and read back by load_onnx.
    ModelMetadata metadata;
    // End with the probabilities model.predict() returns: a Softmax is appended where the last layer is not one
    // and the output is flat.
    bool probabilities = true;
};

namespace detail {

// How export sees one node of either model type.
template <class Scalar>
struct ExportNode {
    std::string name;
    Layer<Scalar>* layer;
    std::vector<std::string> inputs;
};

inline std::string shortest_decimal(double value) {
    char text[40];
    std::snprintf(text, sizeof text, "%.17g", value);
    return text;
}

inline onnx::AttributeProto attr_ints(const std::string& name, std::vector<std::int64_t> values) {
    onnx::AttributeProto a;
    a.name = name;
    a.type = onnx::attr_ints;
    a.ints = std::move(values);
    return a;
}
inline onnx::AttributeProto attr_int(const std::string& name, std::int64_t value) {
    onnx::AttributeProto a;
    a.name = name;
    a.type = onnx::attr_int;
    a.i = value;
    return a;
}
inline onnx::AttributeProto attr_float(const std::string& name, float value) {
    onnx::AttributeProto a;
    a.name = name;
    a.type = onnx::attr_float;
    a.f = value;
    return a;
}

// ONNX pads [top, left, bottom, right] of a window layer configured by `config` on input `in`: deepcnn's 'same'
// puts the odd row / column at the bottom / right, explicit padding is symmetric.
inline std::vector<std::int64_t> onnx_pads(const LayerConfig& config, const std::string& kh_key,
                                           const std::string& kw_key, const Shape& in) {
    const std::string type = "window";
    const Padding padding = config_padding(config, type);
    const int kh = config_int(config, type, kh_key, 1, 1 << 24), kw = config_int(config, type, kw_key, 1, 1 << 24);
    const int sh = config_int(config, type, "stride_h", 1, 1 << 24), sw = config_int(config, type, "stride_w", 1, 1 << 24);
    int oh = 0, ow = 0, top = 0, left = 0;
    conv_output_dim(in.h, kh, sh, padding, true, oh, top);
    conv_output_dim(in.w, kw, sw, padding, false, ow, left);
    int bottom = top, right = left;
    if (padding.mode == PaddingMode::same) {
        bottom = std::max((oh - 1) * sh + kh - in.h, 0) - top;
        right = std::max((ow - 1) * sw + kw - in.w, 0) - left;
    }
    return {top, left, bottom, right};
}

template <class Scalar>
onnx::TensorProto onnx_tensor(const std::string& name, const Tensor<Scalar>& t, std::vector<std::int64_t> dims) {
    onnx::TensorProto out;
    out.name = name;
    out.data_type = onnx::float32;
    out.dims = std::move(dims);
    out.floats.reserve(t.size());
    for (Scalar v : t) out.floats.push_back(static_cast<float>(v));
    return out;
}

inline onnx::TensorProto onnx_scalar(const std::string& name, float value) {
    onnx::TensorProto out;
    out.name = name;
    out.data_type = onnx::float32;
    out.floats = {value};
    return out;
}

// Builds the ONNX graph node by node; tracks each value's ONNX name and rank (deepcnn keeps every tensor 4-D,
// ONNX's flat tensors are (N, F)).
template <class Scalar>
class OnnxGraphWriter {
public:
    explicit OnnxGraphWriter(onnx::GraphProto& graph) : graph_(graph) {}

    void input(const std::string& name, const Shape& shape, const std::string& onnx_name) {
        onnx::ValueInfoProto v;
        v.name = onnx_name;
        v.elem_type = onnx::float32;
        v.has_shape = true;
        v.dims = {-1, shape.c, shape.h, shape.w};
        v.dim_params = {"N", "", "", ""};
        graph_.inputs.push_back(v);
        values_[name] = {onnx_name, 4};
    }
    void preprocess(const std::string& name, const Normalization& norm) {
        if (!(norm.stddev > 0.0)) throw config_error("save_onnx: preprocessing stddev must be > 0");
        const Value in = values_.at(name);
        graph_.initializers.push_back(onnx_scalar("preprocess.mean", static_cast<float>(norm.mean)));
        graph_.initializers.push_back(onnx_scalar("preprocess.inv_std", static_cast<float>(1.0 / norm.stddev)));
        node("Sub", "preprocess.sub", {in.name, "preprocess.mean"}, "preprocess.centred");
        node("Mul", "preprocess.mul", {"preprocess.centred", "preprocess.inv_std"}, "preprocess.scaled");
        values_[name] = {"preprocess.scaled", in.rank};
    }

    void layer(const ExportNode<Scalar>& n) {
        Layer<Scalar>& layer = *n.layer;
        const std::string type = layer.type();
        const std::string where = "save_onnx: node \"" + n.name + "\" (" + type + ")";
        std::vector<Value> ins;
        for (const auto& input : n.inputs) ins.push_back(values_.at(input));
        const LayerConfig config = layer.config();
        const Shape in = layer.input_shape();
        const auto params = named_params(layer);
        if (type == "Dropout") {
            values_[n.name] = ins.front();
            return;
        }
        if (type == "Conv2D") {
            need_rank(ins.front(), 4, where);
            const Tensor<Scalar>& w = *params.at("weight");
            std::vector<std::string> inputs{ins.front().name, initializer(n.name + ".weight", w,
                                                                        {w.n(), w.c(), w.h(), w.w()})};
            if (params.count("bias")) inputs.push_back(initializer(n.name + ".bias", *params.at("bias"), {w.n()}));
            auto& conv = node("Conv", n.name, inputs, n.name);
            conv.attributes = {attr_ints("dilations", {1, 1}),
                               attr_int("group", config_int_or(config, type, "groups", 1, 1 << 24, 1)),
                               attr_ints("kernel_shape", {w.h(), w.w()}),
                               attr_ints("pads", onnx_pads(config, "kernel_h", "kernel_w", in)),
                               attr_ints("strides", {config_int(config, type, "stride_h", 1, 1 << 24),
                                                     config_int(config, type, "stride_w", 1, 1 << 24)})};
            values_[n.name] = {n.name, 4};
        } else if (type == "BatchNorm") {
            auto buffers = layer.buffers();
            const Tensor<Scalar>* mean = nullptr;
            const Tensor<Scalar>* var = nullptr;
            for (auto& b : buffers) (b.name == "running_mean" ? mean : var) = b.value;
            const std::int64_t channels = static_cast<std::int64_t>(params.at("gamma")->size());
            auto& bn = node("BatchNormalization", n.name,
                            {ins.front().name, initializer(n.name + ".gamma", *params.at("gamma"), {channels}),
                             initializer(n.name + ".beta", *params.at("beta"), {channels}),
                             initializer(n.name + ".running_mean", *mean, {channels}),
                             initializer(n.name + ".running_var", *var, {channels})},
                            n.name);
            bn.attributes = {attr_float("epsilon", static_cast<float>(config_number(config, type, "eps"))),
                             attr_float("momentum", static_cast<float>(config_number(config, type, "momentum")))};
            values_[n.name] = {n.name, ins.front().rank};
        } else if (type == "ReLU") {
            node("Relu", n.name, {ins.front().name}, n.name);
            values_[n.name] = ins.front();
            values_[n.name].name = n.name;
        } else if (type == "Softmax") {
            node("Softmax", n.name, {ins.front().name}, n.name).attributes = {attr_int("axis", 1)};
            values_[n.name] = {n.name, ins.front().rank};
        } else if (type == "MaxPool2D" || type == "AvgPool2D") {
            need_rank(ins.front(), 4, where);
            const bool max = type == "MaxPool2D";
            std::vector<std::int64_t> pads = onnx_pads(config, "pool_h", "pool_w", in);
            const bool include_pad = !max && config_int(config, type, "count_include_pad", 0, 1) == 1;
            std::string x = ins.front().name;
            if (include_pad && pads != std::vector<std::int64_t>{0, 0, 0, 0}) {
                // Padding cells that count in the average are zeros of the input: a Pad node, then the pooling
                // without pads. The same numbers as AveragePool's count_include_pad, which OpenCV 4.6 ignores.
                onnx::TensorProto amounts;
                amounts.name = n.name + ".pads";
                amounts.data_type = onnx::int64;
                amounts.dims = {8};
                amounts.ints = {0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]};
                graph_.initializers.push_back(amounts);
                node("Pad", n.name + ".pad", {x, amounts.name}, n.name + ".pad");
                x = n.name + ".pad";
                pads = {0, 0, 0, 0};
            }
            auto& pool = node(max ? "MaxPool" : "AveragePool", n.name, {x}, n.name);
            pool.attributes = {attr_ints("kernel_shape", {config_int(config, type, "pool_h", 1, 1 << 24),
                                                          config_int(config, type, "pool_w", 1, 1 << 24)}),
                               attr_ints("pads", pads),
                               attr_ints("strides", {config_int(config, type, "stride_h", 1, 1 << 24),
                                                     config_int(config, type, "stride_w", 1, 1 << 24)})};
            if (!max) pool.attributes.push_back(attr_int("count_include_pad", include_pad ? 1 : 0));
            values_[n.name] = {n.name, 4};
        } else if (type == "GlobalAvgPool2D") {
            need_rank(ins.front(), 4, where);
            node("GlobalAveragePool", n.name, {ins.front().name}, n.name);
            values_[n.name] = {n.name, 4};
        } else if (type == "Flatten") {
            values_[n.name] = {flat(ins.front(), n.name), 2};
        } else if (type == "Dense") {
            const std::string x = flat(ins.front(), n.name + ".flatten");
            const Tensor<Scalar>& w = *params.at("weight");
            std::vector<std::string> inputs{x, initializer(n.name + ".weight", w, {w.n(), w.c()})};
            if (params.count("bias")) inputs.push_back(initializer(n.name + ".bias", *params.at("bias"), {w.n()}));
            node("Gemm", n.name, inputs, n.name).attributes = {attr_int("transB", 1)};
            values_[n.name] = {n.name, 2};
        } else if (type == "Add" || type == "Concat") {
            int rank = 4;
            for (const auto& v : ins) rank = std::min(rank, v.rank);
            std::vector<std::string> inputs;
            for (std::size_t i = 0; i < ins.size(); ++i) {
                inputs.push_back(rank == 2 ? flat(ins[i], n.name + ".flatten" + std::to_string(i)) : ins[i].name);
            }
            if (inputs.size() == 1) {
                node("Identity", n.name, inputs, n.name);
            } else if (type == "Concat") {
                node("Concat", n.name, inputs, n.name).attributes = {attr_int("axis", 1)};
            } else {
                node(inputs.size() == 2 ? "Add" : "Sum", n.name, inputs, n.name);
            }
            values_[n.name] = {n.name, rank};
        } else {
            throw serialization_error(where + ": no ONNX mapping for layer type '" + type + "'");
        }
    }

    // Names the model's output `onnx_name`, flat outputs as (N, K), after a Softmax if `probabilities` asks for one.
    void output(const std::string& name, const std::string& last_type, const Shape& shape, const std::string& onnx_name,
                bool probabilities) {
        Value v = values_.at(name);
        const bool is_flat = shape.h == 1 && shape.w == 1;
        if (is_flat) v = {flat(v, "output.flatten"), 2};
        if (is_flat && probabilities && last_type != "Softmax") {
            node("Softmax", "output.softmax", {v.name}, "output.softmax").attributes = {attr_int("axis", 1)};
            v = {"output.softmax", 2};
        }
        rename(v.name, onnx_name);
        onnx::ValueInfoProto out;
        out.name = onnx_name;
        out.elem_type = onnx::float32;
        out.has_shape = true;
        out.dims = is_flat ? std::vector<std::int64_t>{-1, shape.c} : std::vector<std::int64_t>{-1, shape.c, shape.h, shape.w};
        out.dim_params = {"N", "", "", ""};
        out.dim_params.resize(out.dims.size());
        graph_.outputs.push_back(out);
    }

private:
    struct Value {
        std::string name;  // ONNX value name
        int rank = 4;
    };

    static std::map<std::string, const Tensor<Scalar>*> named_params(Layer<Scalar>& layer) {
        std::map<std::string, const Tensor<Scalar>*> out;
        for (auto& p : layer.params()) out[p.name] = p.value;
        return out;
    }
    static void need_rank(const Value& v, int rank, const std::string& where) {
        if (v.rank != rank) {
            throw serialization_error(where + ": its input is flat in ONNX (rank 2), this layer needs an image (rank 4)");
        }
    }
    onnx::NodeProto& node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
                          const std::string& output) {
        onnx::NodeProto n;
        n.op_type = op;
        n.name = name;
        n.inputs = std::move(inputs);
        n.outputs = {output};
        graph_.nodes.push_back(std::move(n));
        return graph_.nodes.back();
    }
    std::string initializer(const std::string& name, const Tensor<Scalar>& t, std::vector<std::int64_t> dims) {
        graph_.initializers.push_back(onnx_tensor(name, t, std::move(dims)));
        return name;
    }
    // The value as (N, F): itself if already flat, else the output of a new Flatten named `name`.
    std::string flat(const Value& v, const std::string& name) {
        if (v.rank == 2) return v.name;
        node("Flatten", name, {v.name}, name).attributes = {attr_int("axis", 1)};
        return name;
    }
    void rename(const std::string& from, const std::string& to) {
        for (auto& n : graph_.nodes) {
            for (auto& s : n.inputs) if (s == from) s = to;
            for (auto& s : n.outputs) if (s == from) s = to;
        }
        for (auto& v : graph_.inputs) {
            if (v.name == from) {  // a model that is its input alone: not representable without a node
                throw serialization_error("save_onnx: the model has no node between its input and output");
            }
        }
    }

    onnx::GraphProto& graph_;
    std::map<std::string, Value> values_;  // deepcnn value name -> ONNX value
};

template <class Scalar>
std::vector<ExportNode<Scalar>> export_nodes(Sequential<Scalar>& model) {
    std::vector<ExportNode<Scalar>> nodes;
    std::string previous = "input";
    for (std::size_t i = 0; i < model.size(); ++i) {
        nodes.push_back({model.layer_name(i), &model.layer(i), {previous}});
        previous = model.layer_name(i);
    }
    return nodes;
}

template <class Scalar>
std::vector<ExportNode<Scalar>> export_nodes(Graph<Scalar>& model) {
    std::vector<ExportNode<Scalar>> nodes;
    for (std::size_t i = 0; i < model.size(); ++i) nodes.push_back({model.layer_name(i), &model.layer(i), model.node_inputs(i)});
    return nodes;
}

template <class Scalar>
std::string model_input_name(Sequential<Scalar>&) { return "input"; }
template <class Scalar>
std::string model_input_name(Graph<Scalar>& model) { return model.input_name(); }

}  // namespace detail

// The ONNX bytes of a Sequential or Graph in eval mode (see the file comment). Throws serialization_error naming the
// node for a layer with no ONNX mapping, config_error for a class name holding a line break.
template <template <class> class Model, class Scalar>
std::string encode_onnx(Model<Scalar>& model, const OnnxExportOptions& options = {}) {
    if (model.size() == 0) throw serialization_error("save_onnx: the model has no layers");
    onnx::ModelProto m;
    m.ir_version = onnx_ir_version;
    m.opsets = {{"", onnx_opset}};
    m.producer_name = "deepcnn";
    m.producer_version = std::to_string(DEEPCNN_VERSION_MAJOR) + "." + std::to_string(DEEPCNN_VERSION_MINOR) + "." +
                         std::to_string(DEEPCNN_VERSION_PATCH);
    m.graph.name = "deepcnn";
    detail::OnnxGraphWriter<Scalar> writer(m.graph);
    const std::string input = detail::model_input_name(model);
    writer.input(input, model.input_shape(), options.input_name);
    if (options.preprocessing) writer.preprocess(input, *options.preprocessing);
    const auto nodes = detail::export_nodes(model);
    for (const auto& node : nodes) writer.layer(node);
    writer.output(nodes.back().name, nodes.back().layer->type(), model.output_shape(), options.output_name,
                  options.probabilities);

    if (!options.class_names.empty()) {
        std::string classes;
        for (std::size_t i = 0; i < options.class_names.size(); ++i) {
            if (options.class_names[i].find('\n') != std::string::npos) {
                throw config_error("save_onnx: class name " + std::to_string(i) + " holds a line break");
            }
            classes += (i ? "\n" : "") + options.class_names[i];
        }
        m.metadata.emplace_back("classes", classes);
    }
    for (const auto& entry : options.metadata.text) m.metadata.emplace_back("deepcnn.text." + entry.first, entry.second);
    for (const auto& entry : options.metadata.numbers) {
        m.metadata.emplace_back("deepcnn.number." + entry.first, detail::shortest_decimal(entry.second));
    }
    for (const auto& entry : options.metadata.integers) {
        m.metadata.emplace_back("deepcnn.integer." + entry.first, std::to_string(entry.second));
    }
    return onnx::encode_onnx_model(m);
}

// Writes encode_onnx(model, options) to `path` atomically (io/atomic_file.hpp).
template <template <class> class Model, class Scalar>
void save_onnx(const std::string& path, Model<Scalar>& model, const OnnxExportOptions& options = {}) {
    const std::string bytes = encode_onnx(model, options);
    write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace deepcnn
