// examples/fer_resume.hpp: what fer_train checks and fetches when it resumes: a checkpoint of the same net, classes,
// learning rate, batch and seed, and the best model so far beside it.
#pragma once

#include "fer_common.hpp"

#include <deepcnn/io/atomic_file.hpp>
#include <deepcnn/io/model_file.hpp>
#include <deepcnn/io/read_file.hpp>

#include <sys/stat.h>

#include <cstdint>
#include <string>

namespace fer {

// A resumed run must train as the original did: the checkpoint's net, classes, learning rate, batch, seed, erasing
// probability, label smoothing and BatchNorm synchronisation (checkpoints written before the learning rate, batch and
// seed were stored are taken as they are; before the others were stored, erasing and smoothing were 0 and
// synchronisation off).
inline void check_resumed_run(const deepcnn::ModelMetadata& meta, const ModelInfo& info, const std::string& resume,
                              double lr, int batch, std::uint64_t seed, double erase, double label_smoothing,
                              bool sync_bn) {
    using namespace deepcnn;
    const ModelInfo saved = read_model_info(meta, -1, resume);
    if (saved.classes != info.classes || saved.net != info.net) {
        throw data_error(resume + ": checkpoint of net '" + saved.net + "' with other classes; resume with the "
                         "arguments of the original run");
    }
    const auto check = [&](const std::string& option, bool differs, const std::string& was, const std::string& asked) {
        if (!differs) return;
        throw data_error(resume + ": checkpoint trained with " + option + " " + was + ", this run asks for " + asked +
                         "; resume with the arguments of the original run");
    };
    const auto saved_lr = meta.numbers.find("train.lr");
    const auto saved_batch = meta.integers.find("train.batch"), saved_seed = meta.integers.find("train.seed");
    if (saved_lr != meta.numbers.end()) {
        check("--lr", saved_lr->second != lr, std::to_string(saved_lr->second), std::to_string(lr));
    }
    if (saved_batch != meta.integers.end()) {
        check("--batch", saved_batch->second != std::uint64_t(batch), std::to_string(saved_batch->second),
              std::to_string(batch));
    }
    if (saved_seed != meta.integers.end()) {
        check("--seed", saved_seed->second != seed, std::to_string(saved_seed->second), std::to_string(seed));
    }
    const auto saved_number = [&](const std::string& key) {
        const auto found = meta.numbers.find(key);
        return found == meta.numbers.end() ? 0.0 : found->second;
    };
    const double saved_erase = saved_number("train.erase"), saved_smoothing = saved_number("train.label_smoothing");
    check("--erase", saved_erase != erase, std::to_string(saved_erase), std::to_string(erase));
    check("--label-smoothing", saved_smoothing != label_smoothing, std::to_string(saved_smoothing),
          std::to_string(label_smoothing));
    const auto saved_sync = meta.integers.find("train.sync_bn");
    const bool was_synchronised = saved_sync != meta.integers.end() && saved_sync->second != 0;
    check("BatchNorm", was_synchronised != sync_bn, was_synchronised ? "synchronised (--sync-bn)" : "per rank",
          sync_bn ? "--sync-bn" : "it per rank");
}

// A resumed run ends by testing the best model so far, model.dcnn in --out. Resuming into another --out than the
// checkpoint's, that file is brought over from beside the checkpoint. Its epoch may be later than the checkpoint's
// best (a kill between writing model.dcnn and the checkpoint): the resumed run repeats that epoch bit for bit and
// writes the same model again.
inline void bring_best_model(const std::string& resume, int best_epoch, const std::string& model_path) {
    using namespace deepcnn;
    struct stat info {};
    if (::stat(model_path.c_str(), &info) == 0) return;
    const std::string beside = detail::parent_directory(resume) + "/model.dcnn";
    long epoch = -1;
    try {
        ModelMetadata meta;
        load_any_model<float>(beside, &meta);
        epoch = meta.integers.count("epoch") ? static_cast<long>(meta.integers.at("epoch")) : -1;
    } catch (const deepcnn::error&) {  // unreadable: no best model there
        epoch = -1;
    }
    if (epoch < best_epoch) {
        throw data_error(resume + ": the best model so far (epoch " + std::to_string(best_epoch) + ") is neither " +
                         model_path + " nor " + beside + "; resume into the checkpoint's own directory");
    }
    write_file_atomically(model_path, read_file_bounded(beside, std::uint64_t(1) << 40, "model file"));
}

}  // namespace fer
