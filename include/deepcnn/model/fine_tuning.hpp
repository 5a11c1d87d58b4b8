// deepcnn/model/fine_tuning.hpp: fine-tuning either kind of model (Sequential or Graph) by layer names: find a
// layer by the name its parameters carry, freeze named layers or everything up to one, and replace a classifier's
// head (the Dense that makes the logits and the Softmax after it) with one for another number of classes. The
// freezing itself is ModelBase's (set_trainable); removing a layer is the model's pop().
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "../error.hpp"
#include "../layers/layer.hpp"
#include "../layers/softmax.hpp"
#include "graph.hpp"
#include "layer_factory.hpp"

namespace deepcnn {

// The position of the layer named `name` (a Graph's node name, a Sequential's "conv2d_1"): the index that
// layer(i), set_trainable(i) and freeze_up_to take. Throws config_error naming the model's first and last layers
// when there is none.
template <class Model>
std::size_t layer_index(const Model& model, const std::string& name) {
    for (std::size_t i = 0; i < model.size(); ++i)
        if (model.layer_name(i) == name) return i;
    std::string known = "the model has no layers";
    if (model.size() > 0) {
        known = "its layers are " + model.layer_name(0) + (model.size() > 2 ? " ... " : ", ") +
                model.layer_name(model.size() - 1);
    }
    throw config_error(std::string(Model::kind) + ": no layer named \"" + name + "\" (" + known + ")");
}

// Freezes the layers named `names` (see ModelBase::set_trainable); checks every name before freezing any.
template <class Model>
void freeze_layers(Model& model, const std::vector<std::string>& names) {
    std::vector<std::size_t> indices;
    for (const std::string& name : names) indices.push_back(layer_index(model, name));
    for (std::size_t i : indices) model.freeze(i);
}

// Freezes the layer named `name` and every layer added before it: in a Graph, whose nodes are kept in the order
// added, that includes every node `name` depends on. Returns how many layers are frozen that way (its index + 1).
template <class Model>
std::size_t freeze_through(Model& model, const std::string& name) {
    const std::size_t end = layer_index(model, name) + 1;
    model.freeze_up_to(end);
    return end;
}

// Makes every layer learn again.
template <class Model>
void unfreeze_all(Model& model) {
    for (std::size_t i = 0; i < model.size(); ++i) model.unfreeze(i);
}

// Replaces a classifier's head with one for `classes` outputs: the model must end in a Dense layer, or in a Dense
// and a Softmax reading it (the last two layers added). Both are removed (pop) and a new Dense, configured as the
// old one (bias, initialisation) but with `classes` units, is added in the old one's place (a Graph: the same node
// name, reading the same input), followed by a Softmax where there was one. The new weights are drawn from
// model.rng() (reseed it first for weights that do not depend on the model's history); every other layer keeps its
// weights and its frozen or trainable state. Returns the new Dense's index, which is also the number of layers
// below it: model.freeze_up_to(replace_head(model, 7)) trains the new head alone. Throws config_error naming the
// layer where the model does not end that way, and for classes < 1.
template <class Model>
std::size_t replace_head(Model& model, int classes) {
    using Scalar = typename Model::scalar_type;
    const std::string where = std::string(Model::kind) + "::replace_head";
    if (classes < 1) throw config_error(where + ": classes must be positive, got " + std::to_string(classes));
    const std::size_t n = model.size();
    const bool softmax = n > 0 && model.layer(n - 1).type() == "Softmax";
    const std::size_t dense = softmax ? n - 2 : n - 1;
    if (n < (softmax ? 2u : 1u) || model.layer(dense).type() != "Dense") {
        const std::string last = n == 0 ? "the model has no layers"
                                        : "its last layers are " + model.layer_name(n - 1) + " (" +
                                              model.layer(n - 1).type() + ")" +
                                              (softmax && n >= 2 ? " reading " + model.layer_name(dense) + " (" +
                                                                       model.layer(dense).type() + ")"
                                                                 : "");
        throw config_error(where + ": expected the model to end in a Dense layer, or a Dense and a Softmax reading it; " +
                           last);
    }
    LayerConfig config = model.layer(dense).config();
    for (auto& entry : config)
        if (entry.first == "units") entry.second = classes;
    if constexpr (std::is_same<Model, Graph<Scalar>>::value) {
        if (softmax && model.node_inputs(n - 1) != std::vector<std::string>{model.layer_name(dense)}) {
            throw config_error(where + ": the output node " + model.layer_name(n - 1) +
                               " (Softmax) does not read the Dense node " + model.layer_name(dense));
        }
        const std::string dense_name = model.layer_name(dense);
        const std::vector<std::string> dense_inputs = model.node_inputs(dense);
        const std::string softmax_name = softmax ? model.layer_name(n - 1) : std::string();
        if (softmax) model.pop();
        model.pop();
        model.add(dense_name, make_layer<Scalar>("Dense", config), dense_inputs);
        if (softmax) model.add(softmax_name, Softmax<Scalar>(), {dense_name});
    } else {
        if (softmax) model.pop();
        model.pop();
        model.add(make_layer<Scalar>("Dense", config));
        if (softmax) model.add(Softmax<Scalar>());
    }
    return dense;
}

}  // namespace deepcnn
