// deepcnn/distributed/mpi_communicator.hpp: MpiCommunicator, the Communicator over MPI's MPI_COMM_WORLD. Link the
// CMake target deepcnn::mpi (find_package(MPI) must find an MPI, e.g. Debian's libopenmpi-dev) to use it; the rest
// of deepcnn needs no MPI.
//
// A sum is a reduce-scatter then an all-gather, each a non-blocking MPI collective on its own communicator:
//   1. the buffer is cut into size() chunks; chunk c goes to rank c (MPI_Ialltoallv);
//   2. rank c adds the size() copies of its chunk in rank order (0, 1, 2, ...), so each element is a left fold in
//      rank order, the same bits whatever the timing;
//   3. every rank gets every summed chunk (MPI_Iallgatherv).
// Each rank sends and receives 2 (size - 1) / size of the buffer, as in a ring all-reduce. MPI_Allreduce is not
// used: MPI does not promise the same bits on every rank, nor the same order run to run.
// Collectives progress when progress() or wait() test them (MPI's non-blocking collectives move in MPI calls);
// wait, broadcast and barrier give up with communicator_error after timeout_seconds(), so that a dead or hung
// peer stops the others with a message instead of a hang. MPI errors are returned, not fatal, and become
// communicator_error too. After a communicator_error call abort(): the other ranks may be waiting in a collective
// (MPI_Finalize would wait for them too). Only the thread that made the MpiCommunicator may call it
// (MPI_THREAD_FUNNELED).
#pragma once

#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "communicator.hpp"

namespace deepcnn {

class MpiCommunicator : public Communicator {
public:
    // Initialises MPI unless the program already has (then it also finalises it).
    MpiCommunicator(int* argc = nullptr, char*** argv = nullptr) {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (!initialized) {
            int provided = 0;
            MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
            owns_mpi_ = true;
        }
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
        for (MPI_Comm* comm : {&scatter_comm_, &gather_comm_, &blocking_comm_}) {
            check(MPI_Comm_dup(MPI_COMM_WORLD, comm), "MPI_Comm_dup");
            check(MPI_Comm_set_errhandler(*comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
        }
    }
    MpiCommunicator(const MpiCommunicator&) = delete;
    MpiCommunicator& operator=(const MpiCommunicator&) = delete;
    ~MpiCommunicator() override {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (finalized) return;
        if (ops_.empty()) {  // a communicator is freed collectively: not while a sum may still be in flight
            for (MPI_Comm* comm : {&scatter_comm_, &gather_comm_, &blocking_comm_}) MPI_Comm_free(comm);
        }
        if (owns_mpi_) MPI_Finalize();
    }

    int rank() const override { return rank_; }
    int size() const override { return size_; }

    Request start_sum(float* data, std::size_t count) override { return start(data, count, MPI_FLOAT, sizeof(float)); }
    Request start_sum(double* data, std::size_t count) override {
        return start(data, count, MPI_DOUBLE, sizeof(double));
    }

    void wait(Request request) override {
        const auto deadline = Clock::now() + timeout();
        for (;;) {
            progress();
            if (find(request) == nullptr) return;
            if (Clock::now() > deadline) {
                const Op& op = *find(request);
                throw communicator_error(where() + ": a sum of " + std::to_string(op.count) +
                                         " values did not finish within " + seconds_text() +
                                         " s: another rank died, hangs or cannot be reached");
            }
            std::this_thread::yield();
        }
    }

    void progress() override {
        bool earlier_still_scattering = false;
        for (auto& op : ops_) {
            if (op->stage == Stage::scattering && test(op->request, "MPI_Ialltoallv")) {
                add_received(*op);
                op->stage = Stage::summed;
            }
            // All-gathers start in request order on every rank (collectives on one communicator must).
            if (op->stage == Stage::summed && !earlier_still_scattering) {
                check(MPI_Iallgatherv(MPI_IN_PLACE, 0, op->type, op->data, op->counts.data(), op->displs.data(),
                                      op->type, gather_comm_, &op->request),
                      "MPI_Iallgatherv");
                op->stage = Stage::gathering;
            }
            if (op->stage == Stage::gathering && test(op->request, "MPI_Iallgatherv")) op->stage = Stage::done;
            if (op->stage == Stage::scattering || op->stage == Stage::summed) earlier_still_scattering = true;
        }
        while (!ops_.empty() && ops_.front()->stage == Stage::done) ops_.pop_front();
    }

    void broadcast(void* data, std::size_t bytes, int root) override {
        if (root < 0 || root >= size_) {
            throw communicator_error(where() + ": broadcast from rank " + std::to_string(root));
        }
        for (std::size_t offset = 0; offset < bytes; offset += max_message) {
            const int part = static_cast<int>(std::min(max_message, bytes - offset));
            MPI_Request request;
            check(MPI_Ibcast(static_cast<char*>(data) + offset, part, MPI_BYTE, root, blocking_comm_, &request),
                  "MPI_Ibcast");
            finish(request, "a broadcast");
        }
    }
    void barrier() override {
        MPI_Request request;
        check(MPI_Ibarrier(blocking_comm_, &request), "MPI_Ibarrier");
        finish(request, "a barrier");
    }
    void abort(int exit_code) override { MPI_Abort(MPI_COMM_WORLD, exit_code); }

private:
    using Clock = std::chrono::steady_clock;
    static constexpr std::size_t max_message = std::size_t(1) << 30;
    enum class Stage { scattering, summed, gathering, done };
    struct Op {
        Request id = 0;
        void* data = nullptr;
        std::size_t count = 0;
        MPI_Datatype type = MPI_FLOAT;
        std::size_t element_bytes = 0;
        std::vector<int> counts, displs;           // chunk c: counts[c] elements at displs[c]
        std::vector<int> receive_counts, receive_displs;
        std::vector<unsigned char> received;       // size() copies of this rank's chunk, in rank order
        MPI_Request request = MPI_REQUEST_NULL;
        Stage stage = Stage::scattering;
    };

    Request start(void* data, std::size_t count, MPI_Datatype type, std::size_t element_bytes) {
        if (count / static_cast<std::size_t>(size_) >= static_cast<std::size_t>(INT_MAX)) {
            throw communicator_error(where() + ": a sum of " + std::to_string(count) + " values is too large for MPI");
        }
        auto op = std::make_unique<Op>();
        op->id = next_request_++;
        op->data = data;
        op->count = count;
        op->type = type;
        op->element_bytes = element_bytes;
        const std::size_t ranks = static_cast<std::size_t>(size_), base = count / ranks, extra = count % ranks;
        for (std::size_t c = 0, offset = 0; c < ranks; ++c) {
            const std::size_t n = base + (c < extra ? 1 : 0);
            op->counts.push_back(static_cast<int>(n));
            op->displs.push_back(static_cast<int>(offset));
            offset += n;
        }
        const int mine = op->counts[static_cast<std::size_t>(rank_)];
        for (int r = 0; r < size_; ++r) {
            op->receive_counts.push_back(mine);
            op->receive_displs.push_back(r * mine);
        }
        op->received.resize(ranks * static_cast<std::size_t>(mine) * element_bytes);
        check(MPI_Ialltoallv(data, op->counts.data(), op->displs.data(), type, op->received.data(),
                             op->receive_counts.data(), op->receive_displs.data(), type, scatter_comm_, &op->request),
              "MPI_Ialltoallv");
        ops_.push_back(std::move(op));
        progress();
        return next_request_ - 1;
    }

    // This rank's chunk = its size() received copies added in rank order.
    void add_received(Op& op) const {
        const void* received = op.received.data();
        if (op.type == MPI_FLOAT) {
            add_in_rank_order(static_cast<float*>(op.data), static_cast<const float*>(received), op, rank_);
        } else {
            add_in_rank_order(static_cast<double*>(op.data), static_cast<const double*>(received), op, rank_);
        }
    }
    template <class T>
    static void add_in_rank_order(T* data, const T* received, const Op& op, int rank) {
        const std::size_t n = static_cast<std::size_t>(op.counts[static_cast<std::size_t>(rank)]);
        if (n == 0) return;  // fewer values than ranks: this rank's chunk is empty
        T* out = data + op.displs[static_cast<std::size_t>(rank)];
        std::memcpy(out, received, n * sizeof(T));
        for (std::size_t r = 1; r < op.counts.size(); ++r) {
            const T* copy = received + r * n;
            for (std::size_t i = 0; i < n; ++i) out[i] += copy[i];
        }
    }

    Op* find(Request request) {
        for (auto& op : ops_)
            if (op->id == request) return op.get();
        return nullptr;
    }
    bool test(MPI_Request& request, const char* what) {
        int done = 0;
        check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
        return done != 0;
    }
    void finish(MPI_Request& request, const char* what) {
        const auto deadline = Clock::now() + timeout();
        while (!test(request, what)) {
            if (Clock::now() > deadline) {
                throw communicator_error(where() + ": " + what + " did not finish within " + seconds_text() +
                                         " s: another rank died, hangs or cannot be reached");
            }
            progress();
            std::this_thread::yield();
        }
    }
    Clock::duration timeout() const {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds()));
    }
    std::string seconds_text() const {
        std::string text = std::to_string(timeout_seconds());
        text.erase(text.find_last_not_of('0') + 1);
        if (!text.empty() && text.back() == '.') text.pop_back();
        return text;
    }
    void check(int code, const char* what) const {
        if (code == MPI_SUCCESS) return;
        char text[MPI_MAX_ERROR_STRING];
        int length = 0;
        MPI_Error_string(code, text, &length);
        throw communicator_error(where() + ": " + what +
                                 " failed: " + std::string(text, static_cast<std::size_t>(length)));
    }

    int rank_ = 0, size_ = 1;
    bool owns_mpi_ = false;
    MPI_Comm scatter_comm_ = MPI_COMM_NULL, gather_comm_ = MPI_COMM_NULL, blocking_comm_ = MPI_COMM_NULL;
    std::deque<std::unique_ptr<Op>> ops_;  // started sums, in request order
    Request next_request_ = 0;
};

}  // namespace deepcnn
