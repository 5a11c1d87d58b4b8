// deepcnn/distributed/data_parallel.hpp: DataParallel<Model>, what the Trainer adds to a model to train it on
// several ranks at once (data parallelism, as PyTorch's DistributedDataParallel and Horovod): rank 0's weights
// to every rank, each rank's shard of the global batch, gradients summed over the ranks in buckets started while
// backward still runs, BatchNorm running statistics averaged, the step's loss and accuracy over the global batch.
// Gradient buckets hold the trainable parameters from the last layer back, each at least bucket_bytes; a bucket's
// sum starts as soon as the lowest layer in it has back-propagated (BackwardObserver::layer_done) and all are
// waited for before the optimizer step. Each rank scales its gradients by its share of the global batch
// (local / global count) before the sum, so the result is the gradient of the mean loss over the global batch.
// On request, BatchNorm is synchronised (its statistics those of the global batch: a BatchNormSync over the
// Communicator set on every BatchNorm). Each layer that keys its draws by sample index (Dropout) is told where the
// rank's shard starts in the global batch, so its masks do not depend on the number of ranks. Validation is split
// over the ranks by evaluation batches and gathered, so that every rank gets the single-process figures.
// Sums are the Communicator's: the same bits on every rank, a left fold in rank order.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../layers/batch_norm.hpp"
#include "../layers/batch_norm_sync.hpp"
#include "../layers/layer.hpp"
#include "../model/model_base.hpp"
#include "../model/model_common.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "../train/data_source.hpp"
#include "../train/evaluation.hpp"
#include "communicator.hpp"

namespace deepcnn {

// Where the time of data-parallel steps went (seconds summed over steps).
struct DataParallelTimings {
    long steps = 0;
    double wait_seconds = 0.0;  // in backward_done: waiting for the sums still running after backward
};

template <class Model>
class DataParallel final : public BackwardObserver {
public:
    using Scalar = typename Model::scalar_type;

    // Observes `model`'s backward passes until destroyed. `overlap` false starts every sum after backward instead
    // (to measure what overlapping saves). `sync_batch_norm`: every BatchNorm normalises with the global batch's
    // statistics (its running statistics are then the same on every rank and not averaged). Model and communicator
    // must outlive this.
    DataParallel(Model& model, Communicator& communicator, std::size_t bucket_bytes = std::size_t(1) << 20,
                 bool overlap = true, bool sync_batch_norm = false)
        : model_(model), comm_(communicator), overlap_(overlap), batch_norm_sync_(communicator) {
        make_buckets(bucket_bytes);
        for (std::size_t i = 0; i < model_.size(); ++i) {
            auto* batch_norm = dynamic_cast<BatchNorm<Scalar>*>(&model_.layer(i));
            if (sync_batch_norm && batch_norm) {
                batch_norm->set_sync(&batch_norm_sync_);
                synced_.push_back(batch_norm);
                continue;
            }
            for (auto& b : model_.layer(i).buffers()) buffers_.push_back(b);
        }
        for (auto& b : buffers_) buffer_count_ += b.value->size();
        buffer_sum_.resize(buffer_count_);
        model_.set_backward_observer(this);
    }
    DataParallel(const DataParallel&) = delete;
    DataParallel& operator=(const DataParallel&) = delete;
    ~DataParallel() override {
        model_.set_backward_observer(nullptr);
        for (auto* batch_norm : synced_) batch_norm->set_sync(nullptr);
        for (std::size_t i = 0; i < model_.size(); ++i) model_.layer(i).set_first_sample(0);
    }

    Communicator& communicator() { return comm_; }
    const DataParallelTimings& timings() const { return timings_; }
    std::size_t bucket_count() const { return buckets_.size(); }

    // Every parameter, buffer and layer random generator of rank 0, copied to every rank.
    void broadcast_model() {
        for (auto& p : model_.params()) broadcast(*p.value);
        for (auto& b : model_.buffers()) broadcast(*b.value);
        for (std::size_t i = 0; i < model_.size(); ++i) {
            if (Rng* rng = model_.layer(i).random_generator()) {
                Rng::State state = rng->state();
                comm_.broadcast(state.data(), sizeof(state), 0);
                rng->set_state(state);
            }
        }
    }

    // This rank's part [first, first + count) of a global batch of `global` samples: contiguous, in rank order,
    // sizes differing by at most one.
    int shard_first(int global) const {
        return static_cast<int>(static_cast<long long>(global) * comm_.rank() / comm_.size());
    }
    int shard_count(int global) const {
        const long long end = static_cast<long long>(global) * (comm_.rank() + 1) / comm_.size();
        return static_cast<int>(end) - shard_first(global);
    }
    // Copies this rank's shard of (images, labels) into (local_images, local_labels).
    void take_shard(const Tensor<Scalar>& images, const std::vector<int>& labels, Tensor<Scalar>& local_images,
                    std::vector<int>& local_labels) const {
        const int first = shard_first(images.n()), count = shard_count(images.n());
        local_images.resize(images.shape().with_batch(count));
        std::copy(images.sample(first), images.sample(first) + local_images.size(), local_images.data());
        local_labels.assign(labels.begin() + first, labels.begin() + first + count);
    }

    // Before this rank's train_step on its shard (shard_first, shard_count) of a global batch of `global` samples.
    // Every layer learns where the shard starts (set_first_sample): a layer that keys its draws by sample index
    // (Dropout) then draws from the shared generator what one process would for those samples. With several ranks
    // every other layer random generator draws this step from a stream of its own, derived from the shared state
    // and the rank, so that ranks do not repeat each other's draws; end_step puts the shared state back.
    void begin_step(int global) {
        scale_ = static_cast<Scalar>(static_cast<double>(shard_count(global)) / static_cast<double>(global));
        shared_states_.clear();
        for (std::size_t i = 0; i < model_.size(); ++i) model_.layer(i).set_first_sample(shard_first(global));
        if (comm_.size() == 1) return;
        for (std::size_t i = 0; i < model_.size(); ++i) {
            if (model_.layer(i).draws_by_sample_index()) continue;
            if (Rng* rng = model_.layer(i).random_generator()) {
                const Rng::State shared = rng->state();
                shared_states_.push_back({rng, shared});
                const std::uint64_t key = shared[0] ^ shared[1] ^ shared[2] ^ shared[3];
                Rng own(splitmix64_at(key, static_cast<std::uint64_t>(comm_.rank())));
                rng->set_state(own.state());
            }
        }
    }
    // After train_step: the layer generators return to their shared state and advance it by one draw, on every
    // rank alike. Returns the step's result over the global batch (loss and correct predictions summed).
    StepResult end_step(const StepResult& local) {
        for (auto& saved : shared_states_) {
            saved.rng->set_state(saved.state);
            saved.rng->next_u64();
        }
        double totals[3] = {local.loss * local.count, static_cast<double>(local.correct),
                            static_cast<double>(local.count)};
        comm_.sum(totals, 3);
        StepResult global;
        global.count = static_cast<decltype(global.count)>(totals[2]);
        global.correct = static_cast<decltype(global.correct)>(totals[1]);
        global.loss = totals[0] / totals[2];
        return global;
    }

    // Evaluates the model on `source` as evaluate_classifier(model, source, tta, batch) does, split over the ranks:
    // rank r of n predicts the evaluation batches [B r / n, B (r + 1) / n) of the B that one process would, then
    // the probabilities and labels are gathered (a sum in which every other rank adds zeros, so exact) and every
    // rank scores all samples in order: the same bits as one process. Throws `cancelled` on every rank if the
    // model's cancel flag stopped the prediction on any.
    ClassifierEvaluation<Scalar> evaluate_classifier(DataSource<Scalar>& source, const TestTimeAugmentation& tta,
                                                     int batch) {
        ClassifierEvaluation<Scalar> result;
        const int N = source.size();
        if (N == 0) return result;
        const long batches = (static_cast<long>(N) + batch - 1) / batch;
        const auto first_of = [&](int rank) {
            return static_cast<int>(std::min<long>(N, batches * rank / comm_.size() * batch));
        };
        result.probabilities = Tensor<Scalar>(model_.output_shape().with_batch(N), Scalar(0));
        result.labels.assign(static_cast<std::size_t>(N), 0);
        bool stopped = false;
        try {
            detail::predict_rows(model_, source, tta, batch, first_of(comm_.rank()), first_of(comm_.rank() + 1), result);
        } catch (const cancelled&) {
            stopped = true;
        }
        if (any(stopped)) throw cancelled("interrupted while evaluating (on this rank or another)");
        labels_sum_.assign(result.labels.begin(), result.labels.end());
        const Communicator::Request labels = comm_.start_sum(labels_sum_.data(), labels_sum_.size());
        comm_.sum(result.probabilities.data(), result.probabilities.size());
        comm_.wait(labels);
        for (std::size_t i = 0; i < labels_sum_.size(); ++i) result.labels[i] = static_cast<int>(labels_sum_[i]);
        detail::score_predictions(result);
        return result;
    }

    // The same, flip-averaged if `flip`.
    ClassifierEvaluation<Scalar> evaluate_classifier(DataSource<Scalar>& source, bool flip, int batch) {
        return evaluate_classifier(source, TestTimeAugmentation{flip, 0}, batch);
    }

    // True on every rank if `flag` is true on any (a stop request that one rank's signal handler saw).
    bool any(bool flag) {
        double value = flag ? 1.0 : 0.0;
        comm_.sum(&value, 1);
        return value > 0.0;
    }

    void layer_done(std::size_t layer) override {
        if (overlap_) {
            for (auto& bucket : buckets_)
                if (!bucket.started && bucket.lowest_layer == layer) start(bucket);
        }
        comm_.progress();
    }
    void backward_done() override {
        for (auto& bucket : buckets_)
            if (!bucket.started) start(bucket);
        Communicator::Request buffer_request = -1;
        if (buffer_count_ > 0) {
            Scalar* out = buffer_sum_.data();
            for (auto& b : buffers_) out = std::copy(b.value->begin(), b.value->end(), out);
            buffer_request = comm_.start_sum(buffer_sum_.data(), buffer_count_);
        }
        const auto clock = std::chrono::steady_clock::now();
        for (auto& bucket : buckets_) {
            comm_.wait(bucket.request);
            const Scalar* in = bucket.data.data();
            for (auto& p : bucket.params) {
                std::copy(in, in + p.grad->size(), p.grad->data());
                in += p.grad->size();
            }
            bucket.started = false;
        }
        if (buffer_count_ > 0) {
            comm_.wait(buffer_request);
            const Scalar inverse = Scalar(1) / static_cast<Scalar>(comm_.size());
            const Scalar* in = buffer_sum_.data();
            for (auto& b : buffers_) {
                for (std::size_t k = 0; k < b.value->size(); ++k) b.value->data()[k] = in[k] * inverse;
                in += b.value->size();
            }
        }
        timings_.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - clock).count();
        ++timings_.steps;
    }

private:
    struct Bucket {
        std::vector<ParamRef<Scalar>> params;  // from the highest layer down
        std::size_t lowest_layer = 0;          // the bucket is ready once this layer has back-propagated
        std::vector<Scalar> data;
        Communicator::Request request = -1;
        bool started = false;
    };
    struct SharedState {
        Rng* rng;
        Rng::State state;
    };

    void make_buckets(std::size_t bucket_bytes) {
        std::vector<std::pair<ParamRef<Scalar>, std::size_t>> owned;  // trainable parameter, its layer
        for (const auto& p : model_.trainable_params()) {
            for (std::size_t i = 0; i < model_.size(); ++i) {
                for (auto& q : model_.layer(i).params())
                    if (q.value == p.value) owned.push_back({p, i});
            }
        }
        Bucket bucket;
        std::size_t bytes = 0;
        for (auto it = owned.rbegin(); it != owned.rend(); ++it) {
            bucket.params.push_back(it->first);
            bucket.lowest_layer = it->second;
            bytes += it->first.value->size() * sizeof(Scalar);
            if (bytes >= bucket_bytes) {
                add_bucket(std::move(bucket));
                bucket = Bucket();
                bytes = 0;
            }
        }
        if (!bucket.params.empty()) add_bucket(std::move(bucket));
    }
    void add_bucket(Bucket bucket) {
        std::size_t count = 0;
        for (auto& p : bucket.params) count += p.value->size();
        bucket.data.resize(count);
        buckets_.push_back(std::move(bucket));
    }
    // Packs the bucket's gradients, scaled by this rank's share of the global batch, and starts their sum.
    void start(Bucket& bucket) {
        Scalar* out = bucket.data.data();
        for (auto& p : bucket.params) {
            const Scalar* g = p.grad->data();
            for (std::size_t k = 0; k < p.grad->size(); ++k) out[k] = g[k] * scale_;
            out += p.grad->size();
        }
        bucket.request = comm_.start_sum(bucket.data.data(), bucket.data.size());
        bucket.started = true;
    }
    void broadcast(Tensor<Scalar>& t) { comm_.broadcast(t.data(), t.size() * sizeof(Scalar), 0); }

    // BatchNorm's sums over the ranks (synchronised BatchNorm).
    class CommunicatorBatchNormSync final : public BatchNormSync {
    public:
        explicit CommunicatorBatchNormSync(Communicator& comm) : comm_(comm) {}
        void sum(double* data, std::size_t count) override { comm_.sum(data, count); }

    private:
        Communicator& comm_;
    };

    Model& model_;
    Communicator& comm_;
    bool overlap_;
    CommunicatorBatchNormSync batch_norm_sync_;
    std::vector<BatchNorm<Scalar>*> synced_;  // the BatchNorms batch_norm_sync_ is set on
    std::vector<double> labels_sum_;          // evaluate_classifier's labels, gathered
    std::vector<Bucket> buckets_;  // from the last layer back
    std::vector<BufferRef<Scalar>> buffers_;  // averaged after every step: those of layers not synchronised
    std::size_t buffer_count_ = 0;
    std::vector<Scalar> buffer_sum_;
    Scalar scale_ = Scalar(1);
    std::vector<SharedState> shared_states_;
    DataParallelTimings timings_;
};

}  // namespace deepcnn
