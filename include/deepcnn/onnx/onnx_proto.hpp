// deepcnn/onnx/onnx_proto.hpp: the subset of ONNX's messages (onnx.proto) that deepcnn writes and reads, as plain
// structs: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto, OperatorSetIdProto and
// the metadata_props entries; encode_onnx_model() writes them with protobuf::WireWriter and decode_onnx_model()
// reads them with protobuf::WireReader. Fields outside the subset are skipped when read (sub-graphs, sparse tensors,
// training info, functions); a tensor whose data lives in an external file is refused. Field numbers are those of
// onnx.proto (IR version 7 and later).
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "protobuf_wire.hpp"

namespace deepcnn {
namespace onnx {

// TensorProto.DataType values deepcnn meets.
enum DataType : std::int32_t { float32 = 1, int32 = 6, int64 = 7, float64 = 11 };

// AttributeProto.AttributeType values.
enum AttributeType : std::int32_t { attr_float = 1, attr_int = 2, attr_string = 3, attr_tensor = 4, attr_graph = 5,
                                    attr_floats = 6, attr_ints = 7, attr_strings = 8 };

// Dimensions and values; float tensors keep `floats`, int64 / int32 tensors `ints` (read from raw_data or the typed
// field, whichever the file used).
struct TensorProto {
    std::string name;
    std::int32_t data_type = 0;
    std::vector<std::int64_t> dims;
    std::vector<float> floats;
    std::vector<std::int64_t> ints;
    std::string raw;  // raw_data as read; decode moves it into floats / ints
};

struct AttributeProto {
    std::string name;
    std::int32_t type = 0;
    float f = 0.0f;
    std::int64_t i = 0;
    std::string s;
    TensorProto t;
    std::vector<float> floats;
    std::vector<std::int64_t> ints;
};

struct NodeProto {
    std::vector<std::string> inputs;
    std::vector<std::string> outputs;
    std::string name;
    std::string op_type;
    std::string domain;
    std::vector<AttributeProto> attributes;
};

// A graph input or output: its name, element type and shape; a symbolic dimension (dim_param, "N") is -1 and
// its name is kept in `dim_params`.
struct ValueInfoProto {
    std::string name;
    std::int32_t elem_type = 0;
    std::vector<std::int64_t> dims;
    std::vector<std::string> dim_params;
    bool has_shape = false;
};

struct GraphProto {
    std::string name;
    std::vector<NodeProto> nodes;
    std::vector<TensorProto> initializers;
    std::vector<ValueInfoProto> inputs;
    std::vector<ValueInfoProto> outputs;
};

struct OpsetId {
    std::string domain;
    std::int64_t version = 0;
};

struct ModelProto {
    std::int64_t ir_version = 0;
    std::vector<OpsetId> opsets;
    std::string producer_name;
    std::string producer_version;
    std::string doc_string;
    GraphProto graph;
    std::vector<std::pair<std::string, std::string>> metadata;  // metadata_props, in file order
};

// ---------------------------------------------------------------- encoding

namespace detail {

inline protobuf::WireWriter encode_tensor(const TensorProto& t) {
    protobuf::WireWriter w;
    for (std::int64_t d : t.dims) w.int_field(1, d);  // proto2: not packed
    w.int_field(2, t.data_type);
    w.bytes_field(8, t.name);
    if (t.data_type == float32) {
        std::string raw(t.floats.size() * 4, '\0');
        for (std::size_t i = 0; i < t.floats.size(); ++i) {
            std::uint32_t bits = 0;
            std::memcpy(&bits, &t.floats[i], 4);
            for (int b = 0; b < 4; ++b) raw[4 * i + static_cast<std::size_t>(b)] = static_cast<char>((bits >> (8 * b)) & 0xff);
        }
        w.bytes_field(9, raw);
    } else {
        std::string raw(t.ints.size() * 8, '\0');
        for (std::size_t i = 0; i < t.ints.size(); ++i) {
            const auto bits = static_cast<std::uint64_t>(t.ints[i]);
            for (int b = 0; b < 8; ++b) raw[8 * i + static_cast<std::size_t>(b)] = static_cast<char>((bits >> (8 * b)) & 0xff);
        }
        w.bytes_field(9, raw);
    }
    return w;
}

inline protobuf::WireWriter encode_attribute(const AttributeProto& a) {
    protobuf::WireWriter w;
    w.bytes_field(1, a.name);
    w.int_field(20, a.type);
    switch (a.type) {
        case attr_float: w.float_field(2, a.f); break;
        case attr_int: w.int_field(3, a.i); break;
        case attr_string: w.bytes_field(4, a.s); break;
        case attr_tensor: w.message(5, encode_tensor(a.t)); break;
        case attr_floats:
            for (float f : a.floats) w.float_field(7, f);
            break;
        case attr_ints:
            for (std::int64_t i : a.ints) w.int_field(8, i);
            break;
        default: throw serialization_error("ONNX attribute '" + a.name + "': cannot write type " + std::to_string(a.type));
    }
    return w;
}

inline protobuf::WireWriter encode_node(const NodeProto& n) {
    protobuf::WireWriter w;
    for (const auto& input : n.inputs) w.bytes_field(1, input);
    for (const auto& output : n.outputs) w.bytes_field(2, output);
    w.bytes_field(3, n.name);
    w.bytes_field(4, n.op_type);
    for (const auto& a : n.attributes) w.message(5, encode_attribute(a));
    if (!n.domain.empty()) w.bytes_field(7, n.domain);
    return w;
}

inline protobuf::WireWriter encode_value_info(const ValueInfoProto& v) {
    protobuf::WireWriter shape;
    for (std::size_t i = 0; i < v.dims.size(); ++i) {
        protobuf::WireWriter dim;
        if (v.dims[i] >= 0) {
            dim.int_field(1, v.dims[i]);
        } else {
            dim.bytes_field(2, i < v.dim_params.size() ? v.dim_params[i] : "N");
        }
        shape.message(1, dim);
    }
    protobuf::WireWriter tensor_type;
    tensor_type.int_field(1, v.elem_type);
    if (v.has_shape) tensor_type.message(2, shape);
    protobuf::WireWriter type;
    type.message(1, tensor_type);
    protobuf::WireWriter w;
    w.bytes_field(1, v.name);
    w.message(2, type);
    return w;
}

inline protobuf::WireWriter encode_graph(const GraphProto& g) {
    protobuf::WireWriter w;
    for (const auto& n : g.nodes) w.message(1, encode_node(n));
    w.bytes_field(2, g.name);
    for (const auto& t : g.initializers) w.message(5, encode_tensor(t));
    for (const auto& v : g.inputs) w.message(11, encode_value_info(v));
    for (const auto& v : g.outputs) w.message(12, encode_value_info(v));
    return w;
}

}  // namespace detail

// The file's bytes.
inline std::string encode_onnx_model(const ModelProto& m) {
    protobuf::WireWriter w;
    w.int_field(1, m.ir_version);
    w.bytes_field(2, m.producer_name);
    w.bytes_field(3, m.producer_version);
    if (!m.doc_string.empty()) w.bytes_field(6, m.doc_string);
    w.message(7, detail::encode_graph(m.graph));
    for (const auto& opset : m.opsets) {
        protobuf::WireWriter o;
        if (!opset.domain.empty()) o.bytes_field(1, opset.domain);
        o.int_field(2, opset.version);
        w.message(8, o);
    }
    for (const auto& entry : m.metadata) {
        protobuf::WireWriter e;
        e.bytes_field(1, entry.first);
        e.bytes_field(2, entry.second);
        w.message(14, e);
    }
    return w.take();
}

// ---------------------------------------------------------------- decoding

namespace detail {

using protobuf::Field;
using protobuf::WireReader;

// A tensor's element count from its dims, refusing negative dimensions, more than 8 dimensions and counts past
// max_elements.
constexpr std::uint64_t max_tensor_elements = std::uint64_t(1) << 31;

inline std::uint64_t tensor_elements(const TensorProto& t, WireReader& in, std::size_t offset) {
    if (t.dims.size() > 8) in.fail_at(offset, "tensor '" + t.name + "' has " + std::to_string(t.dims.size()) + " dimensions");
    std::uint64_t count = 1;
    for (std::int64_t d : t.dims) {
        if (d < 0 || static_cast<std::uint64_t>(d) > max_tensor_elements) {
            in.fail_at(offset, "tensor '" + t.name + "' has dimension " + std::to_string(d));
        }
        count *= static_cast<std::uint64_t>(d);
        if (count > max_tensor_elements) in.fail_at(offset, "tensor '" + t.name + "' is too large");
    }
    return count;
}

inline TensorProto decode_tensor(WireReader in, std::size_t offset) {
    TensorProto t;
    bool external = false;
    Field f;
    std::vector<double> doubles;
    while (in.next(f)) {
        switch (f.number) {
            case 1:
                in.repeated_varints(f, "dims", [&](std::uint64_t v) {
                    if (t.dims.size() > 8) in.fail_at(f.offset, "more than 8 dimensions");
                    t.dims.push_back(static_cast<std::int64_t>(v));
                });
                break;
            case 2: t.data_type = in.int32(f, "data_type"); break;
            case 4:
                in.repeated_floats(f, "float_data", [&](float v) {
                    if (t.floats.size() >= max_tensor_elements) in.fail_at(f.offset, "too many values");
                    t.floats.push_back(v);
                });
                break;
            case 5:
            case 7:
                in.repeated_varints(f, f.number == 5 ? "int32_data" : "int64_data", [&](std::uint64_t v) {
                    if (t.ints.size() >= max_tensor_elements) in.fail_at(f.offset, "too many values");
                    t.ints.push_back(f.number == 5 ? static_cast<std::int32_t>(v) : static_cast<std::int64_t>(v));
                });
                break;
            case 8: t.name = in.string(f, "name"); break;
            case 9: t.raw = in.string(f, "raw_data"); break;
            case 14: external = in.int64(f, "data_location") == 1; break;
            case 13:
                external = true;
                in.skip(f);
                break;
            default: in.skip(f);
        }
    }
    if (external) in.fail_at(offset, "tensor '" + t.name + "' keeps its data in an external file (not supported)");
    const std::uint64_t count = tensor_elements(t, in, offset);
    if (!t.raw.empty()) {
        std::size_t width = 0;
        if (t.data_type == float32 || t.data_type == int32) width = 4;
        if (t.data_type == int64 || t.data_type == float64) width = 8;
        if (width == 0) return t;  // a type deepcnn does not read: kept for the importer to name
        if (t.raw.size() != count * width) {
            in.fail_at(offset, "tensor '" + t.name + "': raw_data holds " + std::to_string(t.raw.size()) +
                                   " bytes, its dims need " + std::to_string(count * width));
        }
        for (std::uint64_t i = 0; i < count; ++i) {
            std::uint64_t bits = 0;
            for (std::size_t b = 0; b < width; ++b) {
                bits |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(t.raw[i * width + b])) << (8 * b);
            }
            if (t.data_type == float32) {
                const auto b32 = static_cast<std::uint32_t>(bits);
                float v = 0.0f;
                std::memcpy(&v, &b32, 4);
                t.floats.push_back(v);
            } else if (t.data_type == float64) {
                double v = 0.0;
                std::memcpy(&v, &bits, 8);
                t.floats.push_back(static_cast<float>(v));
            } else if (t.data_type == int32) {
                t.ints.push_back(static_cast<std::int32_t>(static_cast<std::uint32_t>(bits)));
            } else {
                t.ints.push_back(static_cast<std::int64_t>(bits));
            }
        }
        t.raw.clear();
        return t;
    }
    const std::size_t stored = t.data_type == float32 ? t.floats.size() : t.ints.size();
    if ((t.data_type == float32 || t.data_type == int32 || t.data_type == int64) && stored != count) {
        in.fail_at(offset, "tensor '" + t.name + "' holds " + std::to_string(stored) + " values, its dims need " +
                               std::to_string(count));
    }
    return t;
}

inline AttributeProto decode_attribute(WireReader in) {
    AttributeProto a;
    Field f;
    while (in.next(f)) {
        switch (f.number) {
            case 1: a.name = in.string(f, "name"); break;
            case 20: a.type = in.int32(f, "type"); break;
            case 2: a.f = in.float32(f, "f"); break;
            case 3: a.i = in.int64(f, "i"); break;
            case 4: a.s = in.string(f, "s"); break;
            case 5: a.t = decode_tensor(in.nested(f, "t", "TensorProto"), f.offset); break;
            case 7:
                in.repeated_floats(f, "floats", [&](float v) {
                    if (a.floats.size() >= 1024) in.fail_at(f.offset, "more than 1024 floats");
                    a.floats.push_back(v);
                });
                break;
            case 8:
                in.repeated_varints(f, "ints", [&](std::uint64_t v) {
                    if (a.ints.size() >= 1024) in.fail_at(f.offset, "more than 1024 ints");
                    a.ints.push_back(static_cast<std::int64_t>(v));
                });
                break;
            default: in.skip(f);
        }
    }
    return a;
}

inline NodeProto decode_node(WireReader in) {
    NodeProto n;
    Field f;
    while (in.next(f)) {
        switch (f.number) {
            case 1: n.inputs.push_back(in.string(f, "input")); break;
            case 2: n.outputs.push_back(in.string(f, "output")); break;
            case 3: n.name = in.string(f, "name"); break;
            case 4: n.op_type = in.string(f, "op_type"); break;
            case 5: n.attributes.push_back(decode_attribute(in.nested(f, "attribute", "AttributeProto"))); break;
            case 7: n.domain = in.string(f, "domain"); break;
            default: in.skip(f);
        }
    }
    return n;
}

inline void decode_shape(WireReader in, ValueInfoProto& v) {
    v.has_shape = true;
    Field f;
    while (in.next(f)) {
        if (f.number != 1) {
            in.skip(f);
            continue;
        }
        WireReader dim = in.nested(f, "dim", "TensorShapeProto.Dimension");
        std::int64_t value = -1;
        std::string param;
        Field d;
        while (dim.next(d)) {
            if (d.number == 1) {
                value = dim.int64(d, "dim_value");
            } else if (d.number == 2) {
                param = dim.string(d, "dim_param");
            } else {
                dim.skip(d);
            }
        }
        if (v.dims.size() >= 8) in.fail_at(f.offset, "value '" + v.name + "' has more than 8 dimensions");
        v.dims.push_back(value);
        v.dim_params.push_back(param);
    }
}

inline ValueInfoProto decode_value_info(WireReader in) {
    ValueInfoProto v;
    Field f;
    while (in.next(f)) {
        if (f.number == 1) {
            v.name = in.string(f, "name");
        } else if (f.number == 2) {
            WireReader type = in.nested(f, "type", "TypeProto");
            Field t;
            while (type.next(t)) {
                if (t.number != 1) {  // sequences, maps, optionals: left for the importer to refuse
                    type.skip(t);
                    continue;
                }
                WireReader tensor = type.nested(t, "tensor_type", "TypeProto.Tensor");
                Field e;
                while (tensor.next(e)) {
                    if (e.number == 1) {
                        v.elem_type = tensor.int32(e, "elem_type");
                    } else if (e.number == 2) {
                        decode_shape(tensor.nested(e, "shape", "TensorShapeProto"), v);
                    } else {
                        tensor.skip(e);
                    }
                }
            }
        } else {
            in.skip(f);
        }
    }
    return v;
}

inline GraphProto decode_graph(WireReader in) {
    GraphProto g;
    Field f;
    while (in.next(f)) {
        switch (f.number) {
            case 1: g.nodes.push_back(decode_node(in.nested(f, "node", "NodeProto"))); break;
            case 2: g.name = in.string(f, "name"); break;
            case 5: g.initializers.push_back(decode_tensor(in.nested(f, "initializer", "TensorProto"), f.offset)); break;
            case 11: g.inputs.push_back(decode_value_info(in.nested(f, "input", "ValueInfoProto"))); break;
            case 12: g.outputs.push_back(decode_value_info(in.nested(f, "output", "ValueInfoProto"))); break;
            default: in.skip(f);
        }
    }
    return g;
}

}  // namespace detail

// Decodes an ONNX file's bytes; `source` (the path) prefixes every error: "model.onnx: byte 1234:
// NodeProto.attribute: length 99 runs past the end of its message (3 bytes left)". A file without a graph is refused.
inline ModelProto decode_onnx_model(const std::string& bytes, const std::string& source) {
    detail::WireReader in(source, bytes.data(), bytes.size(), "ModelProto");
    ModelProto m;
    bool has_graph = false;
    detail::Field f;
    while (in.next(f)) {
        switch (f.number) {
            case 1: m.ir_version = in.int64(f, "ir_version"); break;
            case 2: m.producer_name = in.string(f, "producer_name"); break;
            case 3: m.producer_version = in.string(f, "producer_version"); break;
            case 6: m.doc_string = in.string(f, "doc_string"); break;
            case 7:
                m.graph = detail::decode_graph(in.nested(f, "graph", "GraphProto"));
                has_graph = true;
                break;
            case 8: {
                detail::WireReader o = in.nested(f, "opset_import", "OperatorSetIdProto");
                OpsetId opset;
                detail::Field e;
                while (o.next(e)) {
                    if (e.number == 1) {
                        opset.domain = o.string(e, "domain");
                    } else if (e.number == 2) {
                        opset.version = o.int64(e, "version");
                    } else {
                        o.skip(e);
                    }
                }
                m.opsets.push_back(opset);
                break;
            }
            case 14: {
                detail::WireReader e = in.nested(f, "metadata_props", "StringStringEntryProto");
                std::pair<std::string, std::string> entry;
                detail::Field k;
                while (e.next(k)) {
                    if (k.number == 1) {
                        entry.first = e.string(k, "key");
                    } else if (k.number == 2) {
                        entry.second = e.string(k, "value");
                    } else {
                        e.skip(k);
                    }
                }
                m.metadata.push_back(std::move(entry));
                break;
            }
            default: in.skip(f);
        }
    }
    if (!has_graph) throw serialization_error(source + ": not an ONNX model (no graph)");
    return m;
}

}  // namespace onnx
}  // namespace deepcnn
