// deepcnn/train/trainer.hpp: Trainer<Model>, the training loop in the library: seeded shuffling and batching of a
// DataSource, optional augmentation, the learning-rate schedule (per batch or per epoch), validation each epoch
// (optionally flip-averaged, optionally on a moving average of the weights), the best epoch and early stopping,
// checkpoints after every epoch and on a stop request that resume bit-exactly (mid-epoch too), the divergence
// guard, a progress bar, a history and user callbacks. fit() is the one-call form.
// Works for Sequential and Graph (ModelBase: train_step, predict, params, buffers, layers, a backward observer).
// With options.communicator, data-parallel over its ranks (distributed/data_parallel.hpp, docs/distributed.md).
// The options and result are trainer_options.hpp's; the checkpoint's training state is training_state.hpp's.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

#include "../data/augment.hpp"
#include "../distributed/data_parallel.hpp"
#include "../error.hpp"
#include "../io/load_weights.hpp"
#include "../io/model_file.hpp"
#include "../loss/softmax_cross_entropy.hpp"
#include "../model/weight_average.hpp"
#include "../optim/optimizer.hpp"
#include "checkpoint.hpp"
#include "data_source.hpp"
#include "divergence.hpp"
#include "evaluation.hpp"
#include "memory_estimate.hpp"
#include "progress.hpp"
#include "trainer_options.hpp"
#include "training_state.hpp"

namespace deepcnn {

// What on_batch_end callbacks see after each training step.
struct BatchEnd {
    int epoch = 0;  // 1-based
    int step = 0;   // 1-based within the epoch
    int steps = 0;
    StepResult result;
    double learning_rate = 0.0;
};

namespace detail {
inline bool stderr_is_terminal() {
#if __has_include(<unistd.h>)
    return ::isatty(STDERR_FILENO) != 0;
#else
    return false;
#endif
}
}  // namespace detail

template <class Model>
class Trainer {
public:
    using Scalar = typename Model::scalar_type;
    using Weights = std::map<std::string, Tensor<Scalar>>;

    // Trains `model` with `optimizer`; both must outlive the Trainer. Throws config_error for a bad option.
    Trainer(Model& model, Optimizer<Scalar>& optimizer, TrainerOptions options = {})
        : model_(model), optimizer_(optimizer), options_(std::move(options)), data_rng_(options_.seed) {
        if (options_.epochs < 1 || options_.batch < 1 || options_.evaluation_batch < 1) {
            throw config_error("Trainer: epochs, batch and evaluation batch must be >= 1, got " +
                               std::to_string(options_.epochs) + ", " + std::to_string(options_.batch) + ", " +
                               std::to_string(options_.evaluation_batch));
        }
        if (options_.early_stopping_patience < 0) throw config_error("Trainer: early stopping patience must be >= 0");
        if (!(options_.label_smoothing >= 0.0 && options_.label_smoothing < 1.0)) {
            throw config_error("Trainer: label smoothing must be in [0, 1), got " +
                               std::to_string(options_.label_smoothing));
        }
        if (options_.augment) options_.augmentation.validate();
        if (options_.weight_average > 0.0) average_ = std::make_unique<WeightAverage<Scalar>>(options_.weight_average);
        if (options_.communicator) {
            if (options_.batch < options_.communicator->size()) {
                throw config_error("Trainer: the batch (" + std::to_string(options_.batch) + ") must be at least the " +
                                   "number of ranks (" + std::to_string(options_.communicator->size()) + ")");
            }
            parallel_ = std::make_unique<DataParallel<Model>>(model_, *options_.communicator,
                                                              options_.gradient_bucket_bytes, options_.overlap_gradient_sums,
                                                              options_.sync_batch_norm);
        }
    }

    // Callbacks, called in the order added. on_batch_begin (1-based epoch and step): before every training step,
    // after the batch is fetched and augmented (to time the steps alone, say). on_batch_end: after every step. on_improvement: after an epoch whose
    // monitored accuracy is the best so far, with the model holding the evaluated weights (the average's, with a
    // weight average), before the checkpoint (save the best model here). on_epoch_end: after each epoch's
    // checkpoint, with whether it improved. A callback may call request_stop().
    void on_batch_begin(std::function<void(int epoch, int step)> f) { batch_begin_.push_back(std::move(f)); }
    void on_batch_end(std::function<void(const BatchEnd&)> f) { batch_end_.push_back(std::move(f)); }
    void on_improvement(std::function<void(Model&, const EpochRecord&)> f) { improvement_.push_back(std::move(f)); }
    void on_epoch_end(std::function<void(const EpochRecord&, bool)> f) { epoch_end_.push_back(std::move(f)); }

    // Asks fit to stop after the current step, as options.stop does.
    void request_stop() { stop_requested_.store(true); }

    // Restores model weights, layer random states, optimizer state, weight average, best weights, schedule and
    // training state from a checkpoint this Trainer's options wrote; the next fit continues where it stopped and
    // gives the same bits as a run that was never interrupted. Throws serialization_error / data_error /
    // shape_error naming the file for a checkpoint that does not match.
    void resume(const std::string& path) { resume(read_checkpoint<Scalar>(path), path); }
    // As resume(path), from a checkpoint the caller has read already (to check its metadata first, say).
    void resume(CheckpointContents<Scalar> saved, const std::string& path) {
        if (saved.optimizer.type != optimizer_.type()) {
            throw data_error(path + ": checkpoint holds " + (saved.optimizer.type.empty() ? "no" : saved.optimizer.type) +
                             " optimizer state, this run uses " + optimizer_.type());
        }
        if (WeightAverage<Scalar>::stored_in(saved.optimizer.state) != (average_ != nullptr)) {
            throw data_error(path + ": checkpoint " + (average_ ? "holds no" : "holds a") + " weight average, this run " +
                             (average_ ? "uses" : "does not use") + " one");
        }
        assign_weights(model_, saved.weights, path, true);
        for (const auto& g : layer_random_generators(model_)) {
            auto it = saved.generators.find(g.first);
            if (it == saved.generators.end()) throw serialization_error(path + ": missing the random state of " + g.first);
            g.second->set_state(it->second);
        }
        if (average_) average_->restore(saved.optimizer.state, model_, path);
        best_.clear();
        for (const auto& entry : saved.optimizer.state.tensors)
            if (entry.first.rfind(best_prefix, 0) == 0) best_[entry.first.substr(best_prefix_size)] = entry.second;
        optimizer_.set_state(std::move(saved.optimizer.state));
        state_ = load_training_state(saved.metadata, data_rng_, options_.schedule.get(), path);
    }

    // Trains from where the Trainer stands (epoch 0, or a resumed checkpoint) to options.epochs, validating on
    // `validation` after every epoch if given. With options.stop, the model's cancel flag is set to it (a stop during
    // validation then writes a checkpoint that resumes at that validation). Throws config_error before training if
    // the estimated memory exceeds what is available (options.check_memory). Returns why it stopped and the history;
    // throws divergence_error when the loss or a weight becomes non-finite, data_error for a non-finite input
    // (divergence_guard).
    TrainingResult fit(DataSource<Scalar>& train, DataSource<Scalar>* validation = nullptr) {
        stop_requested_.store(false);
        const int N = train.size();
        if (N <= 0) throw data_error("Trainer: the training set is empty");
        if (validation && validation->size() <= 0) throw data_error("Trainer: the validation set is empty");
        if (options_.check_memory) check_memory(std::min(options_.batch, N), validation != nullptr);
        if (options_.stop) model_.set_cancel_flag(options_.stop);  // validation stops within a batch, too
        const int steps = step_count(N);
        steps_ = steps;
        std::vector<std::size_t> order(static_cast<std::size_t>(N));
        Tensor<Scalar> batch_images, augmented;
        std::vector<int> batch_labels;
        SoftmaxCrossEntropy<Scalar> loss;
        loss.set_label_smoothing(options_.label_smoothing);
        ProgressBar progress(options_.verbosity == Verbosity::automatic && detail::stderr_is_terminal() && is_rank0());
        if (parallel_) parallel_->broadcast_model();
        const int patience = options_.early_stopping_patience;
        StopReason reason = StopReason::completed;

        for (int epoch = state_.epochs_done; epoch < options_.epochs; ++epoch) {
            if (patience > 0 && state_.best_epoch > 0 && epoch - state_.best_epoch >= patience) {
                log("Early stopping: no validation improvement for " + std::to_string(patience) + " epochs\n");
                reason = StopReason::early_stopping;
                break;
            }
            // The epoch's order is drawn from the generator's state at the epoch start, also when resuming mid-epoch.
            const Rng::State resume_rng = data_rng_.state();
            if (state_.step_in_epoch == 0) state_.epoch_start_rng = data_rng_.state();
            data_rng_.set_state(state_.epoch_start_rng);
            std::iota(order.begin(), order.end(), std::size_t(0));
            if (options_.shuffle) data_rng_.shuffle(order.begin(), order.end());
            if (state_.step_in_epoch > 0) data_rng_.set_state(resume_rng);

            const auto epoch_clock = Clock::now();
            // Resumed after the epoch's last step (stopped during validation): the rate that step used, for history.
            if (state_.step_in_epoch >= steps && options_.schedule) set_learning_rate(epoch, steps - 1, steps);
            for (int step = state_.step_in_epoch; step < steps; ++step) {
                const std::size_t first = static_cast<std::size_t>(step) * static_cast<std::size_t>(options_.batch);
                const std::size_t count = std::min<std::size_t>(static_cast<std::size_t>(options_.batch), order.size() - first);
                train.fetch(order.data() + first, count, batch_images, batch_labels);
                if (options_.divergence_guard) check_inputs(batch_images, order.data() + first, epoch, step);
                if (options_.augment) augment_batch(batch_images, augmented, options_.augmentation, data_rng_);
                const Tensor<Scalar>& inputs = options_.augment ? augmented : batch_images;
                if (options_.schedule) set_learning_rate(epoch, step, steps);
                for (auto& f : batch_begin_) f(epoch + 1, step + 1);
                const StepResult result = parallel_ ? parallel_step(inputs, batch_labels, loss)
                                                    : model_.train_step(inputs, batch_labels, loss, optimizer_);
                if (average_) average_->update(model_);
                if (options_.divergence_guard) check_step(result, epoch, step);
                state_.epoch_loss_sum += result.loss * result.count;
                state_.epoch_correct += result.correct;
                state_.epoch_seen += result.count;
                state_.step_in_epoch = step + 1;
                const double elapsed = state_.epoch_seconds + seconds_since(epoch_clock);
                const double rate = state_.epoch_seen / std::max(elapsed, 1e-9);
                progress.update(epoch + 1, options_.epochs, step + 1, steps, state_.epoch_loss_sum / state_.epoch_seen,
                                double(state_.epoch_correct) / state_.epoch_seen, rate, (N - state_.epoch_seen) / rate);
                for (auto& f : batch_end_) f(BatchEnd{epoch + 1, step + 1, steps, result, optimizer_.learning_rate()});
                if (stop_agreed() && step + 1 < steps) {
                    state_.epoch_seconds = elapsed;
                    state_.train_seconds += seconds_since(epoch_clock);
                    write_checkpoint();
                    progress.clear();
                    return finish(StopReason::stop_requested);
                }
            }
            const double train_time = state_.epoch_seconds + seconds_since(epoch_clock);
            state_.train_seconds += seconds_since(epoch_clock);
            progress.clear();

            const auto validation_clock = Clock::now();
            if (average_) average_->swap_with(model_);
            EpochRecord record;
            record.epoch = epoch + 1;
            record.train_loss = state_.epoch_loss_sum / state_.epoch_seen;
            record.train_accuracy = double(state_.epoch_correct) / state_.epoch_seen;
            if (validation) {
                ClassifierEvaluation<Scalar> val;
                try {
                    val = parallel_ ? parallel_->evaluate_classifier(*validation, options_.flip_averaged_evaluation,
                                                                     options_.evaluation_batch)
                                    : evaluate_classifier(model_, *validation, options_.flip_averaged_evaluation,
                                                          options_.evaluation_batch);
                } catch (const cancelled&) {  // the epoch's steps are done: the checkpoint resumes at its validation
                    if (average_) average_->swap_with(model_);
                    state_.epoch_seconds = train_time;
                    write_checkpoint();
                    return finish(StopReason::stop_requested);
                }
                if (options_.divergence_guard && !std::isfinite(val.loss)) {
                    throw diverged(epoch + 1, ": validation loss " + std::to_string(val.loss));
                }
                record.val_loss = val.loss;
                record.val_accuracy = val.accuracy;
            }
            record.learning_rate = optimizer_.learning_rate();
            record.images_per_second = state_.epoch_seen / std::max(train_time, 1e-9);
            record.seconds = train_time + seconds_since(validation_clock);
            state_.history.push_back(record);
            const double metric = validation ? record.val_accuracy : record.train_accuracy;
            if (options_.schedule) options_.schedule->end_epoch(metric);

            const bool improved = metric > state_.best_metric;
            log(format_epoch_line(record, options_.epochs, validation != nullptr, improved));
            state_.epochs_done = epoch + 1;
            state_.step_in_epoch = 0;
            state_.epoch_loss_sum = state_.epoch_seconds = 0.0;
            state_.epoch_correct = state_.epoch_seen = 0;
            if (improved) {
                state_.best_metric = metric;
                state_.best_epoch = epoch + 1;
                if (options_.restore_best_weights) best_ = snapshot_weights(model_);
                for (auto& f : improvement_) f(model_, record);
            }
            if (average_) average_->swap_with(model_);
            write_checkpoint();
            for (auto& f : epoch_end_) f(record, improved);
            if (stop_agreed()) return finish(StopReason::stop_requested);
        }
        if (options_.restore_best_weights && !best_.empty()) assign_weights(model_, best_, "best weights", true);
        return finish(reason);
    }
    TrainingResult fit(const Tensor<Scalar>& images, const std::vector<int>& labels) {
        TensorSource<Scalar> train(images, labels);
        return fit(train);
    }
    TrainingResult fit(const Tensor<Scalar>& images, const std::vector<int>& labels,
                       const Tensor<Scalar>& validation_images, const std::vector<int>& validation_labels) {
        TensorSource<Scalar> train(images, labels), validation(validation_images, validation_labels);
        return fit(train, &validation);
    }

    const TrainingState& state() const { return state_; }
    const std::vector<EpochRecord>& history() const { return state_.history; }
    const TrainerOptions& options() const { return options_; }
    // The moving average of the weights (null unless options.weight_average > 0).
    WeightAverage<Scalar>* weight_average() { return average_.get(); }
    // The best epoch's evaluated weights, by name (empty unless restore_best_weights and an epoch finished).
    const Weights& best_weights() const { return best_; }
    Rng& data_generator() { return data_rng_; }
    // The data-parallel machinery (null without options.communicator): its timings, its communicator.
    DataParallel<Model>* data_parallel() { return parallel_.get(); }

    // Writes a checkpoint to options.checkpoint_path now (fit does after every epoch and on a stop request).
    void write_checkpoint() {
        if (options_.checkpoint_path.empty() || !is_rank0()) return;
        ModelMetadata meta = options_.checkpoint_metadata;
        store_training_state(state_, data_rng_, options_.schedule.get(), meta);
        if (average_ || !best_.empty()) {
            OptimizerState<Scalar> with_extras = optimizer_.state();
            if (average_) average_->store(with_extras);
            for (const auto& entry : best_) with_extras.tensors[best_prefix + entry.first] = entry.second;
            optimizer_.set_state(std::move(with_extras));
        }
        save_model(options_.checkpoint_path, model_, meta, &optimizer_);
    }

private:
    using Clock = std::chrono::steady_clock;
    static constexpr const char* best_prefix = "best/";
    static constexpr std::size_t best_prefix_size = 5;

    static double seconds_since(Clock::time_point start) {
        return std::chrono::duration<double>(Clock::now() - start).count();
    }
    bool stop_requested() const {
        return stop_requested_.load() || (options_.stop != nullptr && options_.stop->load() != 0);
    }
    void set_learning_rate(int epoch, int step, int steps) {
        optimizer_.set_learning_rate(options_.schedule_step == ScheduleStep::per_batch
                                         ? options_.schedule->rate(epoch + double(step) / steps)
                                         : options_.schedule->rate_for_epoch(epoch));
    }
    // Refuses a run that cannot fit in memory before it allocates its buffers (config_error, naming the parts).
    // Copies of the parameters: gradient, two optimizer moments, the average, the best weights, and a checkpoint's
    // image (weights and moments) while it is written.
    void check_memory(int batch, bool validates) {
        const int copies = 1 + 2 + (average_ ? 1 : 0) + (options_.restore_best_weights ? 1 : 0) +
                           (options_.checkpoint_path.empty() ? 0 : 3);
        const int evaluation_batch = validates ? options_.evaluation_batch : 0;
        check_memory_fits(estimate_training_memory(model_, batch, evaluation_batch, copies), batch, evaluation_batch,
                          model_.threads(), available_memory());
    }
    void log(const std::string& text) {
        if (options_.verbosity == Verbosity::silent || options_.log == nullptr || !is_rank0()) return;
        *options_.log << text << std::flush;
    }
    // Data-parallel helpers (options.communicator).
    bool is_rank0() const { return options_.communicator == nullptr || options_.communicator->rank() == 0; }
    // Steps per epoch; data-parallel, a last batch smaller than the number of ranks is left out.
    int step_count(int samples) const {
        const int ranks = options_.communicator ? options_.communicator->size() : 1;
        const int steps = samples / options_.batch + (samples % options_.batch >= ranks ? 1 : 0);
        if (steps == 0) throw data_error("Trainer: " + std::to_string(samples) + " training samples for " + std::to_string(ranks) + " ranks");
        return steps;
    }
    StepResult parallel_step(const Tensor<Scalar>& inputs, const std::vector<int>& labels, SoftmaxCrossEntropy<Scalar>& loss) {
        parallel_->take_shard(inputs, labels, shard_images_, shard_labels_);
        parallel_->begin_step(inputs.n());
        return parallel_->end_step(model_.train_step(shard_images_, shard_labels_, loss, optimizer_));
    }
    bool stop_agreed() { return parallel_ ? parallel_->any(stop_requested()) : stop_requested(); }

    TrainingResult finish(StopReason reason) const {
        TrainingResult result;
        result.reason = reason;
        result.epochs_done = state_.epochs_done;
        result.step_in_epoch = state_.step_in_epoch;
        result.steps_per_epoch = steps_;
        result.best_epoch = state_.best_epoch;
        result.best_accuracy = state_.best_metric;
        result.history = state_.history;
        return result;
    }
    divergence_error diverged(int epoch, const std::string& detail) const {
        return divergence_error("training diverged at epoch " + std::to_string(epoch) + detail +
                                    (state_.best_epoch > 0 ? "; the best epoch so far was " + std::to_string(state_.best_epoch)
                                                           : std::string()),
                                epoch, detail);
    }
    // A non-finite input would poison every weight it reaches: refused before the step.
    void check_inputs(const Tensor<Scalar>& images, const std::size_t* indices, int epoch, int step) const {
        const std::size_t bad = first_non_finite_index(images);
        if (bad == images.size()) return;
        const std::size_t per_sample = images.shape().per_sample();
        throw data_error("training sample " + std::to_string(indices[bad / per_sample]) + " holds a non-finite value (" +
                         std::to_string(images[bad]) + ") at element " + std::to_string(bad % per_sample) +
                         " (epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(step + 1) +
                         "); training stopped before using it");
    }
    void check_step(const StepResult& result, int epoch, int step) {
        const std::string where = first_non_finite_parameter(model_);
        if (std::isfinite(result.loss) && where.empty()) return;
        throw diverged(epoch + 1, ", step " + std::to_string(step + 1) + ": loss " + std::to_string(result.loss) +
                                      (where.empty() ? "" : ", first non-finite value in " + where));
    }

    Model& model_;
    Optimizer<Scalar>& optimizer_;
    TrainerOptions options_;
    Rng data_rng_;
    std::unique_ptr<WeightAverage<Scalar>> average_;
    std::unique_ptr<DataParallel<Model>> parallel_;  // with options.communicator
    Tensor<Scalar> shard_images_;
    std::vector<int> shard_labels_;
    TrainingState state_;
    int steps_ = 0;  // per epoch, in the last fit
    Weights best_;
    std::atomic<bool> stop_requested_{false};
    std::vector<std::function<void(int, int)>> batch_begin_;
    std::vector<std::function<void(const BatchEnd&)>> batch_end_;
    std::vector<std::function<void(Model&, const EpochRecord&)>> improvement_;
    std::vector<std::function<void(const EpochRecord&, bool)>> epoch_end_;
};

// One call: trains `model` on images and labels with `optimizer` and `options`, validating on the validation set
// if it is not empty; returns the result (see Trainer::fit).
template <class Model, class Scalar>
TrainingResult fit(Model& model, Optimizer<Scalar>& optimizer, const Tensor<Scalar>& images,
                   const std::vector<int>& labels, const TrainerOptions& options = {},
                   const Tensor<Scalar>& validation_images = Tensor<Scalar>(),
                   const std::vector<int>& validation_labels = {}) {
    Trainer<Model> trainer(model, optimizer, options);
    if (validation_labels.empty()) return trainer.fit(images, labels);
    return trainer.fit(images, labels, validation_images, validation_labels);
}

}  // namespace deepcnn
