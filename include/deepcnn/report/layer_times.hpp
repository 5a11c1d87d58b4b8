// deepcnn/report/layer_times.hpp: a model's per-layer timings (set_timing) as a table: the mean milliseconds per
// training step of each layer's forward and backward (layers fused into another left out) and of the optimizer,
// with each one's share of their sum.
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>

#include "../model/model_common.hpp"

namespace deepcnn {

inline std::string format_layer_times(const ModelTimings& timings) {
    const long steps = timings.optimizer_steps;
    if (steps == 0) return "Training time by layer: no training step was timed in this run.\n";
    double total = timings.optimizer_seconds;
    for (const LayerTiming& layer : timings.layers) total += layer.forward_seconds + layer.backward_seconds;
    char line[128];
    std::snprintf(line, sizeof line, "Training time by layer (--profile): mean ms per step over %ld steps\n", steps);
    std::string out = line;
    std::snprintf(line, sizeof line, "  %-16s %10s %10s %8s\n", "layer", "forward", "backward", "share");
    out += line;
    const auto row = [&](const std::string& name, double forward, double backward) {
        std::snprintf(line, sizeof line, "  %-16s %10.2f %10.2f %7.1f%%\n", name.c_str(), 1e3 * forward / steps,
                      1e3 * backward / steps, 100.0 * (forward + backward) / std::max(total, 1e-12));
        out += line;
    };
    for (const LayerTiming& layer : timings.layers)
        if (layer.forward_calls + layer.backward_calls > 0) row(layer.name, layer.forward_seconds, layer.backward_seconds);
    row("optimizer", 0.0, timings.optimizer_seconds);
    std::snprintf(line, sizeof line, "  %-16s %21.2f ms per step\n", "sum", 1e3 * total / steps);
    return out + line;
}

}  // namespace deepcnn
