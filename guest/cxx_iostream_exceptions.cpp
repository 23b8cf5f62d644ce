// cxx_iostream_exceptions.cpp - a static C++ program using what C++ programs lean on: iostreams,
// exceptions (throw across frames, rethrow, std::exception hierarchy), RTTI, std::string,
// containers, std::sort, std::map and a function-local static. Output must match native.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

namespace {

struct GuardHit : std::runtime_error {
    explicit GuardHit(const std::string& what) : std::runtime_error(what) {}
};

int depth_then_throw(int depth) {
    std::vector<int> keep_alive(static_cast<std::size_t>(depth) + 1, depth);
    if (depth == 0) throw GuardHit("hit a guard page at depth 0");
    return depth_then_throw(depth - 1) + keep_alive.back();
}

const std::map<std::string, int>& advice_table() {
    static const std::map<std::string, int> table{
        {"MADV_GUARD_INSTALL", 102}, {"MADV_GUARD_REMOVE", 103}, {"MADV_DONTNEED", 4}};
    return table;
}

}  // namespace

int main() {
    std::cout << "hello from C++ under the MMU\n";
    try {
        depth_then_throw(20);
    } catch (const std::runtime_error& e) {
        std::cout << "caught " << (dynamic_cast<const GuardHit*>(&e) ? "GuardHit" : "other")
                  << ": " << e.what() << "\n";
    }
    try {
        try {
            throw std::out_of_range("inner");
        } catch (...) {
            std::cout << "rethrowing\n";
            throw;
        }
    } catch (const std::logic_error& e) {
        std::cout << "caught logic_error after rethrow: " << e.what() << "\n";
    }
    std::vector<int> values(1000);
    std::iota(values.begin(), values.end(), 1);
    std::reverse(values.begin(), values.end());
    std::sort(values.begin(), values.end());
    std::cout << "sum " << std::accumulate(values.begin(), values.end(), 0L) << "\n";
    for (const auto& [name, value] : advice_table())
        std::cout << std::left << std::setw(20) << name << std::right << std::setw(5) << value << "\n";
    std::ostringstream out;
    out << std::hex << std::showbase << 4096 << " " << std::fixed << std::setprecision(3) << 3.14159;
    std::cout << out.str() << "\n";
    auto owned = std::make_unique<std::string>(std::string(100000, 'x'));
    std::cout << "big string " << owned->size() << "\n";
    try {
        std::vector<int> v;
        (void)v.at(3);
    } catch (const std::exception& e) {
        std::cout << "caught " << (typeid(e) == typeid(std::out_of_range) ? "out_of_range" : "other") << "\n";
    }
    return 0;
}
