// deepcnn/optim/optimizer.hpp: the Optimizer interface and its state, keyed by parameter name
// ("conv2d_1.weight/m") so that a checkpoint can save and restore it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../layers/layer.hpp"
#include "../parallel/thread_pool.hpp"
#include "../tensor.hpp"

namespace deepcnn {

// Everything an optimizer carries between steps: named tensors (moments, velocities) and named scalars (step).
template <class Scalar>
struct OptimizerState {
    std::map<std::string, Tensor<Scalar>> tensors;
    std::map<std::string, double> scalars;
};

template <class Scalar>
class Optimizer {
public:
    explicit Optimizer(double learning_rate) : learning_rate_(learning_rate) { check_rate(learning_rate); }
    virtual ~Optimizer() = default;

    virtual std::string type() const = 0;
    // Updates every parameter from its gradient. Names must be unique and stable between steps. With a pool,
    // each parameter's elements are split over its threads; the updates are elementwise, so the result is the
    // same on any number of threads.
    void step(const std::vector<ParamRef<Scalar>>& params, ThreadPool* pool = nullptr) { step_impl(params, pool); }

    double learning_rate() const { return learning_rate_; }
    void set_learning_rate(double rate) {
        check_rate(rate);
        learning_rate_ = rate;
    }

    const OptimizerState<Scalar>& state() const { return state_; }
    // Restores a saved state; the next step continues exactly where the saved optimizer stopped.
    void set_state(OptimizerState<Scalar> state) { state_ = std::move(state); }

protected:
    virtual void step_impl(const std::vector<ParamRef<Scalar>>& params, ThreadPool* pool) = 0;

    // fn(begin, end) over contiguous ranges covering [0, count), split over `pool` for large parameters. Ranges
    // start at multiples of 16, so that a kernel vectorised by 8 or 16 gives the same bits for any thread count.
    template <class F>
    static void for_elements(ThreadPool* pool, std::size_t count, F&& fn) {
        parallel_for(pool, static_cast<long>(count), 16384, 16, [&](long begin, long end) {
            fn(static_cast<std::size_t>(begin), static_cast<std::size_t>(end));
        });
    }

    // The state tensor "PARAM/SUFFIX" (param + suffix) shaped like `like`, created as zeros on first use; throws if
    // a restored state holds it with another shape. Builds the key in a reused string: no allocation once every
    // key has been seen.
    Tensor<Scalar>& slot(const std::string& param, const char* suffix, const Tensor<Scalar>& like) {
        key_.assign(param);
        key_ += suffix;
        auto it = state_.tensors.find(key_);
        if (it == state_.tensors.end()) {
            it = state_.tensors.emplace(key_, Tensor<Scalar>(like.shape(), Scalar(0))).first;
        } else if (it->second.shape() != like.shape()) {
            throw shape_error(type() + ": state '" + key_ + "' has shape " + it->second.shape().str() +
                              ", parameter has " + like.shape().str());
        }
        return it->second;
    }
    double& scalar(const std::string& key) { return state_.scalars[key]; }

private:
    static void check_rate(double rate) {
        if (!(rate > 0.0)) throw config_error("learning rate must be > 0, got " + std::to_string(rate));
    }

    double learning_rate_;
    OptimizerState<Scalar> state_;
    std::string key_;  // slot()'s key, kept for its capacity
};

}  // namespace deepcnn
