// deepcnn/onnx.hpp: ONNX export and import (docs/onnx.md): save_onnx / encode_onnx write a Sequential or Graph as
// an ONNX model, load_onnx / decode_onnx read one into a Graph. A hand-written protobuf wire format
// (onnx/protobuf_wire.hpp) keeps the library header-only, with no link dependency. Included by deepcnn.hpp.
#pragma once

#include "onnx/onnx_export.hpp"
#include "onnx/onnx_import.hpp"
#include "onnx/onnx_proto.hpp"
#include "onnx/protobuf_wire.hpp"
