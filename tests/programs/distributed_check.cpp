// tests/programs/distributed_check.cpp: the program the distributed tests (tests/distributed.cmake) run under
// mpirun. It trains a small net on synthetic 12x12 images with deepcnn::Trainer and an MpiCommunicator and prints,
// on rank 0, a hash of the final weights, whether every rank held the same weights after every step and the last
// validation's figures (--validate: on 20 more samples). --sync-bn synchronises BatchNorm. Without MPI (--single),
// it trains in one process: with no communicator, or (--shards K) by the recipe that K ranks are documented to
// equal (docs/distributed.md): each global batch cut into K shards, each shard's gradient (and BatchNorm
// statistics, Dropout masks from the step's generator state keyed by the samples' global indices) computed from
// the step's starting weights, scaled by its share of the batch and summed in shard order. Fault injection: --die-rank R --die-step S (rank R kills itself with SIGKILL after global step S),
// --hang-rank R --hang-step S (rank R sleeps instead), --timeout T (seconds the communicator waits).
// --save FILE writes the final model (rank 0); --diff A B prints the largest difference between two such files.
#include <deepcnn/deepcnn.hpp>
#include <deepcnn/distributed/mpi_communicator.hpp>

#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <thread>

using namespace deepcnn;

namespace {

struct Options {
    std::string net = "bn";  // plain | bn | dropout
    int threads = 1, epochs = 2, batch = 16, samples = 96, shards = 0;
    bool single = false, shuffle = true, augment = false, overlap = true, bench = false, sync_bn = false,
         validate = false;
    std::string checkpoint, save;
    bool resume = false;
    int stop_after = 0;  // global steps; 0: never
    int die_rank = -1, die_step = 0, hang_rank = -1, hang_step = 0;
    double timeout = 60.0;
    std::size_t bucket_bytes = 4096;
    int image = 12;
};

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw config_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--net") o.net = next();
        else if (a == "--threads") o.threads = std::stoi(next());
        else if (a == "--epochs") o.epochs = std::stoi(next());
        else if (a == "--batch") o.batch = std::stoi(next());
        else if (a == "--samples") o.samples = std::stoi(next());
        else if (a == "--image") o.image = std::stoi(next());
        else if (a == "--single") o.single = true;
        else if (a == "--shards") o.shards = std::stoi(next());
        else if (a == "--no-shuffle") o.shuffle = false;
        else if (a == "--augment") o.augment = true;
        else if (a == "--no-overlap") o.overlap = false;
        else if (a == "--sync-bn") o.sync_bn = true;
        else if (a == "--validate") o.validate = true;
        else if (a == "--bench") o.bench = true;
        else if (a == "--bucket-bytes") o.bucket_bytes = std::stoul(next());
        else if (a == "--checkpoint") o.checkpoint = next();
        else if (a == "--save") o.save = next();
        else if (a == "--resume") o.resume = true;
        else if (a == "--stop-after") o.stop_after = std::stoi(next());
        else if (a == "--die-rank") o.die_rank = std::stoi(next());
        else if (a == "--die-step") o.die_step = std::stoi(next());
        else if (a == "--hang-rank") o.hang_rank = std::stoi(next());
        else if (a == "--hang-step") o.hang_step = std::stoi(next());
        else if (a == "--timeout") o.timeout = std::stod(next());
        else throw config_error("unknown option " + a);
    }
    return o;
}

Sequential<float> make_net(const Options& o) {
    Sequential<float> model(Shape(1, 1, o.image, o.image), 7);
    model.add(Conv2D<float>(8, 3));
    if (o.net != "plain") model.add(BatchNorm<float>());
    model.add(ReLU<float>());
    model.add(MaxPool2D<float>(2));
    model.add(Conv2D<float>(16, 3));
    if (o.net != "plain") model.add(BatchNorm<float>());
    model.add(ReLU<float>());
    model.add(MaxPool2D<float>(2));
    model.add(Flatten<float>());
    if (o.net == "dropout") model.add(Dropout<float>(0.3));
    model.add(Dense<float>(4));
    model.set_threads(o.threads);
    return model;
}

// Four classes: a bright quadrant each, under noise.
void make_data(const Options& o, int samples, std::uint64_t seed, Tensor<float>& images, std::vector<int>& labels) {
    Rng rng(seed);
    const int S = o.image, half = S / 2;
    images.resize(Shape(samples, 1, S, S));
    labels.resize(static_cast<std::size_t>(samples));
    for (int n = 0; n < samples; ++n) {
        const int label = n % 4;
        labels[static_cast<std::size_t>(n)] = label;
        for (int y = 0; y < S; ++y)
            for (int x = 0; x < S; ++x) {
                const bool lit = (y < half) == (label < 2) && (x < half) == (label % 2 == 0);
                images(n, 0, y, x) = float((lit ? 0.8 : 0.0) + 0.3 * rng.normal());
            }
    }
}

// FNV-1a over the bytes of every parameter, buffer and layer generator state.
std::uint64_t weights_hash(Sequential<float>& model) {
    std::uint64_t h = 1469598103934665603ULL;
    const auto add = [&](const void* data, std::size_t bytes) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ULL;
    };
    for (auto& p : model.params()) add(p.value->data(), p.value->size() * sizeof(float));
    for (auto& b : model.buffers()) add(b.value->data(), b.value->size() * sizeof(float));
    for (std::size_t i = 0; i < model.size(); ++i)
        if (Rng* rng = model.layer(i).random_generator()) {
            const Rng::State s = rng->state();
            add(s.data(), sizeof(s));
        }
    return h;
}

std::string hex(std::uint64_t h) {
    char text[17];
    std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(h));
    return text;
}

TrainerOptions trainer_options(const Options& o) {
    TrainerOptions t;
    t.epochs = o.epochs;
    t.batch = o.batch;
    t.seed = 5;
    t.shuffle = o.shuffle;
    t.augment = o.augment;
    t.verbosity = Verbosity::silent;
    t.restore_best_weights = false;
    t.checkpoint_path = o.checkpoint;
    t.gradient_bucket_bytes = o.bucket_bytes;
    t.overlap_gradient_sums = o.overlap;
    t.sync_batch_norm = o.sync_bn;
    t.evaluation_batch = 8;  // 20 validation samples: batches of 8, 8 and 4
    return t;
}

// The documented single-process equivalent of `shards` ranks without synchronised BatchNorm (the Trainer's order
// and augmentation; each shard's Dropout draws from the step's generator state, keyed by global sample index).
std::uint64_t train_in_shards(const Options& o, Sequential<float>& model, const Tensor<float>& images,
                              const std::vector<int>& labels) {
    Sgd<float> sgd(0.05);
    SoftmaxCrossEntropy<float> loss;
    Rng data_rng(trainer_options(o).seed);
    std::vector<std::size_t> order(static_cast<std::size_t>(o.samples));
    Tensor<float> batch, augmented, shard, logits_grad;
    std::vector<int> batch_labels, shard_labels;
    std::vector<Tensor<float>> sums;  // per trainable parameter
    std::vector<Tensor<float>> buffers_at_start, buffer_sums;
    std::vector<Rng::State> generators_at_start;
    const int steps = o.samples / o.batch + (o.samples % o.batch >= o.shards ? 1 : 0);
    TensorSource<float> source(images, labels);
    model.train();
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
        std::iota(order.begin(), order.end(), std::size_t(0));
        if (o.shuffle) data_rng.shuffle(order.begin(), order.end());
        for (int step = 0; step < steps; ++step) {
            const std::size_t first = static_cast<std::size_t>(step) * static_cast<std::size_t>(o.batch);
            const std::size_t count = std::min<std::size_t>(static_cast<std::size_t>(o.batch), order.size() - first);
            source.fetch(order.data() + first, count, batch, batch_labels);
            if (o.augment) augment_batch(batch, augmented, default_augmentation(), data_rng);
            const Tensor<float>& inputs = o.augment ? augmented : batch;
            const int global = inputs.n();
            buffers_at_start.clear();
            for (auto& b : model.buffers()) buffers_at_start.push_back(*b.value);
            generators_at_start.clear();
            for (std::size_t i = 0; i < model.size(); ++i)
                if (Rng* rng = model.layer(i).random_generator()) generators_at_start.push_back(rng->state());
            for (int k = 0; k < o.shards; ++k) {
                const int lo = static_cast<int>(static_cast<long long>(global) * k / o.shards);
                const int hi = static_cast<int>(static_cast<long long>(global) * (k + 1) / o.shards);
                shard = inputs.slice(lo, hi - lo);
                shard_labels.assign(batch_labels.begin() + lo, batch_labels.begin() + hi);
                auto buffers = model.buffers();
                for (std::size_t j = 0; j < buffers.size(); ++j) *buffers[j].value = buffers_at_start[j];
                for (std::size_t i = 0, j = 0; i < model.size(); ++i) {
                    model.layer(i).set_first_sample(lo);
                    if (Rng* rng = model.layer(i).random_generator()) rng->set_state(generators_at_start[j++]);
                }
                loss.forward(model.forward_logits(shard), shard_labels);
                loss.backward(logits_grad);
                model.backward(logits_grad);
                const float scale = static_cast<float>(double(hi - lo) / double(global));
                const auto& params = model.trainable_params();
                sums.resize(params.size());
                for (std::size_t j = 0; j < params.size(); ++j) {
                    Tensor<float>& sum = sums[j];
                    const Tensor<float>& g = *params[j].grad;
                    if (k == 0) sum.resize(g.shape());
                    for (std::size_t e = 0; e < g.size(); ++e) sum[e] = k == 0 ? g[e] * scale : sum[e] + g[e] * scale;
                }
                buffer_sums.resize(buffers.size());
                for (std::size_t j = 0; j < buffers.size(); ++j) {
                    if (k == 0) buffer_sums[j] = *buffers[j].value;
                    else for (std::size_t e = 0; e < buffer_sums[j].size(); ++e) buffer_sums[j][e] += (*buffers[j].value)[e];
                }
            }
            const auto& params = model.trainable_params();
            for (std::size_t j = 0; j < params.size(); ++j) *params[j].grad = sums[j];
            const float inverse = 1.0f / static_cast<float>(o.shards);
            auto buffers = model.buffers();
            for (std::size_t j = 0; j < buffers.size(); ++j)
                for (std::size_t e = 0; e < buffer_sums[j].size(); ++e) (*buffers[j].value)[e] = buffer_sums[j][e] * inverse;
            sgd.step(params);
        }
    }
    return weights_hash(model);
}

int run(int argc, char** argv) {
    const Options o = parse(argc, argv);
    Tensor<float> images;
    std::vector<int> labels;
    make_data(o, o.samples, 11, images, labels);
    Sequential<float> model = make_net(o);
    if (o.single && o.shards > 0) {
        std::cout << "weights " << hex(train_in_shards(o, model, images, labels)) << "\n";
        return 0;
    }
    std::unique_ptr<MpiCommunicator> comm;
    if (!o.single) {
        comm = std::make_unique<MpiCommunicator>(&argc, &argv);
        comm->set_timeout_seconds(o.timeout);
    }
    const int rank = comm ? comm->rank() : 0;
    try {
        Sgd<float> sgd(0.05);
        TrainerOptions options = trainer_options(o);
        options.communicator = comm.get();
        Trainer<Sequential<float>> trainer(model, sgd, options);
        if (o.resume) trainer.resume(o.checkpoint);
        int step = 0, inconsistent = 0;
        double train_seconds = 0.0;
        auto clock = std::chrono::steady_clock::now();
        trainer.on_batch_begin([&](int, int) { clock = std::chrono::steady_clock::now(); });
        trainer.on_batch_end([&](const BatchEnd&) {
            train_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - clock).count();
            ++step;
            if (rank == o.die_rank && step == o.die_step) std::raise(SIGKILL);
            if (rank == o.hang_rank && step == o.hang_step) std::this_thread::sleep_for(std::chrono::hours(1));
            if (comm) {
                std::uint64_t mine = weights_hash(model), rank0 = mine;
                comm->broadcast(&rank0, sizeof(rank0), 0);
                double differs = mine != rank0 ? 1.0 : 0.0;
                comm->sum(&differs, 1);
                if (differs > 0.0) ++inconsistent;
            }
            if (o.stop_after > 0 && step == o.stop_after) trainer.request_stop();
        });
        Tensor<float> validation_images;
        std::vector<int> validation_labels;
        if (o.validate) make_data(o, 20, 12, validation_images, validation_labels);
        const TrainingResult result = o.validate ? trainer.fit(images, labels, validation_images, validation_labels)
                                                 : trainer.fit(images, labels);
        if (rank == 0 && o.validate) {  // the last validation (split over the ranks), then this process's own
            TensorSource<float> validation(validation_images, validation_labels);
            const ClassifierEvaluation<float> own = evaluate_classifier(model, validation, false, 8);
            std::printf("validation loss %.17g accuracy %.17g\n", result.history.back().val_loss,
                        result.history.back().val_accuracy);
            std::printf("one-process validation loss %.17g accuracy %.17g\n", own.loss, own.accuracy);
            std::fflush(stdout);
        }
        if (rank == 0) {
            std::cout << "steps " << step << ", epochs done " << result.epochs_done << ", steps with ranks that differ "
                      << inconsistent << "\n";
            if (o.bench && comm) {
                const DataParallelTimings& t = trainer.data_parallel()->timings();
                std::cout << "images/s " << (step * double(o.batch)) / train_seconds << ", all-reduce wait per step "
                          << 1e3 * t.wait_seconds / std::max<long>(t.steps, 1) << " ms\n";
            } else if (o.bench) {
                std::cout << "images/s " << (step * double(o.batch)) / train_seconds << "\n";
            }
            std::cout << "weights " << hex(weights_hash(model)) << "\n";
            if (!o.save.empty()) save_model(o.save, model);
        }
    } catch (const communicator_error& e) {
        std::cerr << "distributed_check: " << e.what() << "\n";
        comm->abort(3);
        return 3;
    }
    return 0;
}

}  // namespace

// --diff A B: the largest difference between the two model files' parameters, relative to the largest value.
int diff(const std::string& a, const std::string& b) {
    Sequential<float> x = load_model<float>(a), y = load_model<float>(b);
    double largest = 0.0, difference = 0.0;
    for (std::size_t k = 0; k < x.params().size(); ++k) {
        const Tensor<float>& u = *x.params()[k].value;
        const Tensor<float>& v = *y.params()[k].value;
        for (std::size_t i = 0; i < u.size(); ++i) {
            largest = std::max(largest, std::abs(double(u[i])));
            difference = std::max(difference, std::abs(double(u[i]) - double(v[i])));
        }
    }
    std::cout << "largest parameter difference " << difference << ", relative " << difference / largest << "\n";
    return 0;
}

int main(int argc, char** argv) {
    if (argc == 4 && std::string(argv[1]) == "--diff") return diff(argv[2], argv[3]);
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "distributed_check: " << e.what() << "\n";
        return 1;
    }
}
