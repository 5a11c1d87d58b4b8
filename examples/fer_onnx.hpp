// examples/fer_onnx.hpp: the ONNX file of a model the FER programs wrote: for a FER model (its metadata names the
// classes) the graph takes the raw pixels as `image` (N, 1, 48, 48, values 0..255), normalises them inside, and
// gives `probabilities` (N, K) as fer_predict --tta off does, with the class names in the metadata; any other model
// keeps save_onnx's defaults. Every metadata entry travels along, so .dcnn -> .onnx -> .dcnn keeps it.
#pragma once

#include <string>

#include <deepcnn/deepcnn.hpp>

#include "fer_common.hpp"

namespace fer {

// save_onnx's options for a model whose .dcnn metadata is `meta` (`source` names the file in errors).
inline deepcnn::OnnxExportOptions onnx_options(const deepcnn::ModelMetadata& meta, int outputs,
                                               const std::string& source) {
    deepcnn::OnnxExportOptions options;
    options.metadata = meta;
    if (meta.text.count("classes") != 0) {
        const ModelInfo info = read_model_info(meta, outputs, source);
        options.input_name = "image";
        options.output_name = "probabilities";
        options.preprocessing = info.normalization;
        options.class_names = info.classes;
    }
    return options;
}

// Writes `model` (with its .dcnn metadata `meta`) as ONNX to `path`.
template <class Model>
void save_fer_onnx(const std::string& path, Model& model, const deepcnn::ModelMetadata& meta) {
    deepcnn::save_onnx(path, model, onnx_options(meta, static_cast<int>(model.output_shape().per_sample()), path));
}

}  // namespace fer
