// deepcnn/optim/schedule.hpp: learning-rate schedules. A schedule maps training progress (in epochs, fractional
// within an epoch) to a rate, and may watch a validation metric at each epoch's end (reduce-on-plateau).
#pragma once

#include <cmath>
#include <map>
#include <string>

#include "../error.hpp"

namespace deepcnn {

class LrSchedule {
public:
    explicit LrSchedule(double base_rate) : base_rate_(base_rate) {
        if (!(base_rate > 0)) throw config_error("learning rate must be > 0, got " + std::to_string(base_rate));
    }
    virtual ~LrSchedule() = default;
    virtual std::string type() const = 0;
    // The rate at `epoch` (0 at the start of training, 1.5 half way through the second epoch): for a rate changed
    // at every batch.
    virtual double rate(double epoch) const = 0;
    // The rate for all of epoch `epoch` (0-based), for a rate changed once per epoch: rate(epoch) unless the
    // schedule says otherwise (CosineLr's warm-up).
    virtual double rate_for_epoch(int epoch) const { return rate(double(epoch)); }
    // Called once at the end of each epoch with the validation metric; most schedules ignore it.
    virtual void end_epoch(double /*metric*/) {}
    // State that changes during training, for checkpoints (empty for stateless schedules).
    virtual std::map<std::string, double> state() const { return {}; }
    virtual void set_state(const std::map<std::string, double>& /*state*/) {}
    double base_rate() const { return base_rate_; }

private:
    double base_rate_;
};

// A constant rate.
class ConstantLr : public LrSchedule {
public:
    using LrSchedule::LrSchedule;
    std::string type() const override { return "constant"; }
    double rate(double /*epoch*/) const override { return base_rate(); }
};

// base * gamma ^ floor(epoch / step_epochs).
class StepLr : public LrSchedule {
public:
    StepLr(double base_rate, int step_epochs, double gamma) : LrSchedule(base_rate), step_epochs_(step_epochs), gamma_(gamma) {
        if (step_epochs <= 0 || !(gamma > 0)) throw config_error("StepLr: step must be > 0 and gamma > 0");
    }
    std::string type() const override { return "step"; }
    double rate(double epoch) const override {
        return base_rate() * std::pow(gamma_, std::floor(epoch / step_epochs_));
    }

private:
    int step_epochs_;
    double gamma_;
};

// Linear warm-up from 0 to base over warmup_epochs, then half a cosine from base down to min_rate at
// total_epochs (and min_rate after).
class CosineLr : public LrSchedule {
public:
    CosineLr(double base_rate, double total_epochs, double warmup_epochs = 0.0, double min_rate = 0.0)
        : LrSchedule(base_rate), total_(total_epochs), warmup_(warmup_epochs), min_rate_(min_rate) {
        if (!(total_epochs > 0) || !(warmup_epochs >= 0) || warmup_epochs >= total_epochs || !(min_rate >= 0)) {
            throw config_error("CosineLr: need total > warm-up >= 0 epochs and min rate >= 0");
        }
    }
    std::string type() const override { return "cosine"; }
    double rate(double epoch) const override {
        const double floor_rate = std::max(min_rate_, 1e-12);
        if (epoch < warmup_) return std::max(base_rate() * epoch / warmup_, floor_rate);
        const double progress = std::min((epoch - warmup_) / (total_ - warmup_), 1.0);
        const double r = min_rate_ + 0.5 * (base_rate() - min_rate_) * (1.0 + std::cos(3.14159265358979323846 * progress));
        return std::max(r, floor_rate);
    }
    // Stepped per epoch, the warm-up ramp is read at each epoch's end, so the first epoch trains at
    // base * min(1, warm-up) / warm-up rather than at rate(0), which is ~0; after the warm-up, rate(epoch).
    double rate_for_epoch(int epoch) const override {
        if (epoch < warmup_) return base_rate() * std::min(double(epoch + 1), warmup_) / warmup_;
        return rate(double(epoch));
    }

private:
    double total_, warmup_, min_rate_;
};

// Multiplies the rate by `factor` when the metric has not improved for `patience` epochs (higher is better when
// maximize, as for accuracy), never below min_rate.
class ReduceOnPlateau : public LrSchedule {
public:
    ReduceOnPlateau(double base_rate, double factor = 0.5, int patience = 7, bool maximize = true, double min_rate = 1e-6)
        : LrSchedule(base_rate), factor_(factor), patience_(patience), maximize_(maximize), min_rate_(min_rate),
          current_(base_rate) {
        if (!(factor > 0 && factor < 1) || patience < 0) {
            throw config_error("ReduceOnPlateau: factor must be in (0, 1) and patience >= 0");
        }
    }
    std::string type() const override { return "plateau"; }
    double rate(double /*epoch*/) const override { return current_; }
    void end_epoch(double metric) override {
        const bool improved = !has_best_ || (maximize_ ? metric > best_ : metric < best_);
        if (improved) {
            best_ = metric;
            has_best_ = true;
            bad_epochs_ = 0;
            return;
        }
        if (++bad_epochs_ >= patience_) {
            current_ = std::max(current_ * factor_, min_rate_);
            bad_epochs_ = 0;
        }
    }
    std::map<std::string, double> state() const override {
        return {{"current", current_}, {"best", best_}, {"has_best", has_best_ ? 1.0 : 0.0},
                {"bad_epochs", double(bad_epochs_)}};
    }
    void set_state(const std::map<std::string, double>& state) override {
        current_ = state.at("current");
        best_ = state.at("best");
        has_best_ = state.at("has_best") != 0.0;
        bad_epochs_ = static_cast<int>(state.at("bad_epochs"));
    }

private:
    double factor_;
    int patience_;
    bool maximize_;
    double min_rate_;
    double current_;
    double best_ = 0.0;
    bool has_best_ = false;
    int bad_epochs_ = 0;
};

}  // namespace deepcnn
