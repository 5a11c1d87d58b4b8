// deepcnn/train/training_state.hpp: where a training run stands (epochs and steps done, the data order's
// generator, the epoch's running sums, the best epoch, the history), and its encoding in a checkpoint's metadata,
// so that a resumed run continues bit-exactly, also from the middle of an epoch.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../io/model_file.hpp"
#include "../optim/schedule.hpp"
#include "../random.hpp"
#include "../report/history.hpp"

namespace deepcnn {

struct TrainingState {
    int epochs_done = 0;      // complete epochs
    int step_in_epoch = 0;    // steps done in the current epoch (non-zero after a stop request)
    Rng::State epoch_start_rng{};  // the data generator at the current epoch's start: its order is drawn from it
    double epoch_loss_sum = 0.0, epoch_seconds = 0.0;
    long epoch_correct = 0, epoch_seen = 0;
    int best_epoch = 0;            // 0: none yet
    double best_metric = -1.0;     // the monitored accuracy of the best epoch
    double train_seconds = 0.0;
    std::vector<EpochRecord> history;
};

namespace detail {

inline void put_rng_state(ModelMetadata& meta, const std::string& key, const Rng::State& state) {
    for (int k = 0; k < 4; ++k) meta.integers[key + "." + std::to_string(k)] = state[static_cast<std::size_t>(k)];
}

inline Rng::State get_rng_state(const ModelMetadata& meta, const std::string& key, const std::string& source) {
    Rng::State state{};
    for (int k = 0; k < 4; ++k) {
        auto it = meta.integers.find(key + "." + std::to_string(k));
        if (it == meta.integers.end()) throw serialization_error(source + ": not a training checkpoint (no " + key + ")");
        state[static_cast<std::size_t>(k)] = it->second;
    }
    return state;
}

}  // namespace detail

// Writes the state, the data generator and the schedule's state into `meta` ("epoch", "train.*", "schedule.*").
inline void store_training_state(const TrainingState& s, const Rng& data_rng, const LrSchedule* schedule,
                                 ModelMetadata& meta) {
    meta.integers["epoch"] = static_cast<std::uint64_t>(s.epochs_done);
    meta.integers["train.step_in_epoch"] = static_cast<std::uint64_t>(s.step_in_epoch);
    meta.integers["train.epoch_correct"] = static_cast<std::uint64_t>(s.epoch_correct);
    meta.integers["train.epoch_seen"] = static_cast<std::uint64_t>(s.epoch_seen);
    meta.integers["train.best_epoch"] = static_cast<std::uint64_t>(s.best_epoch);
    meta.numbers["train.epoch_loss_sum"] = s.epoch_loss_sum;
    meta.numbers["train.epoch_seconds"] = s.epoch_seconds;
    meta.numbers["train.best_val_accuracy"] = s.best_metric;
    meta.numbers["train.seconds"] = s.train_seconds;
    detail::put_rng_state(meta, "train.rng_epoch_start", s.epoch_start_rng);
    detail::put_rng_state(meta, "train.rng", data_rng.state());
    if (schedule)
        for (const auto& entry : schedule->state()) meta.numbers["schedule." + entry.first] = entry.second;
    meta.text["train.history"] = history_csv(s.history);
}

// Reads what store_training_state wrote; sets the data generator and the schedule. Throws serialization_error
// naming `source` for a missing entry.
inline TrainingState load_training_state(const ModelMetadata& meta, Rng& data_rng, LrSchedule* schedule,
                                         const std::string& source) {
    const auto integer = [&](const std::string& key) {
        auto it = meta.integers.find(key);
        if (it == meta.integers.end()) throw serialization_error(source + ": not a training checkpoint (no " + key + ")");
        return it->second;
    };
    const auto number = [&](const std::string& key) {
        auto it = meta.numbers.find(key);
        if (it == meta.numbers.end()) throw serialization_error(source + ": not a training checkpoint (no " + key + ")");
        return it->second;
    };
    TrainingState s;
    s.epochs_done = static_cast<int>(integer("epoch"));
    s.step_in_epoch = static_cast<int>(integer("train.step_in_epoch"));
    s.epoch_correct = static_cast<long>(integer("train.epoch_correct"));
    s.epoch_seen = static_cast<long>(integer("train.epoch_seen"));
    s.best_epoch = static_cast<int>(integer("train.best_epoch"));
    s.epoch_loss_sum = number("train.epoch_loss_sum");
    s.epoch_seconds = number("train.epoch_seconds");
    s.best_metric = number("train.best_val_accuracy");
    s.train_seconds = number("train.seconds");
    s.epoch_start_rng = detail::get_rng_state(meta, "train.rng_epoch_start", source);
    data_rng.set_state(detail::get_rng_state(meta, "train.rng", source));
    std::map<std::string, double> schedule_state;
    for (const auto& entry : meta.numbers)
        if (entry.first.rfind("schedule.", 0) == 0) schedule_state[entry.first.substr(9)] = entry.second;
    if (schedule && !schedule_state.empty()) schedule->set_state(schedule_state);
    auto it = meta.text.find("train.history");
    if (it != meta.text.end()) s.history = parse_history_csv(it->second, source);
    return s;
}

}  // namespace deepcnn
