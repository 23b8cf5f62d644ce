// Guest-visible errors travel as Linux errno values inside a small Result type.
#pragma once

#include <cassert>
#include <utility>
#include <variant>

namespace mmu {

// A Linux errno value (EINVAL, ENOMEM, ...). The host is Linux, so <cerrno> has the same numbers.
struct Errno {
    int value;
    friend bool operator==(Errno, Errno) = default;
};

struct Ok {
    friend bool operator==(Ok, Ok) = default;
};

template <class T = Ok>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Errno error) : state_(error) {}         // NOLINT(google-explicit-constructor)

    bool ok() const { return std::holds_alternative<T>(state_); }
    explicit operator bool() const { return ok(); }

    const T& value() const& {
        assert(ok());
        return std::get<T>(state_);
    }
    T& value() & {
        assert(ok());
        return std::get<T>(state_);
    }
    T&& value() && {
        assert(ok());
        return std::get<T>(std::move(state_));
    }
    int error() const { return ok() ? 0 : std::get<Errno>(state_).value; }

private:
    std::variant<T, Errno> state_;
};

using Status = Result<Ok>;

// Returns early from the enclosing function when a Status/Result carries an error.
#define MMU_TRY(expr)                                     \
    do {                                                  \
        if (auto mmu_try_result_ = (expr); !mmu_try_result_.ok()) \
            return ::mmu::Errno{mmu_try_result_.error()}; \
    } while (0)

}  // namespace mmu
