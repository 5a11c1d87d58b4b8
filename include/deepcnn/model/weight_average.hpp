// deepcnn/model/weight_average.hpp: an exponential moving average of a model's parameters and buffers (Polyak
// averaging). Evaluating the average instead of the last weights smooths the epoch-to-epoch noise of training.
// Works on any model with named params() and buffers() (Sequential, and models with the same interface).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

#include "../error.hpp"
#include "../optim/optimizer.hpp"
#include "model_base.hpp"

namespace deepcnn {

template <class Scalar>
class WeightAverage {
public:
    // `decay` in [0, 1): the weight the average keeps at each update; 0.999 averages over about 1000 steps.
    explicit WeightAverage(double decay) : decay_(decay) {
        if (!(decay >= 0.0 && decay < 1.0)) throw config_error("WeightAverage: decay must be in [0, 1)");
    }

    double decay() const { return decay_; }
    std::uint64_t updates() const { return updates_; }

    // The decay the next update uses: min(decay, (1 + n) / (10 + n)) after n updates, so that the average
    // forgets the first weights quickly; the first update copies the model.
    double next_decay() const {
        const double n = double(updates_);
        return std::min(decay_, (1.0 + n) / (10.0 + n));
    }

    // average = d * average + (1 - d) * current, for every parameter and buffer (BatchNorm running statistics).
    template <class Model>
    void update(Model& model) {
        const Scalar keep = Scalar(next_decay());
        for_each_tensor(model, [&](const std::string& name, Tensor<Scalar>& current) {
            Tensor<Scalar>& average = entry(name, current);
            if (updates_ == 0) {
                std::copy(current.begin(), current.end(), average.begin());
                return;
            }
            Scalar* a = average.data();
            const Scalar* x = current.data();
            for (std::size_t i = 0; i < average.size(); ++i) a[i] = x[i] + keep * (a[i] - x[i]);
        });
        ++updates_;
    }

    // Exchanges the model's parameters and buffers with the average, in place: once to evaluate or save the
    // average, once more to go back to the trained weights.
    template <class Model>
    void swap_with(Model& model) {
        if (updates_ == 0) throw error("WeightAverage: swap_with before the first update");
        for_each_tensor(model, [&](const std::string& name, Tensor<Scalar>& current) {
            Tensor<Scalar>& average = entry(name, current);
            std::swap_ranges(current.begin(), current.end(), average.begin());
        });
    }

    // The average as named state ("average/conv2d_1.weight", scalar "average/updates"), so that it travels in
    // a checkpoint beside the optimizer's own state.
    void store(OptimizerState<Scalar>& state) const {
        for (const auto& item : average_) state.tensors[key(item.first)] = item.second;
        state.scalars[key("updates")] = double(updates_);
    }

    // Restores what store() wrote, checking it against the model; `source` names the file in errors.
    template <class Model>
    void restore(const OptimizerState<Scalar>& state, Model& model, const std::string& source) {
        auto count = state.scalars.find(key("updates"));
        if (count == state.scalars.end()) throw serialization_error(source + ": holds no weight average");
        std::map<std::string, Tensor<Scalar>> restored;
        for_each_tensor(model, [&](const std::string& name, Tensor<Scalar>& current) {
            auto it = state.tensors.find(key(name));
            if (it == state.tensors.end()) throw serialization_error(source + ": weight average lacks " + name);
            if (it->second.shape() != current.shape()) {
                throw serialization_error(source + ": weight average of " + name + " has shape " +
                                          it->second.shape().str() + ", the model has " + current.shape().str());
            }
            restored[name] = it->second;
        });
        average_ = std::move(restored);
        updates_ = static_cast<std::uint64_t>(count->second);
    }

    static bool stored_in(const OptimizerState<Scalar>& state) {
        return state.scalars.count(key("updates")) != 0;
    }

private:
    static std::string key(const std::string& name) { return "average/" + name; }

    template <class Model, class Visit>
    static void for_each_tensor(Model& model, Visit&& visit) {
        for (const auto& p : model.params()) visit(p.name, *p.value);
        for (const auto& b : model.buffers()) visit(b.name, *b.value);
    }

    Tensor<Scalar>& entry(const std::string& name, const Tensor<Scalar>& like) {
        auto it = average_.find(name);
        if (it == average_.end()) it = average_.emplace(name, Tensor<Scalar>(like.shape(), Scalar(0))).first;
        if (it->second.shape() != like.shape()) {
            throw shape_error("WeightAverage: " + name + " has shape " + like.shape().str() + ", its average " +
                              it->second.shape().str());
        }
        return it->second;
    }

    double decay_;
    std::uint64_t updates_ = 0;
    std::map<std::string, Tensor<Scalar>> average_;  // by parameter or buffer name
};

}  // namespace deepcnn
