// deepcnn/train/checkpoint.hpp: what a training checkpoint holds beyond the model file's weights: reading one back
// (weights by name, layer random states, optimizer state, metadata) and the layers' random generators of a model,
// by layer name. The file itself is io/model_file.hpp's format; the training state's keys are training_state.hpp's.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../io/model_file.hpp"
#include "../model/graph.hpp"
#include "../model/sequential.hpp"
#include "../random.hpp"

namespace deepcnn {

// The layers of `model` (Sequential or Graph) that draw random numbers (Dropout), by layer name, with their generators.
template <class Model>
std::vector<std::pair<std::string, Rng*>> layer_random_generators(Model& model) {
    std::vector<std::pair<std::string, Rng*>> out;
    for (std::size_t i = 0; i < model.size(); ++i)
        if (Rng* rng = model.layer(i).random_generator()) out.emplace_back(model.layer_name(i), rng);
    return out;
}

// A checkpoint file's contents, by name.
template <class Scalar>
struct CheckpointContents {
    std::map<std::string, Tensor<Scalar>> weights;  // every parameter and buffer
    std::map<std::string, Rng::State> generators;   // by layer name
    ModelMetadata metadata;
    SavedOptimizer<Scalar> optimizer;                // type empty if the file holds no optimizer state
};

// Reads a checkpoint written by save_model with an optimizer, of a Sequential or a Graph (read as a Graph, whose
// parameter and layer names are a Sequential's). Throws as load_graph.
template <class Scalar>
CheckpointContents<Scalar> read_checkpoint(const std::string& path) {
    CheckpointContents<Scalar> contents;
    Graph<Scalar> stored = load_graph<Scalar>(path, &contents.metadata, &contents.optimizer);
    for (const auto& p : stored.params()) contents.weights[p.name] = std::move(*p.value);
    for (const auto& b : stored.buffers()) contents.weights[b.name] = std::move(*b.value);
    for (const auto& g : layer_random_generators(stored)) contents.generators[g.first] = g.second->state();
    return contents;
}

}  // namespace deepcnn
