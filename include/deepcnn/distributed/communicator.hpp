// deepcnn/distributed/communicator.hpp: Communicator, what data-parallel training needs from the processes it runs
// in (rank, size, a sum over ranks that can run while backward goes on, broadcast, barrier), and
// SingleProcessCommunicator, the one-process case. The MPI implementation is mpi_communicator.hpp (CMake target
// deepcnn::mpi); this header needs no MPI.
//
// Determinism: every sum gives every rank the same bits, and those bits do not depend on timing: element i of the
// result is ((x_0[i] + x_1[i]) + x_2[i]) + ... + x_{size-1}[i], a left fold in rank order.
#pragma once

#include <cstddef>
#include <string>

#include "../error.hpp"

namespace deepcnn {

// A collective operation failed or did not finish in time (a rank died, hung or the network failed).
class communicator_error : public error {
public:
    using error::error;
};

class Communicator {
public:
    using Request = int;

    virtual ~Communicator() = default;

    virtual int rank() const = 0;  // 0 .. size() - 1
    virtual int size() const = 0;

    // Starts summing data[0, count) over all ranks, in place, and returns at once; wait(request) completes it. The
    // buffer must stay alive and untouched until then. Every rank must start the same sums (same counts) in the
    // same order. The result is the left fold in rank order (see the top of this file).
    virtual Request start_sum(float* data, std::size_t count) = 0;
    virtual Request start_sum(double* data, std::size_t count) = 0;
    // Blocks until the request's sum is in its buffer; throws communicator_error if it does not finish within
    // timeout_seconds() (a peer died or hangs).
    virtual void wait(Request request) = 0;
    // Lets started sums advance (called between layers while backward runs); never blocks.
    virtual void progress() {}

    void sum(float* data, std::size_t count) { wait(start_sum(data, count)); }
    void sum(double* data, std::size_t count) { wait(start_sum(data, count)); }

    // Copies `bytes` bytes at data on rank `root` to data on every other rank.
    virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
    // Returns once every rank has entered it.
    virtual void barrier() = 0;

    // How long wait, broadcast and barrier wait for the other ranks before they throw communicator_error.
    double timeout_seconds() const { return timeout_seconds_; }
    void set_timeout_seconds(double seconds) { timeout_seconds_ = seconds; }

    // Ends every rank's process (after an error on one rank, so that the others do not wait for it). Returns only
    // where there is no other process (SingleProcessCommunicator).
    virtual void abort(int exit_code) = 0;

    // "rank 1 of 4": the prefix of this rank's messages.
    std::string where() const { return "rank " + std::to_string(rank()) + " of " + std::to_string(size()); }

private:
    double timeout_seconds_ = 120.0;
};

// One process: rank 0 of 1. Sums leave their data as it is (a fold of one term); broadcast and barrier do nothing.
class SingleProcessCommunicator : public Communicator {
public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    Request start_sum(float*, std::size_t) override { return next_request_++; }
    Request start_sum(double*, std::size_t) override { return next_request_++; }
    void wait(Request request) override {
        if (request < 0 || request >= next_request_) {
            throw communicator_error("SingleProcessCommunicator::wait: no request " + std::to_string(request));
        }
    }
    void broadcast(void*, std::size_t, int root) override {
        if (root != 0) throw communicator_error("broadcast: root " + std::to_string(root) + " of 1 rank");
    }
    void barrier() override {}
    void abort(int) override {}

private:
    Request next_request_ = 0;
};

}  // namespace deepcnn
