// benchmarks/distributed_bench.cpp: the figures of docs/distributed.md. Run under mpirun (or with --single: one
// process, no communicator, for the baseline).
//   distributed_bench sum [--max-bytes B]   time of MpiCommunicator::sum against the message size, and of
//       MPI_Allreduce (not bit-reproducible; for comparison)
//   distributed_bench train [--net fer|seed] [--batch 64] [--steps 8] [--threads 1] [--no-overlap] [--sync-bn]
//       [--single]
//       Trainer steps on synthetic 48x48 images: training images/s over the global batch, and the time per step
//       that backward_done waits for gradient sums (what overlapping with backward did not hide); --sync-bn
//       synchronises BatchNorm
#include <deepcnn/deepcnn.hpp>
#include <deepcnn/distributed/mpi_communicator.hpp>

#include "../examples/fer_nets.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <variant>
#include <vector>

using namespace deepcnn;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void time_sums(MpiCommunicator& comm, std::size_t max_bytes) {
    if (comm.rank() == 0) {
        std::printf("%12s %10s %12s %12s %18s\n", "bytes", "ms", "algbw GB/s", "busbw GB/s", "MPI_Allreduce ms");
    }
    for (std::size_t bytes = 4096; bytes <= max_bytes; bytes *= 4) {
        std::vector<float> data(bytes / sizeof(float), 1.0f);
        const int reps = static_cast<int>(std::max<std::size_t>(5, std::min<std::size_t>(200, (std::size_t(64) << 20) / bytes)));
        std::vector<double> times, mpi_times;
        for (int r = 0; r < reps + 2; ++r) {
            comm.barrier();
            auto t = Clock::now();
            comm.sum(data.data(), data.size());
            if (r >= 2) times.push_back(seconds_since(t));
            comm.barrier();
            t = Clock::now();
            MPI_Allreduce(MPI_IN_PLACE, data.data(), static_cast<int>(data.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            if (r >= 2) mpi_times.push_back(seconds_since(t));
        }
        std::sort(mpi_times.begin(), mpi_times.end());
        // The slowest rank's time counts: take each repetition's maximum over the ranks.
        std::vector<double> all(times.size() * static_cast<std::size_t>(comm.size()), 0.0);
        std::copy(times.begin(), times.end(), all.begin() + static_cast<long>(times.size()) * comm.rank());
        comm.sum(all.data(), all.size());
        for (std::size_t i = 0; i < times.size(); ++i)
            for (int r = 0; r < comm.size(); ++r) times[i] = std::max(times[i], all[static_cast<std::size_t>(r) * times.size() + i]);
        std::sort(times.begin(), times.end());
        const double median = times[times.size() / 2];
        const double n = comm.size();
        if (comm.rank() == 0) {
            std::printf("%12zu %10.3f %12.3f %12.3f %18.3f\n", bytes, 1e3 * median, bytes / median / 1e9,
                        2.0 * (n - 1) / n * bytes / median / 1e9, 1e3 * mpi_times[mpi_times.size() / 2]);
        }
    }
}

template <class Model>
int train_model(Model& model, const std::string& net, int batch, int steps, int threads, bool overlap, bool sync_bn,
                Communicator* comm) {
    const int warmup = 2, samples = batch * (steps + warmup);
    model.set_threads(threads);
    Tensor<float> images(Shape(samples, 1, 48, 48));
    std::vector<int> labels(static_cast<std::size_t>(samples));
    Rng rng(3);
    for (std::size_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>(rng.uniform());
    for (auto& l : labels) l = static_cast<int>(rng.below(7));
    Adam<float> adam(1e-3);
    TrainerOptions options;
    options.epochs = 1;
    options.batch = batch;
    options.verbosity = Verbosity::silent;
    options.communicator = comm;
    options.overlap_gradient_sums = overlap;
    options.sync_batch_norm = sync_bn;
    Trainer<Model> trainer(model, adam, options);
    std::vector<double> step_seconds;
    double wait_at_warmup = 0.0;
    Clock::time_point start;
    trainer.on_batch_begin([&](int, int step) {
        if (step == warmup + 1 && trainer.data_parallel()) wait_at_warmup = trainer.data_parallel()->timings().wait_seconds;
        start = Clock::now();
    });
    trainer.on_batch_end([&](const BatchEnd& end) {
        if (end.step > warmup) step_seconds.push_back(seconds_since(start));
    });
    trainer.fit(images, labels);
    double total = 0.0;
    for (double s : step_seconds) total += s;
    const int rank = comm ? comm->rank() : 0;
    if (rank == 0) {
        std::printf("net %s, %zu parameters (%.2f MB of gradients), batch %d, ranks %d, threads %d, overlap %s, "
                    "BatchNorm %s: %.1f images/s",
                    net.c_str(), model.parameter_count(), model.parameter_count() * 4.0 / 1e6, batch,
                    comm ? comm->size() : 1, threads, overlap ? "on" : "off", sync_bn ? "synchronised" : "per rank",
                    batch * step_seconds.size() / total);
        if (trainer.data_parallel()) {
            const double wait = trainer.data_parallel()->timings().wait_seconds - wait_at_warmup;
            std::printf(", step %.1f ms, waiting for sums %.2f ms per step", 1e3 * total / step_seconds.size(),
                        1e3 * wait / step_seconds.size());
        } else {
            std::printf(", step %.1f ms", 1e3 * total / step_seconds.size());
        }
        std::printf("\n");
    }
    return 0;
}

// Either kind of net (fer::make_net builds a Sequential or a Graph).
int train(const std::string& net, int batch, int steps, int threads, bool overlap, bool sync_bn, Communicator* comm) {
    fer::AnyNet model = fer::make_net(net, 7, 1);
    return std::visit([&](auto& m) { return train_model(m, net, batch, steps, threads, overlap, sync_bn, comm); },
                      model);
}

int run(int argc, char** argv) {
    if (argc < 2) throw config_error("usage: distributed_bench sum|train [options]");
    const std::string mode = argv[1];
    std::string net = "fer";
    int batch = 64, steps = 8, threads = 1;
    bool overlap = true, single = false, sync_bn = false;
    std::size_t max_bytes = std::size_t(64) << 20;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw config_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--net") net = value();
        else if (a == "--batch") batch = std::stoi(value());
        else if (a == "--steps") steps = std::stoi(value());
        else if (a == "--threads") threads = std::stoi(value());
        else if (a == "--max-bytes") max_bytes = std::stoul(value());
        else if (a == "--no-overlap") overlap = false;
        else if (a == "--sync-bn") sync_bn = true;
        else if (a == "--single") single = true;
        else throw config_error("unknown option " + a);
    }
    if (mode == "train" && single) return train(net, batch, steps, threads, overlap, sync_bn, nullptr);
    MpiCommunicator comm(&argc, &argv);
    if (mode == "sum") {
        time_sums(comm, max_bytes);
        return 0;
    }
    if (mode == "train") return train(net, batch, steps, threads, overlap, sync_bn, &comm);
    throw config_error("unknown mode " + mode);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "distributed_bench: " << e.what() << "\n";
        return 1;
    }
}
