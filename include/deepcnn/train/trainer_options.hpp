// deepcnn/train/trainer_options.hpp: what a Trainer is asked to do (TrainerOptions: epochs, batching, data order,
// augmentation, schedule, early stopping, weight average, checkpoints, stop requests, memory check, output) and what
// it reports back (TrainingResult).
#pragma once

#include <atomic>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "../cancellation.hpp"
#include "../data/augment.hpp"
#include "../distributed/communicator.hpp"
#include "../io/model_file.hpp"
#include "../optim/schedule.hpp"
#include "../report/history.hpp"

namespace deepcnn {

// When the schedule sets the learning rate: before every batch (rate(epoch + step / steps)) or once per epoch
// (rate_for_epoch(epoch)).
enum class ScheduleStep { per_batch, per_epoch };

// What the Trainer prints: nothing; one line per epoch (to TrainerOptions::log); or, on a terminal, also a progress
// bar with the ETA on stderr.
enum class Verbosity { silent, epochs, automatic };

struct TrainerOptions {
    int epochs = 10;                 // total epochs (a resumed run counts those already done)
    int batch = 32;
    std::uint64_t seed = 1;          // the data generator: the order of each epoch and the augmentation
    bool shuffle = true;             // false: every epoch in the source's order
    bool augment = false;            // a random affine warp of every training image (data/augment.hpp)
    AugmentOptions augmentation = default_augmentation();
    double label_smoothing = 0.0;    // the training loss's targets are (1 - e) onehot + e / K (its history column
                                     // is that loss); validation reports the plain cross-entropy. In [0, 1)
    bool flip_averaged_evaluation = false;  // validation probabilities averaged with the mirrored images'
    int evaluation_batch = 256;
    double weight_average = 0.0;     // decay of a moving average of the weights (model/weight_average.hpp) that
                                     // validation, the best weights and on_improvement use; 0: off
    std::shared_ptr<LrSchedule> schedule;  // null: the optimizer keeps its learning rate
    ScheduleStep schedule_step = ScheduleStep::per_batch;
    int early_stopping_patience = 0;  // stop after this many epochs without a better validation accuracy; 0: off
    bool restore_best_weights = true; // at the end of fit, the model takes the best epoch's (evaluated) weights
    std::string checkpoint_path;      // written after every epoch and on a stop request; empty: no checkpoints
    ModelMetadata checkpoint_metadata;  // the caller's own entries, written into every checkpoint
    const CancelFlag* stop = nullptr;  // non-zero (a signal handler sets it, say): finish the step, checkpoint, return
    bool divergence_guard = true;     // stop with divergence_error / data_error on a non-finite input, loss or weight
    bool check_memory = true;         // refuse (config_error) a run whose estimated memory exceeds what is available
                                      // (train/memory_estimate.hpp), before it allocates its buffers
    Verbosity verbosity = Verbosity::automatic;
    std::ostream* log = &std::cout;   // where the epoch lines go
    // Data-parallel training (docs/distributed.md): every rank of the communicator runs the same fit, each on its
    // shard of every global batch of `batch` samples; gradients are summed over the ranks in buckets of at least
    // gradient_bucket_bytes, started while backward runs (overlap_gradient_sums). Only rank 0 logs and writes
    // checkpoints; validation is split over the ranks. sync_batch_norm: every BatchNorm normalises with the
    // statistics of the global batch instead of its rank's shard (synchronised BatchNorm). Null: this process alone.
    Communicator* communicator = nullptr;
    std::size_t gradient_bucket_bytes = std::size_t(1) << 20;
    bool overlap_gradient_sums = true;
    bool sync_batch_norm = false;
};

// Why fit returned.
enum class StopReason { completed, early_stopping, stop_requested };

struct TrainingResult {
    StopReason reason = StopReason::completed;
    int epochs_done = 0;
    int step_in_epoch = 0;           // non-zero: stopped in the middle of an epoch (steps_per_epoch: in its validation)
    int steps_per_epoch = 0;
    int best_epoch = 0;              // 1-based; 0: no epoch finished
    double best_accuracy = -1.0;     // the monitored accuracy (validation; training without a validation set)
    std::vector<EpochRecord> history;
};

}  // namespace deepcnn
