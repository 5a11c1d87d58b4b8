// deepcnn/train/progress.hpp: what the Trainer prints: a progress bar with the ETA on a terminal (redrawn on one
// line of stderr), and one line per epoch with its figures.
#pragma once

#include <cstdio>
#include <string>

#include "../report/history.hpp"

namespace deepcnn {

// "12.3s" under a minute, "4m05s" above.
inline std::string format_duration(double seconds) {
    char text[32];
    if (seconds >= 60) std::snprintf(text, sizeof text, "%dm%02ds", int(seconds) / 60, int(seconds) % 60);
    else std::snprintf(text, sizeof text, "%.1fs", seconds);
    return text;
}

// "epoch   3/20  loss 0.6931  acc 0.5000  val_loss 0.7000  val_acc 0.4800  lr 1.00e-03  310 img/s  4.2s  *best";
// the val_ figures only when there is a validation set.
inline std::string format_epoch_line(const EpochRecord& r, int epochs, bool has_validation, bool improved) {
    char line[256];
    if (has_validation) {
        std::snprintf(line, sizeof line,
                      "epoch %3d/%d  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f  lr %.2e  %.0f img/s  %s%s\n",
                      r.epoch, epochs, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy, r.learning_rate,
                      r.images_per_second, format_duration(r.seconds).c_str(), improved ? "  *best" : "");
    } else {
        std::snprintf(line, sizeof line, "epoch %3d/%d  loss %.4f  acc %.4f  lr %.2e  %.0f img/s  %s%s\n", r.epoch,
                      epochs, r.train_loss, r.train_accuracy, r.learning_rate, r.images_per_second,
                      format_duration(r.seconds).c_str(), improved ? "  *best" : "");
    }
    return line;
}

// A progress bar on stderr, redrawn in place; does nothing when disabled (not a terminal).
class ProgressBar {
public:
    explicit ProgressBar(bool enabled) : enabled_(enabled) {}
    void update(int epoch, int epochs, int step, int steps, double loss, double accuracy, double images_per_second,
                double eta_seconds) {
        if (!enabled_) return;
        const int width = 24;
        const int filled = steps > 0 ? width * step / steps : width;
        std::fprintf(stderr, "\repoch %d/%d [%s%s] %d/%d loss %.4f acc %.3f %.0f img/s ETA %.0fs   ", epoch, epochs,
                     std::string(static_cast<std::size_t>(filled), '#').c_str(),
                     std::string(static_cast<std::size_t>(width - filled), '.').c_str(), step, steps, loss, accuracy,
                     images_per_second, eta_seconds);
        std::fflush(stderr);
    }
    void clear() {
        if (enabled_) std::fprintf(stderr, "\r%*s\r", 100, "");
    }

private:
    bool enabled_;
};

}  // namespace deepcnn
