// examples/fer_distributed.hpp: fer_train's data-parallel wiring, apart from its recipe. Started by mpirun with
// several ranks, a program built with deepcnn::mpi (which defines DEEPCNN_HAS_MPI) gets an MpiCommunicator over
// the job's ranks; started alone, none (MPI is not even initialised). The program gives communicator() to
// TrainerOptions::communicator, writes its files only where writes_files() (rank 0), and on an error calls
// abort_job() so that the other ranks stop instead of waiting for this one (docs/distributed.md).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <streambuf>
#include <string>

#include <deepcnn/distributed/communicator.hpp>
#include <deepcnn/error.hpp>

#include "fer_common.hpp"
#ifdef DEEPCNN_HAS_MPI
#include <deepcnn/distributed/mpi_communicator.hpp>
#endif

namespace fer {

// The number of ranks the MPI launcher started (Open MPI's and MPICH's variables); 1 when started alone.
inline int launcher_ranks() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
        if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
    }
    return 1;
}

// A stream buffer that drops what it is given: the standard output of the ranks other than 0.
class NullOutput : public std::streambuf {
protected:
    int_type overflow(int_type c) override { return traits_type::not_eof(c); }
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

class Distributed {
public:
    // Call first in main (MPI may take its own arguments out of argc / argv). `timeout_seconds`: how long a rank
    // waits for the others before it stops with communicator_error.
    Distributed(int* argc, char*** argv, double timeout_seconds = 120.0) {
        const int ranks = launcher_ranks();
        if (ranks == 1) return;
#ifdef DEEPCNN_HAS_MPI
        comm_ = std::make_unique<deepcnn::MpiCommunicator>(argc, argv);
        comm_->set_timeout_seconds(timeout_seconds);
#else
        (void)argc, (void)argv, (void)timeout_seconds;
        throw deepcnn::config_error("started as one of " + std::to_string(ranks) +
                                    " ranks, but this program was built without MPI (install libopenmpi-dev and "
                                    "build again: CMake links deepcnn::mpi where it finds MPI)");
#endif
    }

    // Null when alone: the Trainer then trains in this process only.
    deepcnn::Communicator* communicator() { return comm_.get(); }
    int rank() const { return comm_ ? comm_->rank() : 0; }
    int size() const { return comm_ ? comm_->size() : 1; }
    // Only rank 0 prints results and writes files (the other ranks hold the same weights).
    bool writes_files() const { return rank() == 0; }
    // Ends every rank's process with `exit_code` (after an error on this rank); returns when alone.
    void abort_job(int exit_code) {
        if (comm_) comm_->abort(exit_code);
    }

private:
    std::unique_ptr<deepcnn::Communicator> comm_;
};

// Runs `program(distributed)`, which returns an exit code, alone or as one rank of an mpirun job: MPI starts first
// (an error there is a usage error), the standard output of every rank but 0 is dropped, and an exit code other
// than 0 on any rank ends every rank instead of leaving them waiting for this one.
template <class Program>
int run_distributed(const char* name, int* argc, char*** argv, Program&& program) {
    std::unique_ptr<Distributed> distributed;
    try {
        distributed = std::make_unique<Distributed>(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << name << ": error: " << deepcnn::printable(e.what()) << "\n";
        return exit_usage;
    }
    NullOutput silenced;
    std::streambuf* const kept = distributed->writes_files() ? nullptr : std::cout.rdbuf(&silenced);
    const int code = program(*distributed);
    if (kept != nullptr) std::cout.rdbuf(kept);
    if (code != 0) distributed->abort_job(code);
    return code;
}

}  // namespace fer
