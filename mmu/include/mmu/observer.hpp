// What an address space reports about itself: every operation called from outside, with its
// arguments and result, and every page fault not taken inside one. The emulator turns these into
// trace events; replaying them calls the same operations in the same order.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "mmu/types.hpp"

namespace mmu {

class AddressSpace;

enum class Operation : std::uint8_t {
    Mmap,        // args: addr, len, prot, flags; result: address or -errno
    MmapFile,    // args: addr, len, prot, flags, pgoff, object pages; name
    MapSpecial,  // args: addr, prot, size; name
    Munmap,      // args: addr, len
    Mprotect,    // args: addr, len, prot
    Mremap,      // args: old, old_len, new_len, flags, new_addr
    Madvise,     // args: addr, len, advice
    Mlock,       // args: addr, len, flags
    Munlock,     // args: addr, len
    Mlockall,    // args: flags
    Munlockall,
    Mseal,       // args: addr, len, flags
    Brk,         // args: requested; result: the new break
    BrkBase,     // args: base
    Poke,        // args: addr, len
    Fork,        // child: the new address space
    Fault,       // args: addr, access; result: 0 resolved, -1 handed to userfaultfd, else signo << 8 | si_code
    // userfaultfd (result 0 or -errno; the fills put the bytes done in args[5]):
    UffdRegister,      // args: start, len, modes, ctx
    UffdUnregister,    // args: start, len
    UffdCopy,          // args: dst, src, len, wp, ctx, done
    UffdZeropage,      // args: dst, len, ctx, -, -, done
    UffdContinue,      // args: dst, len, wp, ctx, -, done
    UffdPoison,        // args: dst, len, ctx, -, -, done
    UffdWriteprotect,  // args: start, len, protect
    UffdRelease,       // args: ctx
    UffdWpRange,       // args: start, len (PAGEMAP_SCAN's write-protect)
    SetPolicy,         // args: start, end, mode | flags << 16, nodes, home node (mbind)
    SetHomeNode,       // args: start, end, node
};

struct OperationRecord {
    Operation op;
    std::array<std::uint64_t, 6> args{};
    std::int64_t result = 0;
    std::string name;
    const AddressSpace* child = nullptr;
};

class Observer {
public:
    virtual ~Observer() = default;
    virtual void on_operation(const AddressSpace& as, const OperationRecord& record) = 0;
};

}  // namespace mmu
