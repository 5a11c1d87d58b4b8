// deepcnn/io/model_file.hpp: the .dcnn model file (docs/model-format.md): architecture (version 1: a Sequential's
// chain of layers; version 2: a Graph's named nodes and their inputs), every parameter and buffer, layer RNG states,
// user metadata (class names, normalisation, epoch, ...) and optionally the optimizer state, little-endian, with a
// CRC-32. Files are written atomically; saving refuses a layer type that could not be loaded back (neither built in
// nor registered: model/layer_factory.hpp); loading checks everything; load_any_model returns the kind the file holds.
#pragma once

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "../error.hpp"
#include "../model/graph.hpp"
#include "../model/layer_factory.hpp"
#include "../model/model_common.hpp"
#include "../model/sequential.hpp"
#include "../optim/optimizer.hpp"
#include "atomic_file.hpp"
#include "binary.hpp"
#include "read_file.hpp"

namespace deepcnn {

constexpr char model_file_magic[8] = {'D', 'E', 'E', 'P', 'C', 'N', 'N', '\x1a'};
constexpr std::uint32_t model_file_version = 1;        // a Sequential: a chain of layers
constexpr std::uint32_t graph_model_file_version = 2;  // a Graph: named nodes, each with its inputs
constexpr std::size_t model_file_header_bytes = 24;  // magic, version, scalar bytes, payload bytes

// Free-form information stored beside the weights.
struct ModelMetadata {
    std::map<std::string, std::string> text;
    std::map<std::string, double> numbers;
    std::map<std::string, std::uint64_t> integers;
};

// An optimizer's saved state and type ("Adam", "AdamW", "SGD").
template <class Scalar>
struct SavedOptimizer {
    std::string type;
    OptimizerState<Scalar> state;
};

namespace detail {

inline std::uint32_t crc32_of(const char* data, std::size_t size) {
    uLong crc = crc32(0L, Z_NULL, 0);
    while (size > 0) {
        const uInt chunk = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
        crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
        data += chunk;
        size -= chunk;
    }
    return static_cast<std::uint32_t>(crc);
}

template <class Scalar>
void put_tensor(ByteWriter& out, const std::string& name, const Tensor<Scalar>& t) {
    out.put_string(name);
    out.put<std::int32_t>(t.n());
    out.put<std::int32_t>(t.c());
    out.put<std::int32_t>(t.h());
    out.put<std::int32_t>(t.w());
    out.put_array(t.data(), t.size());
}

// Reads a tensor stored with `stored_bytes`-byte scalars (4 or 8) into Tensor<Scalar>.
template <class Scalar>
std::pair<std::string, Tensor<Scalar>> get_tensor(ByteReader& in, std::uint32_t stored_bytes) {
    std::string name = in.get_string("tensor name");
    int dims[4];
    for (int& d : dims) {
        d = in.get<std::int32_t>("tensor shape");
        if (d < 0) in.fail("tensor '" + name + "' has a negative dimension");
    }
    const Shape shape(dims[0], dims[1], dims[2], dims[3]);
    const double count = double(dims[0]) * dims[1] * dims[2] * dims[3];
    if (count * stored_bytes > double(in.remaining())) in.fail("truncated in tensor '" + name + "' " + shape.str());
    Tensor<Scalar> t(shape);
    if (stored_bytes == sizeof(Scalar)) {
        in.get_array(t.data(), t.size(), "tensor values");
    } else if (stored_bytes == 4) {
        std::vector<float> values(t.size());
        in.get_array(values.data(), values.size(), "tensor values");
        for (std::size_t i = 0; i < values.size(); ++i) t[i] = static_cast<Scalar>(values[i]);
    } else {
        std::vector<double> values(t.size());
        in.get_array(values.data(), values.size(), "tensor values");
        for (std::size_t i = 0; i < values.size(); ++i) t[i] = static_cast<Scalar>(values[i]);
    }
    // A weight or a moment holding NaN or an infinity (with a valid checksum: saved after a divergence, or
    // crafted) would make every prediction NaN; it is refused here, naming the tensor and the element.
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (!std::isfinite(t[i])) {
            in.fail("tensor '" + name + "' holds a non-finite value (" + (std::isnan(t[i]) ? "nan" : "inf") +
                    ") at element " + std::to_string(i));
        }
    }
    return {std::move(name), std::move(t)};
}

// The parameter and buffer values a layer of `type` and `config` holds for a per-sample `input`, all of which a
// model file must store: known before the layer allocates them, so that a crafted size is rejected first.
inline double stored_values(const std::string& type, const LayerConfig& config, const Shape& input) {
    const auto number = [&](const char* key) { return config_number(config, type, key); };
    if (type == "Conv2D") {
        const double groups = config_int_or(config, type, "groups", 1, 1 << 24, 1);
        const double filter = double(input.c) / groups * number("kernel_h") * number("kernel_w");
        return number("filters") * (filter + number("bias"));
    }
    if (type == "Dense") return number("units") * (double(input.per_sample()) + number("bias"));
    if (type == "BatchNorm") return 4.0 * input.c;  // gamma, beta, running mean and variance
    return 0.0;
}

// Checks the header (the first model_file_header_bytes of a file of `file_bytes` bytes, or fewer when the file is
// that short): magic number, version, scalar size, and a payload size that matches the file's. Returns the format
// version (1 or 2) and stores the scalar size (4 or 8) in *stored_bytes when given. Throws serialization_error
// naming `source`. Called before the body is read, so that a file that is not a model, or not whole, is refused
// without reading it.
inline std::uint32_t check_model_header(const std::string& header, std::uint64_t file_bytes, const std::string& source,
                                        std::uint32_t* stored_bytes_out = nullptr) {
    const bool magic = header.size() >= sizeof(model_file_magic) &&
                       header.compare(0, sizeof(model_file_magic), model_file_magic, sizeof(model_file_magic)) == 0;
    if (!magic) throw serialization_error(source + ": not a deepcnn model file (bad magic number)");
    if (header.size() < model_file_header_bytes || file_bytes < model_file_header_bytes + 4) {
        throw serialization_error(source + ": truncated (" + std::to_string(file_bytes) + " bytes)");
    }
    ByteReader in(header.data() + sizeof(model_file_magic), model_file_header_bytes - sizeof(model_file_magic),
                  source, sizeof(model_file_magic));
    const auto version = in.get<std::uint32_t>("format version");
    if (version != model_file_version && version != graph_model_file_version) {
        throw serialization_error(source + ": format version " + std::to_string(version) +
                                  " is not supported (this build reads versions " + std::to_string(model_file_version) +
                                  " and " + std::to_string(graph_model_file_version) + ")");
    }
    const auto stored_bytes = in.get<std::uint32_t>("scalar size");
    if (stored_bytes != 4 && stored_bytes != 8) {
        throw serialization_error(source + ": scalar size " + std::to_string(stored_bytes) + " is neither 4 nor 8");
    }
    const auto payload_bytes = in.get<std::uint64_t>("payload size");
    const std::uint64_t actual_payload = file_bytes - model_file_header_bytes - 4;
    if (payload_bytes != actual_payload) {
        throw serialization_error(source + ": file is " + std::to_string(file_bytes) + " bytes, its header declares a " +
                                  std::to_string(payload_bytes) + "-byte payload, " +
                                  (payload_bytes > actual_payload ? "more than the file holds (truncated)"
                                                                  : "less than the file holds (trailing bytes)"));
    }
    if (stored_bytes_out) *stored_bytes_out = stored_bytes;
    return version;
}

// The bytes of a .dcnn file, its header read and checked against the file's size first (check_model_header) and
// only a body of the declared size read after it: a large file that is not a model costs 24 bytes of reading, and
// a pipe or device is read no further than its header declares.
inline std::string read_model_file(const std::string& path) {
    FileReader file(path);
    std::string bytes;
    file.read_up_to(bytes, model_file_header_bytes);
    if (file.regular_size() >= 0) {
        detail::check_model_header(bytes, static_cast<std::uint64_t>(file.regular_size()), path);
        file.read_up_to(bytes, static_cast<std::uint64_t>(file.regular_size()) - bytes.size());
    } else if (bytes.size() == model_file_header_bytes) {
        std::uint64_t declared = 0;  // the payload size the header declares: read that much, and its checksum
        std::memcpy(&declared, bytes.data() + model_file_header_bytes - 8, 8);
        detail::check_model_header(bytes, std::max<std::uint64_t>(declared, declared + 4 + model_file_header_bytes), path);
        file.read_up_to(bytes, declared + 4);
        std::string extra;
        file.read_up_to(extra, 1);
        bytes += extra;  // a trailing byte, if any, for decode_model to report
    }
    return bytes;
}

}  // namespace detail

namespace detail {

// A layer's type and configuration; refuses (serialization_error, at save time) a type make_layer could not make.
template <class Scalar>
void put_layer(ByteWriter& payload, const Layer<Scalar>& layer) {
    if (!layer_loadable<Scalar>(layer.type())) {
        throw serialization_error("save_model: " + layer.where() + ": layer type '" + layer.type() +
                                  "' could not be loaded back; register it first: register_layer<" + layer.type() +
                                  ">(\"" + layer.type() + "\")");
    }
    payload.put_string(layer.type());
    const LayerConfig config = layer.config();
    payload.put<std::uint32_t>(static_cast<std::uint32_t>(config.size()));
    for (const auto& entry : config) {
        payload.put_string(entry.first);
        payload.put<double>(entry.second);
    }
}

inline void put_input_shape(ByteWriter& payload, const Shape& input) {
    payload.put<std::int32_t>(input.c);
    payload.put<std::int32_t>(input.h);
    payload.put<std::int32_t>(input.w);
}

// Everything after the architecture, the same for both versions: metadata (with the layers' RNG states), every
// parameter and buffer, the optimizer.
template <class Model, class Scalar>
void put_contents(ByteWriter& payload, Model& model, const ModelMetadata& metadata, const Optimizer<Scalar>* optimizer) {
    ModelMetadata meta = metadata;
    for (std::size_t i = 0; i < model.size(); ++i) {
        if (Rng* rng = model.layer(i).random_generator()) {
            const auto state = rng->state();
            for (int k = 0; k < 4; ++k) meta.integers[model.layer_name(i) + ".rng." + std::to_string(k)] = state[k];
        }
    }
    payload.put<std::uint32_t>(static_cast<std::uint32_t>(meta.text.size()));
    for (const auto& entry : meta.text) {
        payload.put_string(entry.first);
        payload.put_string(entry.second);
    }
    payload.put<std::uint32_t>(static_cast<std::uint32_t>(meta.numbers.size()));
    for (const auto& entry : meta.numbers) {
        payload.put_string(entry.first);
        payload.put<double>(entry.second);
    }
    payload.put<std::uint32_t>(static_cast<std::uint32_t>(meta.integers.size()));
    for (const auto& entry : meta.integers) {
        payload.put_string(entry.first);
        payload.put<std::uint64_t>(entry.second);
    }
    const auto params = model.params();
    const auto buffers = model.buffers();
    payload.put<std::uint32_t>(static_cast<std::uint32_t>(params.size() + buffers.size()));
    for (const auto& p : params) put_tensor(payload, p.name, *p.value);
    for (const auto& b : buffers) put_tensor(payload, b.name, *b.value);
    payload.put<std::uint8_t>(optimizer ? 1 : 0);
    if (optimizer) {
        payload.put_string(optimizer->type());
        const auto& state = optimizer->state();
        payload.put<std::uint32_t>(static_cast<std::uint32_t>(state.tensors.size()));
        for (const auto& entry : state.tensors) put_tensor(payload, entry.first, entry.second);
        payload.put<std::uint32_t>(static_cast<std::uint32_t>(state.scalars.size()));
        for (const auto& entry : state.scalars) {
            payload.put_string(entry.first);
            payload.put<double>(entry.second);
        }
    }
}

// The file around a payload: magic, version, scalar size, payload size, payload, CRC-32.
template <class Scalar>
std::string wrap_payload(std::uint32_t version, const ByteWriter& payload) {
    ByteWriter file;
    file.put_array(model_file_magic, sizeof(model_file_magic));
    file.put<std::uint32_t>(version);
    file.put<std::uint32_t>(static_cast<std::uint32_t>(sizeof(Scalar)));
    file.put<std::uint64_t>(payload.bytes().size());
    file.bytes() += payload.bytes();
    file.put<std::uint32_t>(crc32_of(payload.bytes().data(), payload.bytes().size()));
    return std::move(file.bytes());
}

}  // namespace detail

// A Sequential (and optionally an optimizer's state) encoded as .dcnn bytes, format version 1.
template <class Scalar>
std::string encode_model(Sequential<Scalar>& model, const ModelMetadata& metadata = {},
                         const Optimizer<Scalar>* optimizer = nullptr) {
    ByteWriter payload;
    detail::put_input_shape(payload, model.input_shape());
    payload.put<std::uint32_t>(static_cast<std::uint32_t>(model.size()));
    for (std::size_t i = 0; i < model.size(); ++i) detail::put_layer(payload, model.layer(i));
    detail::put_contents(payload, model, metadata, optimizer);
    return detail::wrap_payload<Scalar>(model_file_version, payload);
}

// A Graph (and optionally an optimizer's state) encoded as .dcnn bytes, format version 2.
template <class Scalar>
std::string encode_model(Graph<Scalar>& model, const ModelMetadata& metadata = {},
                         const Optimizer<Scalar>* optimizer = nullptr) {
    ByteWriter payload;
    detail::put_input_shape(payload, model.input_shape());
    payload.put_string(model.input_name());
    payload.put<std::uint32_t>(static_cast<std::uint32_t>(model.size()));
    for (std::size_t i = 0; i < model.size(); ++i) {
        payload.put_string(model.layer_name(i));
        const auto inputs = model.node_inputs(i);
        payload.put<std::uint32_t>(static_cast<std::uint32_t>(inputs.size()));
        for (const auto& input : inputs) payload.put_string(input);
        detail::put_layer(payload, model.layer(i));
    }
    detail::put_contents(payload, model, metadata, optimizer);
    return detail::wrap_payload<Scalar>(graph_model_file_version, payload);
}

// Writes the model (Sequential or Graph) atomically (PATH.tmp, fsync, rename): a crash leaves either the old file or
// the new one. Throws serialization_error, before writing anything, for a layer type that could not be loaded back.
template <template <class> class Model, class Scalar>
void save_model(const std::string& path, Model<Scalar>& model, const ModelMetadata& metadata = {},
                const Optimizer<Scalar>* optimizer = nullptr) {
    write_file_atomically(path, encode_model(model, metadata, optimizer));
}

namespace detail {

// The checked header of .dcnn bytes and a reader over their payload.
struct ModelFileHeader {
    std::uint32_t version = 0;
    std::uint32_t stored_bytes = 0;  // 4 or 8
    const char* payload = nullptr;
    std::size_t payload_bytes = 0;
};

inline ModelFileHeader read_model_header(const std::string& bytes, const std::string& source) {
    ModelFileHeader result;
    result.version = check_model_header(bytes.substr(0, model_file_header_bytes), bytes.size(), source,
                                        &result.stored_bytes);
    const std::size_t actual_payload = bytes.size() - model_file_header_bytes - 4;
    result.payload = bytes.data() + model_file_header_bytes;
    result.payload_bytes = actual_payload;
    std::uint32_t stored_crc;
    std::memcpy(&stored_crc, result.payload + actual_payload, 4);
    if (stored_crc != crc32_of(result.payload, actual_payload)) {
        throw serialization_error(source + ": checksum mismatch (the file is corrupt)");
    }
    return result;
}

// Every per-sample shape must index with int.
constexpr std::size_t max_sample_values = static_cast<std::size_t>(std::numeric_limits<int>::max());

inline Shape get_input_shape(ByteReader& in) {
    int dims[3];
    for (int& d : dims) {
        d = in.get<std::int32_t>("input shape");
        if (d <= 0 || d > (1 << 20)) in.fail("bad input dimension " + std::to_string(d));
    }
    const Shape input(1, dims[0], dims[1], dims[2]);
    if (input.per_sample() > max_sample_values) {
        in.fail("input shape " + input.sample_str() + " has more than " + std::to_string(max_sample_values) + " values");
    }
    return input;
}

// Reads one layer's type and configuration, makes it, checks that the bytes left can hold its parameters and
// buffers (so a crafted size is rejected before the layer allocates) and hands it to `add`, which builds it into the
// model for `input` and returns its per-sample output shape. Errors start with `where` ("layer 3 (Dense): ").
template <class Scalar, class AddLayer>
void read_layer(ByteReader& in, const std::string& where_prefix, const Shape& input, std::uint32_t stored_bytes,
                double& stored_bytes_needed, AddLayer&& add) {
    const std::string type = in.get_string("layer type");
    const auto entries = in.get_count("configuration size", 12);
    LayerConfig config;
    for (std::uint32_t k = 0; k < entries; ++k) {
        std::string key = in.get_string("configuration key");
        config.emplace_back(std::move(key), in.get<double>("configuration value"));
    }
    const std::string where = where_prefix + " (" + type + "): ";
    LayerPtr<Scalar> layer;
    try {
        layer = make_layer<Scalar>(type, config);
    } catch (const error& e) {
        in.fail(where + e.what());
    }
    stored_bytes_needed += stored_values(type, config, input) * stored_bytes;
    if (stored_bytes_needed > double(in.remaining())) {
        std::ostringstream needed;
        needed << std::fixed << std::setprecision(0) << stored_bytes_needed;
        in.fail(where + "the parameters up to this layer need " + needed.str() + " bytes, more than the " +
                std::to_string(in.remaining()) + " left in the file");
    }
    Shape output;
    try {
        output = add(std::move(layer));
    } catch (const error& e) {
        in.fail(where + e.what());
    }
    if (output.per_sample() > max_sample_values) {
        in.fail(where + "output shape " + output.sample_str() + " has more than " + std::to_string(max_sample_values) +
                " values");
    }
}

// Reads a version-1 chain of layers into `add(name, layer, previous name)`, naming them as Sequential does.
template <class Scalar, class AddLayer>
void read_chain(ByteReader& in, std::uint32_t stored_bytes, AddLayer&& add) {
    const auto layer_count = in.get_count("layer count", 4);
    double stored_bytes_needed = 0.0;
    for (std::uint32_t i = 0; i < layer_count; ++i) {
        read_layer<Scalar>(in, "layer " + std::to_string(i + 1), add.output_shape(), stored_bytes, stored_bytes_needed,
                           [&](LayerPtr<Scalar> layer) { return add(i, std::move(layer)); });
    }
}

// Everything after the architecture: metadata, tensors (each parameter and buffer exactly once, with its shape),
// layer RNG states, the optimizer; then nothing.
template <class Model, class Scalar>
void get_contents(ByteReader& in, Model& model, std::uint32_t stored_bytes, ModelMetadata* metadata,
                  SavedOptimizer<Scalar>* optimizer) {
    ModelMetadata meta;
    for (auto n = in.get_count("text count", 8); n > 0; --n) {
        std::string key = in.get_string("text key");
        meta.text[key] = in.get_string("text value");
    }
    for (auto n = in.get_count("number count", 12); n > 0; --n) {
        std::string key = in.get_string("number key");
        meta.numbers[key] = in.get<double>("number value");
    }
    for (auto n = in.get_count("integer count", 12); n > 0; --n) {
        std::string key = in.get_string("integer key");
        meta.integers[key] = in.get<std::uint64_t>("integer value");
    }

    std::map<std::string, Tensor<Scalar>*> targets;
    std::vector<std::pair<std::string, Tensor<Scalar>*>> ordered;
    for (auto& p : model.params()) ordered.emplace_back(p.name, p.value);
    for (auto& b : model.buffers()) ordered.emplace_back(b.name, b.value);
    for (auto& entry : ordered) targets[entry.first] = entry.second;
    const auto tensor_count = in.get_count("tensor count", 20);
    if (tensor_count != ordered.size()) {
        in.fail("holds " + std::to_string(tensor_count) + " tensors, the architecture has " +
                std::to_string(ordered.size()));
    }
    for (std::uint32_t i = 0; i < tensor_count; ++i) {
        auto named = get_tensor<Scalar>(in, stored_bytes);
        auto it = targets.find(named.first);
        if (it == targets.end()) in.fail("unexpected tensor '" + named.first + "'");
        if (it->second->shape() != named.second.shape()) {
            in.fail("tensor '" + named.first + "' has shape " + named.second.shape().str() + ", the architecture needs " +
                    it->second->shape().str());
        }
        *it->second = std::move(named.second);
        targets.erase(it);
    }
    for (std::size_t i = 0; i < model.size(); ++i) {
        Rng* rng = model.layer(i).random_generator();
        if (!rng) continue;
        Rng::State state{};
        for (int k = 0; k < 4; ++k) {
            auto it = meta.integers.find(model.layer_name(i) + ".rng." + std::to_string(k));
            if (it == meta.integers.end()) in.fail("missing the random state of " + model.layer_name(i));
            state[k] = it->second;
            meta.integers.erase(it);
        }
        rng->set_state(state);
    }
    const auto has_optimizer = in.get<std::uint8_t>("optimizer flag");
    if (has_optimizer > 1) in.fail("bad optimizer flag");
    SavedOptimizer<Scalar> saved;
    if (has_optimizer) {
        saved.type = in.get_string("optimizer type");
        for (auto n = in.get_count("optimizer tensor count", 20); n > 0; --n) {
            auto named = get_tensor<Scalar>(in, stored_bytes);
            saved.state.tensors[named.first] = std::move(named.second);
        }
        for (auto n = in.get_count("optimizer scalar count", 12); n > 0; --n) {
            std::string key = in.get_string("optimizer scalar key");
            saved.state.scalars[key] = in.get<double>("optimizer scalar value");
        }
    }
    if (in.remaining() != 0) in.fail(std::to_string(in.remaining()) + " unexpected trailing bytes");
    if (metadata) *metadata = std::move(meta);
    if (optimizer) *optimizer = std::move(saved);
}

}  // namespace detail

// Rebuilds a Sequential from .dcnn bytes of format version 1; `source` names them in errors. Fills `metadata` and,
// if the file holds one and `optimizer` is given, the optimizer state. Throws serialization_error for anything wrong,
// a Graph's file (version 2) included: decode_graph reads those.
template <class Scalar>
Sequential<Scalar> decode_model(const std::string& bytes, const std::string& source, ModelMetadata* metadata = nullptr,
                                SavedOptimizer<Scalar>* optimizer = nullptr) {
    const detail::ModelFileHeader header = detail::read_model_header(bytes, source);
    if (header.version == graph_model_file_version) {
        throw serialization_error(source + ": holds a Graph model (format version 2): load it with load_graph");
    }
    ByteReader in(header.payload, header.payload_bytes, source, model_file_header_bytes);
    Sequential<Scalar> model(detail::get_input_shape(in));
    struct AddToSequential {
        Sequential<Scalar>& model;
        Shape output_shape() const { return model.output_shape(); }
        Shape operator()(std::uint32_t /*index*/, LayerPtr<Scalar> layer) {
            model.add(std::move(layer));
            return model.output_shape();
        }
    } add{model};
    detail::read_chain<Scalar>(in, header.stored_bytes, add);
    detail::get_contents(in, model, header.stored_bytes, metadata, optimizer);
    return model;
}

// Rebuilds a Graph from .dcnn bytes: a Graph's file (version 2), or a Sequential's (version 1), whose chain becomes
// a graph with the same node names as Sequential's layer names ("conv2d_1", ...) and so the same parameter names.
// Otherwise as decode_model.
template <class Scalar>
Graph<Scalar> decode_graph(const std::string& bytes, const std::string& source, ModelMetadata* metadata = nullptr,
                           SavedOptimizer<Scalar>* optimizer = nullptr) {
    const detail::ModelFileHeader header = detail::read_model_header(bytes, source);
    ByteReader in(header.payload, header.payload_bytes, source, model_file_header_bytes);
    const Shape input = detail::get_input_shape(in);
    if (header.version == model_file_version) {
        Graph<Scalar> model(input);
        struct AddToGraph {
            Graph<Scalar>& model;
            Shape output_shape() const { return model.size() == 0 ? model.input_shape() : model.output_shape(); }
            Shape operator()(std::uint32_t index, LayerPtr<Scalar> layer) {
                const std::string previous = index == 0 ? model.input_name() : model.layer_name(index - 1);
                const std::string name = detail::lower_case(layer->type()) + "_" + std::to_string(index + 1);
                model.add(name, std::move(layer), {previous});
                return model.output_shape();
            }
        } add{model};
        detail::read_chain<Scalar>(in, header.stored_bytes, add);
        detail::get_contents(in, model, header.stored_bytes, metadata, optimizer);
        return model;
    }
    std::string input_name = in.get_string("input name");
    Graph<Scalar> model = [&] {
        try {
            return Graph<Scalar>(input, 0, std::move(input_name));
        } catch (const error& e) {
            in.fail(e.what());
        }
    }();
    const auto node_count = in.get_count("node count", 12);
    double stored_bytes_needed = 0.0;
    for (std::uint32_t i = 0; i < node_count; ++i) {
        const std::string name = in.get_string("node name");
        std::vector<std::string> inputs;
        for (auto n = in.get_count("input count", 4); n > 0; --n) inputs.push_back(in.get_string("input name"));
        if (inputs.empty()) in.fail("node \"" + name + "\": has no input");
        if (!model.has(inputs.front())) in.fail("node \"" + name + "\": unknown input \"" + inputs.front() + "\"");
        detail::read_layer<Scalar>(in, "node \"" + name + "\"", model.shape_of(inputs.front()), header.stored_bytes,
                                   stored_bytes_needed, [&](LayerPtr<Scalar> layer) {
                                       model.add(name, std::move(layer), inputs);
                                       return model.output_shape();
                                   });
    }
    detail::get_contents(in, model, header.stored_bytes, metadata, optimizer);
    return model;
}

// Loads a Sequential's .dcnn file; see decode_model. Throws io_error if the file cannot be read; reads the header
// before the body (detail::read_model_file).
template <class Scalar>
Sequential<Scalar> load_model(const std::string& path, ModelMetadata* metadata = nullptr,
                              SavedOptimizer<Scalar>* optimizer = nullptr) {
    const std::string bytes = detail::read_model_file(path);
    return decode_model<Scalar>(bytes, path, metadata, optimizer);
}

// Loads any .dcnn file as a Graph; see decode_graph. Throws io_error if the file cannot be read.
template <class Scalar>
Graph<Scalar> load_graph(const std::string& path, ModelMetadata* metadata = nullptr,
                         SavedOptimizer<Scalar>* optimizer = nullptr) {
    return decode_graph<Scalar>(detail::read_model_file(path), path, metadata, optimizer);
}

// A model of either kind, as a file holds it.
template <class Scalar>
using AnyModel = std::variant<Sequential<Scalar>, Graph<Scalar>>;

// Loads a .dcnn file as the kind it holds: a Sequential (format version 1) or a Graph (version 2); otherwise as
// load_model. Use std::visit to work on either.
template <class Scalar>
AnyModel<Scalar> load_any_model(const std::string& path, ModelMetadata* metadata = nullptr,
                                SavedOptimizer<Scalar>* optimizer = nullptr) {
    const std::string bytes = detail::read_model_file(path);
    if (detail::read_model_header(bytes, path).version == graph_model_file_version) {
        return decode_graph<Scalar>(bytes, path, metadata, optimizer);
    }
    return decode_model<Scalar>(bytes, path, metadata, optimizer);
}

// Loads a .dcnn file as a `Model` (Sequential<Scalar> through load_model, Graph<Scalar> through load_graph), for code
// written over either kind.
template <class Model>
Model load_model_as(const std::string& path, ModelMetadata* metadata = nullptr) {
    using Scalar = typename Model::scalar_type;
    if constexpr (std::is_same_v<Model, Graph<Scalar>>) return load_graph<Scalar>(path, metadata);
    else return load_model<Scalar>(path, metadata);
}

}  // namespace deepcnn
