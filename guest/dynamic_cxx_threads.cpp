// A dynamically linked C++ program (libstdc++.so, libgcc_s.so, libc.so.6 through ld.so):
// exceptions thrown and caught in several threads (the unwinder reads the shared libraries'
// .eh_frame), std::thread and std::mutex (TLS set up by ld.so, futexes), std::async, and a
// library loaded at run time with dlopen/dlsym.
#include <dlfcn.h>

#include <cstdio>
#include <future>
#include <iostream>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Boom : std::runtime_error {
    explicit Boom(int n) : std::runtime_error("boom " + std::to_string(n)), value(n) {}
    int value;
};

thread_local int tls_counter = 0;

int work(int id) {
    int caught = 0;
    for (int i = 0; i < 100; ++i) {
        try {
            if (i % 3 == 0) throw Boom(id * 1000 + i);
            ++tls_counter;
        } catch (const Boom& b) {
            caught += b.value % 7;
        }
    }
    return caught + tls_counter;
}

}  // namespace

int main() {
    std::mutex m;
    std::vector<int> results(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            const int r = work(t);
            std::lock_guard<std::mutex> lock(m);
            results[static_cast<std::size_t>(t)] = r;
        });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) std::cout << "thread " << t << ": " << results[static_cast<std::size_t>(t)] << "\n";

    auto fut = std::async(std::launch::async, [] { return work(9); });
    std::cout << "async: " << fut.get() << "\n";
    try {
        std::vector<int> v(3);
        (void)v.at(7);
    } catch (const std::out_of_range& e) {
        std::cout << "out_of_range caught\n";
    }

    void* libm = dlopen("libm.so.6", RTLD_NOW);
    if (!libm) {
        std::cout << "dlopen failed: " << dlerror() << "\n";
        return 1;
    }
    auto cosine = reinterpret_cast<double (*)(double)>(dlsym(libm, "cos"));
    std::printf("cos(0) = %.3f, sqrt via dlsym: %.3f\n", cosine ? cosine(0.0) : -1.0,
                reinterpret_cast<double (*)(double)>(dlsym(libm, "sqrt"))(2.0));
    dlclose(libm);
    std::cout << "main tls " << tls_counter << "\n";
    return 0;
}
