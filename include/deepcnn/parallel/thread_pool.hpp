// deepcnn/parallel/thread_pool.hpp: ThreadPool, a fixed set of worker threads that runs one parallel region at a
// time: run(tasks, fn) calls fn(t) once for every t in [0, tasks), each task on its own thread (task 0 on the
// caller). The partition of work into tasks is the caller's, so results depend only on the task count, never on
// scheduling. Between regions a worker polls for the next one for 100 microseconds, then sleeps on a condition
// variable. Owned by the model (Sequential), lent to layers as a pointer; there is no global pool.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace deepcnn {

class ThreadPool {
public:
    // `threads` workers in all, the caller included; 0 means std::thread::hardware_concurrency().
    explicit ThreadPool(int threads = 0) {
        if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        size_ = threads;
        workers_.reserve(static_cast<std::size_t>(threads - 1));
        for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
    }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;
    ~ThreadPool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_.store(true, std::memory_order_release);
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
    }

    // Threads that run tasks, the caller included.
    int size() const { return size_; }

    // Calls fn(t) for t in [0, tasks) with tasks <= size(), in parallel; returns when all are done. The first
    // exception a task throws is rethrown here. Allocates nothing. Not reentrant: a task must not call run().
    template <class F>
    void run(int tasks, F&& fn) {
        tasks = std::min(tasks, size_);
        if (tasks <= 1) {
            if (tasks == 1) fn(0);
            return;
        }
        using Fn = std::remove_reference_t<F>;
        Job job{&fn, [](void* ctx, int t) { (*static_cast<Fn*>(ctx))(t); }};
        {
            std::lock_guard<std::mutex> lock(mutex_);
            job_ = job;
            tasks_ = tasks;
            pending_.store(tasks - 1, std::memory_order_relaxed);
            error_ = nullptr;
            generation_.fetch_add(1, std::memory_order_release);
        }
        wake_.notify_all();
        call(job, 0);
        if (!spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; })) {
            std::unique_lock<std::mutex> lock(mutex_);
            done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
        }
        std::lock_guard<std::mutex> lock(mutex_);
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    }

private:
    struct Job {
        void* ctx = nullptr;
        void (*fn)(void*, int) = nullptr;
    };

    // Polls `ready` for up to spin_time before the caller falls back to sleeping on a condition variable: a
    // sleeping thread takes tens of microseconds to wake, as long as a whole batch-1 layer on a small net.
    // Returns whether `ready` came true.
    template <class Ready>
    static bool spin_until(Ready&& ready) {
        const auto start = std::chrono::steady_clock::now();
        for (int i = 1;; ++i) {
            if (ready()) return true;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            if (i % 64 == 0 && std::chrono::steady_clock::now() - start > spin_time) return false;
        }
    }

    void call(const Job& job, int t) {
        try {
            job.fn(job.ctx, t);
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!error_) error_ = std::current_exception();
        }
    }

    void worker_loop(int index) {
        unsigned long seen = 0;
        for (;;) {
            const auto news = [&] {
                return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
            };
            Job job;
            {
                const bool woken = spin_until(news);
                std::unique_lock<std::mutex> lock(mutex_);
                if (!woken) wake_.wait(lock, news);
                if (stop_.load(std::memory_order_relaxed)) return;
                seen = generation_.load(std::memory_order_relaxed);
                if (index >= tasks_) continue;
                job = job_;
            }
            call(job, index);
            if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                std::lock_guard<std::mutex> lock(mutex_);  // the caller checks pending_ under it before waiting
                done_.notify_one();
            }
        }
    }

    static constexpr std::chrono::microseconds spin_time{100};

    int size_ = 1;
    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    Job job_;
    int tasks_ = 0;
    std::atomic<int> pending_{0};
    std::atomic<unsigned long> generation_{0};
    std::atomic<bool> stop_{false};
    std::exception_ptr error_;
};

// Calls fn(begin, end) on contiguous ranges that together cover [0, count), in parallel on `pool` (null: one call
// on the calling thread). Range starts are multiples of `align`; a job of fewer than 2 * `grain` items stays on the
// calling thread (waking workers costs more than it saves). The partition depends only on the arguments and the
// pool size: use it for work whose result does not depend on where ranges split (elementwise maps, independent
// planes), which is then bit-identical for any thread count.
template <class F>
void parallel_for(ThreadPool* pool, long count, long grain, long align, F&& fn) {
    if (count <= 0) return;
    grain = std::max(1L, grain);
    align = std::max(1L, align);
    const long tasks = std::min<long>(pool ? pool->size() : 1, std::max(1L, count / grain));
    // (!pool implies tasks == 1; said again because GCC, inlining a call with a null pool, warned of it below)
    if (!pool || tasks <= 1) {
        fn(0L, count);
        return;
    }
    const long units = (count + align - 1) / align;
    pool->run(static_cast<int>(tasks), [&](int t) {
        const long begin = std::min(count, units * t / tasks * align);
        const long end = std::min(count, units * (t + 1) / tasks * align);
        if (begin < end) fn(begin, end);
    });
}

// Splits [0, count) into `parts` contiguous ranges whose starts are multiples of `align` (except the end);
// range `part` is [begin, end). Deterministic: depends only on the arguments.
inline void split_range(int count, int parts, int part, int align, int& begin, int& end) {
    const int units = (count + align - 1) / align;
    const int lo = static_cast<int>(static_cast<long>(units) * part / parts);
    const int hi = static_cast<int>(static_cast<long>(units) * (part + 1) / parts);
    begin = std::min(count, lo * align);
    end = std::min(count, hi * align);
}

// Runs task(t) for t in [0, threads) on the pool, or task(0) alone without one (no pool, or one thread).
template <class F>
void pool_run(ThreadPool* pool, int threads, F&& task) {
    if (pool && threads > 1) {
        pool->run(threads, task);
    } else {
        task(0);
    }
}

}  // namespace deepcnn
