// deepcnn/onnx/onnx_import.hpp: load_onnx / decode_onnx, an ONNX model as a deepcnn Graph (and, for a chain,
// chain_as_sequential): each node of docs/onnx.md's table becomes a layer with the file's weights; a leading
// Sub / Add / Mul / Div by scalar constants on the input becomes OnnxImport::preprocessing; metadata_props give
// the class names and the deepcnn metadata that save_onnx wrote. Anything else (another op, a setting deepcnn's
// layer cannot reproduce) is refused with serialization_error naming the file, the node and its op.
#pragma once

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../data/normalize.hpp"
#include "../error.hpp"
#include "../io/model_file.hpp"
#include "../io/read_file.hpp"
#include "../model/graph.hpp"
#include "../model/layer_factory.hpp"
#include "../model/sequential.hpp"
#include "onnx_proto.hpp"

namespace deepcnn {

// What load_onnx returns: the model and what the file says around it.
template <class Scalar>
struct OnnxImport {
    explicit OnnxImport(Graph<Scalar> graph) : model(std::move(graph)) {}
    Graph<Scalar> model;
    // The input's preprocessing, x' = (x - mean) / stddev, when the graph starts with one (apply it to inputs before
    // model.predict, as deepcnn::normalize does).
    std::optional<Normalization> preprocessing;
    std::vector<std::string> class_names;  // metadata_props "classes", one name a line
    ModelMetadata metadata;                // metadata_props "deepcnn.text.*", "deepcnn.number.*", "deepcnn.integer.*"
    std::vector<std::pair<std::string, std::string>> metadata_props;  // every entry, as read
    std::string input_name;   // the ONNX graph's input and output names
    std::string output_name;
};

// Files larger than this are refused before they are read (protobuf's own limit is 2 GiB).
constexpr std::uint64_t max_onnx_file_bytes = std::uint64_t(1) << 31;

namespace detail {

// The decimal with the fewest digits that reads back as `value` in float: 0.001f -> 0.001 (not
// 0.0010000000474974513), so that a BatchNorm eps or momentum written as an ONNX float comes back as it was.
inline double shortest_double_of_float(float value) {
    char text[32];
    for (int digits = 1; digits <= 9; ++digits) {
        std::snprintf(text, sizeof text, "%.*g", digits, static_cast<double>(value));
        if (std::strtof(text, nullptr) == value) return std::strtod(text, nullptr);
    }
    return static_cast<double>(value);
}

template <class Scalar>
class OnnxGraphReader {
public:
    OnnxGraphReader(const onnx::ModelProto& m, std::string source) : m_(m), source_(std::move(source)) {}

    OnnxImport<Scalar> read() {
        opset_ = default_opset();
        for (const auto& t : m_.graph.initializers) constants_[t.name] = &t;
        for (const auto& n : m_.graph.nodes)
            for (const auto& input : n.inputs) ++consumers_[input];
        const onnx::ValueInfoProto& input = graph_input();
        Shape shape;
        int rank = 4;
        if (input.dims.size() == 4 && input.dims[1] > 0 && input.dims[2] > 0 && input.dims[3] > 0) {
            shape = Shape(1, int_dim(input.dims[1]), int_dim(input.dims[2]), int_dim(input.dims[3]));
        } else if (input.dims.size() == 2 && input.dims[1] > 0) {
            shape = Shape(1, int_dim(input.dims[1]), 1, 1);
            rank = 2;
        } else {
            fail("input \"" + input.name + "\": expected a float tensor (N, C, H, W) or (N, F) with known C, H, W / F");
        }
        if (shape.per_sample() > max_sample_values) {
            fail("input shape " + shape.sample_str() + " has more than " + std::to_string(max_sample_values) + " values");
        }
        const std::string input_name = unique_name(input.name, "input");
        OnnxImport<Scalar> result{Graph<Scalar>(shape, 0, input_name)};
        graph_ = &result.model;
        values_[input.name] = {input_name, rank, {}};
        head_ = input.name;
        for (std::size_t i = 0; i < m_.graph.nodes.size(); ++i) node(m_.graph.nodes[i], i);
        finish_output(result);
        if (preprocessing_) {
            if (!(scale_ > 0.0) || !std::isfinite(scale_) || !std::isfinite(shift_)) {
                fail("the input's preprocessing (x * " + std::to_string(scale_) + " + " + std::to_string(shift_) +
                     ") is not (x - mean) / std with std > 0");
            }
            result.preprocessing = Normalization{-shift_ / scale_, 1.0 / scale_};
        }
        read_metadata(result);
        result.input_name = input.name;
        return result;
    }

private:
    struct Value {
        std::string name;  // the deepcnn value: the input's or a node's name
        int rank = 4;
        std::vector<std::int64_t> pads;  // a zero Pad [top, left, bottom, right] the next Conv / AveragePool applies
    };

    [[noreturn]] void fail(const std::string& what) const { throw serialization_error(source_ + ": " + what); }
    [[noreturn]] void fail(const onnx::NodeProto& n, const std::string& what) const {
        fail("node \"" + printable(n.name) + "\" (" + printable(n.op_type) + "): " + what);
    }
    int int_dim(std::int64_t d) const {
        if (d <= 0 || d > (1 << 20)) fail("input dimension " + std::to_string(d) + " out of range");
        return static_cast<int>(d);
    }

    std::int64_t default_opset() const {
        for (const auto& o : m_.opsets) {
            if (o.domain.empty() || o.domain == "ai.onnx") {
                if (o.version < 9 || o.version > 21) {
                    fail("opset " + std::to_string(o.version) + " of the default domain (deepcnn reads 9 to 21)");
                }
                return o.version;
            }
        }
        fail("no opset_import for the default ONNX domain");
    }

    const onnx::ValueInfoProto& graph_input() const {
        const onnx::ValueInfoProto* found = nullptr;
        for (const auto& v : m_.graph.inputs) {
            if (constants_.count(v.name)) continue;  // older files list initializers as inputs too
            if (found) fail("the graph has several inputs (\"" + found->name + "\", \"" + v.name + "\"); deepcnn takes one");
            found = &v;
        }
        if (!found) fail("the graph has no input");
        if (found->elem_type != onnx::float32) {
            fail("input \"" + found->name + "\" has element type " + std::to_string(found->elem_type) + ", not float");
        }
        return *found;
    }

    // A deepcnn node name from an ONNX name: characters other than letters, digits, '_' and '-' become '_'
    // ("/conv1/Conv" -> "conv1_Conv"); empty or taken names get a suffix.
    std::string unique_name(const std::string& name, const std::string& fallback) {
        std::string out;
        for (char ch : name) out += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-') ? ch : '_';
        const auto first = out.find_first_not_of('_');
        out = first == std::string::npos ? fallback : out.substr(first);
        std::string candidate = out;
        for (int k = 2; used_names_.count(candidate); ++k) candidate = out + "_" + std::to_string(k);
        used_names_.insert(candidate);
        return candidate;
    }

    // ---- attributes
    const onnx::AttributeProto* attribute(const onnx::NodeProto& n, const char* name, std::int32_t type) const {
        for (const auto& a : n.attributes) {
            if (a.name != name) continue;
            if (a.type != type) fail(n, std::string("attribute '") + name + "' has type " + std::to_string(a.type));
            return &a;
        }
        return nullptr;
    }
    std::int64_t attr_int(const onnx::NodeProto& n, const char* name, std::int64_t absent) const {
        const auto* a = attribute(n, name, onnx::attr_int);
        return a ? a->i : absent;
    }
    float attr_float(const onnx::NodeProto& n, const char* name, float absent) const {
        const auto* a = attribute(n, name, onnx::attr_float);
        return a ? a->f : absent;
    }
    std::vector<std::int64_t> attr_ints(const onnx::NodeProto& n, const char* name,
                                        std::vector<std::int64_t> absent) const {
        const auto* a = attribute(n, name, onnx::attr_ints);
        return a ? a->ints : absent;
    }
    std::string attr_string(const onnx::NodeProto& n, const char* name) const {
        const auto* a = attribute(n, name, onnx::attr_string);
        return a ? a->s : std::string();
    }
    int small_int(const onnx::NodeProto& n, const char* what, std::int64_t v, std::int64_t lo) const {
        if (v < lo || v > (1 << 24)) fail(n, std::string(what) + " " + std::to_string(v) + " out of range");
        return static_cast<int>(v);
    }

    // ---- values
    const Value& value(const onnx::NodeProto& n, std::size_t i) const {
        if (i >= n.inputs.size()) fail(n, "expected at least " + std::to_string(i + 1) + " inputs");
        const auto it = values_.find(n.inputs[i]);
        if (it == values_.end()) {
            if (constants_.count(n.inputs[i])) fail(n, "input " + std::to_string(i) + " is a constant, deepcnn needs a tensor of the graph here");
            fail(n, "input \"" + printable(n.inputs[i]) + "\" is not produced by an earlier node (the nodes must be in "
                    "topological order)");
        }
        return it->second;
    }
    const onnx::TensorProto& constant(const onnx::NodeProto& n, std::size_t i, const char* what) const {
        if (i >= n.inputs.size() || n.inputs[i].empty()) fail(n, std::string("missing input '") + what + "'");
        const auto it = constants_.find(n.inputs[i]);
        if (it == constants_.end()) fail(n, std::string("input '") + what + "' must be a constant (an initializer)");
        return *it->second;
    }
    const onnx::TensorProto& float_constant(const onnx::NodeProto& n, std::size_t i, const char* what,
                                            std::size_t rank) const {
        const auto& t = constant(n, i, what);
        if (t.data_type != onnx::float32 && t.data_type != onnx::float64) {
            fail(n, std::string("'") + what + "' has element type " + std::to_string(t.data_type) + ", not float");
        }
        if (rank != 0 && t.dims.size() != rank) {
            fail(n, std::string("'") + what + "' has " + std::to_string(t.dims.size()) + " dimensions, expected " +
                    std::to_string(rank));
        }
        return t;
    }
    bool has_input(const onnx::NodeProto& n, std::size_t i) const { return i < n.inputs.size() && !n.inputs[i].empty(); }
    void one_output(const onnx::NodeProto& n) const {
        if (n.outputs.empty() || n.outputs[0].empty()) fail(n, "has no output");
        for (std::size_t i = 1; i < n.outputs.size(); ++i) {
            if (!n.outputs[i].empty() && consumers_.count(n.outputs[i])) {
                fail(n, "output " + std::to_string(i) + " (\"" + printable(n.outputs[i]) + "\") is used; deepcnn gives only the first");
            }
        }
    }

    // ---- padding
    // The window's padding: its own (pads, auto_pad), or that of a Pad node before it (`pending`, then its own must
    // be zero).
    Padding padding(const onnx::NodeProto& n, const Shape& in, int kh, int kw, int sh, int sw,
                    const std::vector<std::int64_t>& pending = {}) const {
        const std::string auto_pad = attr_string(n, "auto_pad");
        auto pads = attr_ints(n, "pads", {0, 0, 0, 0});
        if (!pending.empty()) {
            const bool own = (!auto_pad.empty() && auto_pad != "NOTSET" && auto_pad != "VALID") ||
                             pads != std::vector<std::int64_t>{0, 0, 0, 0};
            if (own) fail(n, "pads of its own after a Pad node");
            pads = pending;
        } else if (auto_pad == "SAME_UPPER") {
            return Padding::same();
        } else if (auto_pad == "VALID") {
            return Padding::valid();
        }
        if (pending.empty() && !auto_pad.empty() && auto_pad != "NOTSET") {
            fail(n, "auto_pad " + auto_pad + " (deepcnn's 'same' is SAME_UPPER)");
        }
        if (pads.size() != 4) fail(n, "pads has " + std::to_string(pads.size()) + " values, expected 4");
        for (auto p : pads) small_int(n, "pad", p, 0);
        if (pads[0] == pads[2] && pads[1] == pads[3]) {
            return Padding::explicit_pad(static_cast<int>(pads[0]), static_cast<int>(pads[1]));
        }
        int oh = 0, ow = 0, top = 0, left = 0;
        try {
            conv_output_dim(in.h, kh, sh, Padding::same(), true, oh, top);
            conv_output_dim(in.w, kw, sw, Padding::same(), false, ow, left);
        } catch (const shape_error& e) {
            fail(n, e.what());
        }
        const int bottom = std::max((oh - 1) * sh + kh - in.h, 0) - top;
        const int right = std::max((ow - 1) * sw + kw - in.w, 0) - left;
        if (pads[0] == top && pads[1] == left && pads[2] == bottom && pads[3] == right) return Padding::same();
        fail(n, "pads [" + std::to_string(pads[0]) + ", " + std::to_string(pads[1]) + ", " + std::to_string(pads[2]) +
                    ", " + std::to_string(pads[3]) + "] are neither symmetric nor 'same' (the extra row and column at "
                    "the bottom and right)");
    }
    void unit_dilations(const onnx::NodeProto& n) const {
        for (auto d : attr_ints(n, "dilations", {1, 1}))
            if (d != 1) fail(n, "dilation " + std::to_string(d) + " (deepcnn has no dilated windows)");
    }
    void window_attributes(const onnx::NodeProto& n, const std::vector<std::int64_t>& kernel,
                           std::vector<std::int64_t>& strides) const {
        if (kernel.size() != 2) fail(n, "kernel_shape must have 2 values (a 2-D window)");
        strides = attr_ints(n, "strides", {1, 1});
        if (strides.size() != 2) fail(n, "strides must have 2 values");
        unit_dilations(n);
    }

    // ---- layers
    // Adds `layer` as node n reading `inputs`; errors of the graph (shapes) are rethrown naming the ONNX node.
    Layer<Scalar>& add(const onnx::NodeProto& n, std::size_t index, LayerPtr<Scalar> layer,
                       const std::vector<Value>& inputs, int rank) {
        one_output(n);
        std::vector<std::string> names;
        for (const auto& v : inputs) {
            if (!v.pads.empty()) fail(n, "reads the output of a Pad node; deepcnn folds Pad only into a Conv or AveragePool");
            names.push_back(v.name);
        }
        std::string lower = n.op_type;
        for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        const std::string name = unique_name(n.name, lower + "_" + std::to_string(index));
        try {
            Layer<Scalar>& added = graph_->add(name, std::move(layer), names);
            if (graph_->output_shape().per_sample() > max_sample_values) {
                fail(n, "output shape " + graph_->output_shape().sample_str() + " has more than " +
                            std::to_string(max_sample_values) + " values");
            }
            values_[n.outputs[0]] = {name, rank, {}};
            last_ = name;
            return added;
        } catch (const serialization_error&) {
            throw;
        } catch (const error& e) {
            fail(n, e.what());
        }
    }
    void assign(const onnx::NodeProto& n, Layer<Scalar>& layer, const std::string& param, const onnx::TensorProto& t,
                bool transpose_2d = false) {
        Tensor<Scalar>* target = nullptr;
        for (auto& p : layer.params()) if (p.name == param) target = p.value;
        for (auto& b : layer.buffers()) if (b.name == param) target = b.value;
        if (!target) fail(n, "layer has no '" + param + "'");
        if (target->size() != t.floats.size()) {
            fail(n, "'" + param + "' holds " + std::to_string(t.floats.size()) + " values, the layer needs " +
                        std::to_string(target->size()) + " (" + target->shape().str() + ")");
        }
        if (!transpose_2d) {
            for (std::size_t i = 0; i < t.floats.size(); ++i) (*target)[i] = static_cast<Scalar>(t.floats[i]);
            return;
        }
        const std::size_t rows = static_cast<std::size_t>(t.dims[0]), cols = static_cast<std::size_t>(t.dims[1]);
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c) (*target)[c * rows + r] = static_cast<Scalar>(t.floats[r * cols + c]);
    }

    void conv(const onnx::NodeProto& n, std::size_t index) {
        const Value x = value(n, 0);
        if (x.rank != 4) fail(n, "input must be an image (N, C, H, W)");
        const auto& w = float_constant(n, 1, "W", 4);
        const int K = small_int(n, "filters", w.dims[0], 1), kh = small_int(n, "kernel rows", w.dims[2], 1),
                  kw = small_int(n, "kernel columns", w.dims[3], 1);
        const auto kernel = attr_ints(n, "kernel_shape", {kh, kw});
        if (kernel.size() != 2 || kernel[0] != kh || kernel[1] != kw) fail(n, "kernel_shape does not match W");
        std::vector<std::int64_t> strides;
        window_attributes(n, kernel, strides);
        const int sh = small_int(n, "stride", strides[0], 1), sw = small_int(n, "stride", strides[1], 1);
        const int groups = small_int(n, "group", attr_int(n, "group", 1), 1);
        const Shape in = graph_->shape_of(x.name);
        const bool bias = has_input(n, 2);
        if (K % groups != 0 || in.c % groups != 0 || w.dims[1] != in.c / groups) {
            fail(n, "W " + dims_text(w.dims) + " does not fit " + std::to_string(in.c) + " input channels in " +
                        std::to_string(groups) + " groups");
        }
        auto layer = std::make_unique<Conv2D<Scalar>>(K, kh, kw);
        layer->with_stride(sh, sw).with_padding(padding(n, in, kh, kw, sh, sw, x.pads)).with_bias(bias).with_groups(groups);
        Layer<Scalar>& added = add(n, index, std::move(layer), {unpadded(x)}, 4);
        assign(n, added, "weight", w);
        if (bias) assign(n, added, "bias", float_constant(n, 2, "B", 1));
    }

    void gemm(const onnx::NodeProto& n, std::size_t index) {
        const Value x = value(n, 0);
        const auto& w = float_constant(n, 1, "B", 2);
        if (attr_int(n, "transA", 0) != 0) fail(n, "transA = 1 (deepcnn's Dense multiplies the input untransposed)");
        if (attr_float(n, "alpha", 1.0f) != 1.0f) fail(n, "alpha other than 1");
        const bool bias = has_input(n, 2);
        if (bias && attr_float(n, "beta", 1.0f) != 1.0f) fail(n, "beta other than 1");
        const bool trans_b = attr_int(n, "transB", 0) != 0;
        const int units = small_int(n, "units", w.dims[trans_b ? 0 : 1], 1);
        const std::int64_t in_features = w.dims[trans_b ? 1 : 0];
        if (in_features != static_cast<std::int64_t>(graph_->shape_of(x.name).per_sample())) {
            fail(n, "B " + dims_text(w.dims) + " does not fit " + std::to_string(graph_->shape_of(x.name).per_sample()) +
                        " input features");
        }
        auto layer = std::make_unique<Dense<Scalar>>(units);
        layer->with_bias(bias);
        Layer<Scalar>& added = add(n, index, std::move(layer), {x}, 2);
        assign(n, added, "weight", w, !trans_b);
        if (bias) {
            const auto& c = float_constant(n, 2, "C", 0);
            if (c.floats.size() != static_cast<std::size_t>(units) || c.dims.size() > 2) {
                fail(n, "C " + dims_text(c.dims) + " is not one bias per unit (" + std::to_string(units) + ")");
            }
            assign(n, added, "bias", c);
        }
    }

    void batch_norm(const onnx::NodeProto& n, std::size_t index) {
        const Value x = value(n, 0);
        if (attr_int(n, "training_mode", 0) != 0) fail(n, "training_mode = 1");
        const double eps = shortest_double_of_float(attr_float(n, "epsilon", 1e-5f));
        const double momentum = shortest_double_of_float(attr_float(n, "momentum", 0.9f));
        if (!(eps > 0.0) || !(momentum >= 0.0 && momentum < 1.0)) {
            fail(n, "epsilon must be > 0 and momentum in [0, 1)");
        }
        Layer<Scalar>& added = add(n, index, std::make_unique<BatchNorm<Scalar>>(momentum, eps), {x}, x.rank);
        const char* names[] = {"scale", "B", "input_mean", "input_var"};
        const char* params[] = {"gamma", "beta", "running_mean", "running_var"};
        for (std::size_t i = 0; i < 4; ++i) assign(n, added, params[i], float_constant(n, i + 1, names[i], 1));
    }

    void pool(const onnx::NodeProto& n, std::size_t index, bool max) {
        const Value x = value(n, 0);
        if (x.rank != 4) fail(n, "input must be an image (N, C, H, W)");
        const auto kernel = attr_ints(n, "kernel_shape", {});
        std::vector<std::int64_t> strides;
        window_attributes(n, kernel, strides);
        if (attr_int(n, "ceil_mode", 0) != 0) fail(n, "ceil_mode = 1 (deepcnn rounds the output size down)");
        if (attr_int(n, "storage_order", 0) != 0) fail(n, "storage_order = 1");
        const int kh = small_int(n, "window", kernel[0], 1), kw = small_int(n, "window", kernel[1], 1);
        const int sh = small_int(n, "stride", strides[0], 1), sw = small_int(n, "stride", strides[1], 1);
        if (max && !x.pads.empty()) fail(n, "reads a Pad node's zeros (ONNX's MaxPool pads with -infinity)");
        const Padding pad = padding(n, graph_->shape_of(x.name), kh, kw, sh, sw, x.pads);
        if (max) {
            auto layer = std::make_unique<MaxPool2D<Scalar>>(2);
            layer->with_window(kh, kw, sh, sw).with_padding(pad);
            add(n, index, std::move(layer), {x}, 4);
        } else {
            auto layer = std::make_unique<AvgPool2D<Scalar>>(2);
            // zeros from a Pad node are cells of the input to ONNX: they count in the divisor
            const bool include = !x.pads.empty() || attr_int(n, "count_include_pad", 0) != 0;
            layer->with_window(kh, kw, sh, sw).with_padding(pad).with_count_include_pad(include);
            add(n, index, std::move(layer), {unpadded(x)}, 4);
        }
    }

    // Flatten / Reshape to (N, features): a Flatten layer, or nothing where the value is flat already.
    void flatten(const onnx::NodeProto& n, std::size_t index, const Value& x) {
        if (x.rank == 2) {
            alias(n, x);
            return;
        }
        add(n, index, std::make_unique<Flatten<Scalar>>(), {x}, 2);
    }
    void reshape(const onnx::NodeProto& n, std::size_t index) {
        const Value x = value(n, 0);
        const auto& shape = constant(n, 1, "shape");
        const auto features = static_cast<std::int64_t>(graph_->shape_of(x.name).per_sample());
        const bool ok = shape.data_type == onnx::int64 && shape.ints.size() == 2 &&
                        ((shape.ints[0] == 0 && (shape.ints[1] == -1 || shape.ints[1] == features)) ||
                         (shape.ints[0] == -1 && shape.ints[1] == features));
        if (!ok || attr_int(n, "allowzero", 0) != 0) {
            fail(n, "deepcnn reads a Reshape only to (N, features): shape [0, -1], [0, F] or [-1, F]");
        }
        flatten(n, index, x);
    }
    void merge(const onnx::NodeProto& n, std::size_t index, bool concat) {
        std::vector<Value> inputs;
        for (std::size_t i = 0; i < n.inputs.size(); ++i) inputs.push_back(value(n, i));
        if (inputs.empty()) fail(n, "has no inputs");
        for (const auto& v : inputs) {
            if (v.rank != inputs.front().rank) fail(n, "inputs of different ranks");
        }
        if (concat) {
            std::int64_t axis = attr_int(n, "axis", 1);
            if (axis < 0) axis += inputs.front().rank;
            if (axis != 1) fail(n, "axis " + std::to_string(attr_int(n, "axis", 1)) + " (deepcnn joins channels, axis 1)");
            add(n, index, std::make_unique<Concat<Scalar>>(), inputs, inputs.front().rank);
        } else {
            add(n, index, std::make_unique<Add<Scalar>>(), inputs, inputs.front().rank);
        }
    }
    void softmax(const onnx::NodeProto& n, std::size_t index) {
        const Value x = value(n, 0);
        const Shape in = graph_->shape_of(x.name);
        std::int64_t axis = attr_int(n, "axis", opset_ >= 13 ? -1 : 1);
        if (axis < 0) axis += x.rank;
        const bool flat = in.h == 1 && in.w == 1;
        if (!(axis == 1 && (flat || opset_ >= 13))) {
            fail(n, "axis " + std::to_string(attr_int(n, "axis", 0)) + " on a rank-" + std::to_string(x.rank) +
                        " input (deepcnn's Softmax runs over the channels, axis 1)");
        }
        add(n, index, std::make_unique<Softmax<Scalar>>(), {x}, x.rank);
    }
    void alias(const onnx::NodeProto& n, const Value& x) {
        one_output(n);
        values_[n.outputs[0]] = x;
    }

    static Value unpadded(Value v) {
        v.pads.clear();
        return v;
    }
    // A zero Pad of the rows and columns (PyTorch writes one before an AveragePool with padding): recorded on its
    // output, for the Conv or AveragePool that reads it to apply.
    void pad(const onnx::NodeProto& n) {
        const Value x = value(n, 0);
        if (x.rank != 4 || !x.pads.empty()) fail(n, "deepcnn folds a Pad of an image only, once");
        const std::string mode = attr_string(n, "mode");
        if (!mode.empty() && mode != "constant") fail(n, "mode " + mode + " (deepcnn pads with zeros)");
        const auto& pads = constant(n, 1, "pads");
        if (pads.ints.size() != 8 || pads.ints[0] != 0 || pads.ints[1] != 0 || pads.ints[4] != 0 || pads.ints[5] != 0) {
            fail(n, "deepcnn folds a Pad of the rows and columns only");
        }
        if (has_input(n, 2)) {
            const auto& value = constant(n, 2, "constant_value");
            for (float v : value.floats) if (v != 0.0f) fail(n, "constant_value other than 0");
            for (auto v : value.ints) if (v != 0) fail(n, "constant_value other than 0");
        }
        one_output(n);
        Value padded = x;
        padded.pads = {pads.ints[2], pads.ints[3], pads.ints[6], pads.ints[7]};
        values_[n.outputs[0]] = padded;
    }

    // A Constant node's tensor joins the initializers.
    void constant_node(const onnx::NodeProto& n) {
        one_output(n);
        if (const auto* a = attribute(n, "value", onnx::attr_tensor)) {
            constant_nodes_.push_back(a->t);
        } else if (const auto* f = attribute(n, "value_float", onnx::attr_float)) {
            onnx::TensorProto t;
            t.data_type = onnx::float32;
            t.floats = {f->f};
            constant_nodes_.push_back(t);
        } else if (const auto* ints = attribute(n, "value_ints", onnx::attr_ints)) {
            onnx::TensorProto t;
            t.data_type = onnx::int64;
            t.dims = {static_cast<std::int64_t>(ints->ints.size())};
            t.ints = ints->ints;
            constant_nodes_.push_back(t);
        } else {
            fail(n, "deepcnn reads a Constant's 'value', 'value_float' or 'value_ints' only");
        }
        constant_nodes_.back().name = n.outputs[0];
        constants_[n.outputs[0]] = &constant_nodes_.back();
    }

    // Sub / Add / Mul / Div of the input by a scalar constant, before any layer: folded into the preprocessing.
    bool preprocessing_step(const onnx::NodeProto& n) {
        const bool arithmetic = n.op_type == "Sub" || n.op_type == "Add" || n.op_type == "Mul" || n.op_type == "Div";
        if (!arithmetic || !last_.empty() || n.inputs.size() != 2 || n.inputs[0] != head_ ||
            consumers_[head_] != 1 || !constants_.count(n.inputs[1])) {
            return false;
        }
        const auto& c = float_constant(n, 1, "B", 0);
        if (c.floats.size() != 1) fail(n, "deepcnn folds arithmetic on the input into its preprocessing only with a scalar");
        const double v = c.floats[0];
        if (n.op_type == "Sub") shift_ -= v;
        if (n.op_type == "Add") shift_ += v;
        if (n.op_type == "Mul") {
            scale_ *= v;
            shift_ *= v;
        }
        if (n.op_type == "Div") {
            scale_ /= v;
            shift_ /= v;
        }
        one_output(n);
        values_[n.outputs[0]] = values_.at(head_);
        head_ = n.outputs[0];
        preprocessing_ = true;
        return true;
    }

    void node(const onnx::NodeProto& n, std::size_t index) {
        if (!n.domain.empty() && n.domain != "ai.onnx") fail(n, "operator domain '" + printable(n.domain) + "'");
        const std::string& op = n.op_type;
        if (op == "Constant") return constant_node(n);
        if (preprocessing_step(n)) return;
        if (op == "Conv") return conv(n, index);
        if (op == "Gemm") return gemm(n, index);
        if (op == "BatchNormalization") return batch_norm(n, index);
        if (op == "Relu") {
            const Value x = value(n, 0);
            add(n, index, std::make_unique<ReLU<Scalar>>(), {x}, x.rank);
            return;
        }
        if (op == "MaxPool" || op == "AveragePool") return pool(n, index, op == "MaxPool");
        if (op == "GlobalAveragePool") {
            const Value x = value(n, 0);
            if (x.rank != 4) fail(n, "input must be an image (N, C, H, W)");
            add(n, index, std::make_unique<GlobalAvgPool2D<Scalar>>(), {x}, 4);
            return;
        }
        if (op == "Flatten") {
            const Value x = value(n, 0);
            std::int64_t axis = attr_int(n, "axis", 1);
            if (axis < 0) axis += x.rank;
            if (axis != 1 && !(x.rank == 2 && axis == 1)) fail(n, "axis other than 1");
            return flatten(n, index, x);
        }
        if (op == "Reshape") return reshape(n, index);
        if (op == "Pad") return pad(n);
        if (op == "Add" || op == "Sum" || op == "Concat") {
            if (op == "Add" && n.inputs.size() != 2) fail(n, "expected 2 inputs");
            return merge(n, index, op == "Concat");
        }
        if (op == "Softmax") return softmax(n, index);
        if (op == "Dropout" || op == "Identity") return alias(n, value(n, 0));
        fail(n, "operator not supported by deepcnn's importer (it reads Conv, BatchNormalization, Relu, MaxPool, "
                "AveragePool, GlobalAveragePool, Flatten, Reshape to (N, F), Gemm, Add, Sum, Concat, Softmax, "
                "Dropout, Identity, Constant, a zero Pad before Conv / AveragePool, and Sub / Add / Mul / Div by a "
                "scalar on the input)");
    }

    void finish_output(OnnxImport<Scalar>& result) const {
        if (m_.graph.outputs.size() != 1) {
            fail("the graph has " + std::to_string(m_.graph.outputs.size()) + " outputs; deepcnn gives one");
        }
        const std::string& name = m_.graph.outputs[0].name;
        const auto it = values_.find(name);
        if (it == values_.end()) fail("the graph output \"" + printable(name) + "\" is produced by no node");
        if (last_.empty()) fail("the graph has no layer between its input and output");
        if (!it->second.pads.empty()) fail("the graph output \"" + printable(name) + "\" is a Pad node's");
        if (it->second.name != last_) {
            fail("the graph output \"" + printable(name) + "\" is not the last node's output (deepcnn's output is the "
                 "last node)");
        }
        result.output_name = name;
    }

    void read_metadata(OnnxImport<Scalar>& result) const {
        result.metadata_props = m_.metadata;
        for (const auto& entry : m_.metadata) {
            const std::string& key = entry.first;
            const std::string& text = entry.second;
            auto strip = [&](const std::string& prefix) { return key.substr(prefix.size()); };
            if (key == "classes") {
                std::size_t start = 0;
                for (;;) {
                    const std::size_t end = text.find('\n', start);
                    result.class_names.push_back(text.substr(start, end == std::string::npos ? end : end - start));
                    if (end == std::string::npos) break;
                    start = end + 1;
                }
            } else if (key.rfind("deepcnn.text.", 0) == 0) {
                result.metadata.text[strip("deepcnn.text.")] = text;
            } else if (key.rfind("deepcnn.number.", 0) == 0) {
                char* end = nullptr;
                const double v = std::strtod(text.c_str(), &end);
                if (text.empty() || *end != '\0') fail("metadata '" + printable(key) + "': not a number: '" + printable(text) + "'");
                result.metadata.numbers[strip("deepcnn.number.")] = v;
            } else if (key.rfind("deepcnn.integer.", 0) == 0) {
                char* end = nullptr;
                const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
                if (text.empty() || *end != '\0' || text[0] == '-') {
                    fail("metadata '" + printable(key) + "': not an integer: '" + printable(text) + "'");
                }
                result.metadata.integers[strip("deepcnn.integer.")] = static_cast<std::uint64_t>(v);
            }
        }
        const int outputs = static_cast<int>(result.model.output_shape().per_sample());
        if (!result.class_names.empty() && static_cast<int>(result.class_names.size()) != outputs) {
            fail(std::to_string(result.class_names.size()) + " class names for a model with " + std::to_string(outputs) +
                 " outputs");
        }
    }

    static std::string dims_text(const std::vector<std::int64_t>& dims) {
        std::string out = "(";
        for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
        return out + ")";
    }

    const onnx::ModelProto& m_;
    std::string source_;
    std::int64_t opset_ = 0;
    Graph<Scalar>* graph_ = nullptr;
    std::map<std::string, const onnx::TensorProto*> constants_;
    std::deque<onnx::TensorProto> constant_nodes_;  // a deque: constants_ points into it
    std::map<std::string, int> consumers_;
    std::map<std::string, Value> values_;  // ONNX value -> deepcnn value
    std::set<std::string> used_names_;
    std::string head_;  // the input, after the preprocessing read so far
    std::string last_;  // the last node added
    bool preprocessing_ = false;
    double scale_ = 1.0, shift_ = 0.0;  // the preprocessing: x * scale + shift
};

}  // namespace detail

// An ONNX file's bytes as a deepcnn Graph (see the file comment); `source` names the file in errors.
template <class Scalar>
OnnxImport<Scalar> decode_onnx(const std::string& bytes, const std::string& source) {
    const onnx::ModelProto m = onnx::decode_onnx_model(bytes, source);
    return detail::OnnxGraphReader<Scalar>(m, source).read();
}

// Reads `path` (at most max_onnx_file_bytes) and decodes it; io_error if it cannot be read.
template <class Scalar>
OnnxImport<Scalar> load_onnx(const std::string& path) {
    return decode_onnx<Scalar>(read_file_bounded(path, max_onnx_file_bytes, "ONNX model"), path);
}

// The graph as a Sequential, when it is a chain (each node reads the one before it; the first reads the input):
// the same layers, weights and buffers, so the same predictions, bit for bit. Throws config_error naming the first
// node that reads anything else. Sequential's layer names (conv2d_1, ...) replace the node names.
template <class Scalar>
Sequential<Scalar> chain_as_sequential(Graph<Scalar>& graph) {
    Sequential<Scalar> model(graph.input_shape());
    std::string previous = graph.input_name();
    for (std::size_t i = 0; i < graph.size(); ++i) {
        const auto inputs = graph.node_inputs(i);
        if (inputs.size() != 1 || inputs.front() != previous) {
            throw config_error("node \"" + graph.layer_name(i) + "\" (" + graph.layer(i).type() +
                               ") does not read only the node before it: the graph is not a chain");
        }
        Layer<Scalar>& from = graph.layer(i);
        Layer<Scalar>& to = model.add(make_layer<Scalar>(from.type(), from.config()));
        auto from_params = from.params();
        auto to_params = to.params();
        for (std::size_t p = 0; p < from_params.size(); ++p) *to_params.at(p).value = *from_params[p].value;
        auto from_buffers = from.buffers();
        auto to_buffers = to.buffers();
        for (std::size_t b = 0; b < from_buffers.size(); ++b) *to_buffers.at(b).value = *from_buffers[b].value;
        previous = graph.layer_name(i);
    }
    return model;
}

}  // namespace deepcnn
