#include "trace/trace_replay.hpp"

#include <new>
#include <system_error>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <stdexcept>

#include "mmu/address_space.hpp"
#include "trace/trace_events.hpp"
#include "trace/trace_io.hpp"

namespace emu {

using namespace mmu;

namespace {

// The file behind a replayed mapping of a file (contents are not traced: zeros, writes dropped).
// Only shmem (memfd, shared anonymous memory) has no backing, as in the emulator, since some
// rules differ (userfaultfd registration, write-notify of shared mappings).
class UntracedFile final : public ObjectBacking {
public:
    void read_page(std::uint64_t, std::byte*) override {}
    void write_page(std::uint64_t, const std::byte*, std::size_t) override {}
    void punch_hole(std::uint64_t, std::uint64_t) override {}
    void sync_data() override {}
};

// A NUMA node in a trace: a decimal number, -1 for none.
int parse_node(std::string_view t) {
    if (t == "-1") return -1;
    const std::uint64_t v = parse_u64(t);
    if (v > 1023) throw std::invalid_argument("a node number below 1024 or -1, got '" + std::string(t) + "'");
    return static_cast<int>(v);
}

// Whether a traced mapping name (a base name) is shmem: "memfd:NAME_(deleted)", or no name
// (shared anonymous memory in a snapshot).
bool shmem_name(std::string_view name) { return name.starts_with("memfd:") || name == "-"; }

// A divergence between the recorded outcome and the replayed one.
struct Divergence {
    std::string expected, got;
};

struct Counters {
    std::map<std::string, std::uint64_t> events;
    std::map<std::string, std::uint64_t> fault_outcomes;
    std::uint64_t page_flushes = 0, full_flushes = 0;
    std::uint64_t peak_rss_pages = 0;
    std::size_t peak_vmas = 0;
};

// Drives the mmu library from trace lines.
class Replayer {
public:
    Replayer(bool check, std::uint64_t ram_bytes) : check_(check), ram_(ram_bytes) {
        tlb_.set_listener([this](const FlushEvent& e) { produced_.push_back(e); });
    }
    // Address spaces flush the TLB as they go: stop listening before they are destroyed.
    ~Replayer() {
        tlb_.set_listener(nullptr);
        spaces_.clear();
    }
    Replayer(const Replayer&) = delete;
    Replayer& operator=(const Replayer&) = delete;

    // Executes one tokenized line; throws std::invalid_argument (malformed) or Divergence.
    void execute(const TraceLine& line);
    void execute_userfaultfd(AddressSpace& as, const TraceLine& line);
    const Counters& counters() const { return counters_; }
    void finish() {
        if (check_ && strict_ && !produced_.empty()) unexpected_flush();
    }

private:
    AddressSpace& space(std::string_view id_token);
    int id(std::string_view token) const { return static_cast<int>(parse_u64(token)); }
    void need(const TraceLine& l, std::size_t n, const char* usage) const {
        if (l.tokens.size() != n) throw std::invalid_argument(usage);
    }
    void compare(const TraceLine& l, const std::string& got) const {
        if (l.result.size() == 1 && l.result[0].size() > 1 && l.result[0][0] == '-')
            (void)parse_result(l.result[0]);  // an unknown errno name is malformed input
        if (!check_ || l.result.empty()) return;
        std::string expected;
        for (auto t : l.result) expected += (expected.empty() ? "" : " ") + std::string(t);
        if (expected != got && expected != "?") throw Divergence{expected, got};
    }
    void check_flush(const TraceLine& l);
    void unexpected_flush() {
        const FlushEvent& e = produced_.front();
        throw Divergence{"no flush", e.kind == FlushKind::Full ? "flush full" : "flush page " + hex(e.vpage)};
    }
    void expect(const TraceLine& l);
    // Event counts without a string allocation per event (the replay hot path).
    void count(std::string_view ev) {
        if (ev == last_event_) {
            ++*last_counter_;
            return;
        }
        last_counter_ = &counters_.events[std::string(ev)];
        last_event_ = counters_.events.find(std::string(ev))->first;
        ++*last_counter_;
    }
    std::string_view last_event_;
    std::uint64_t* last_counter_ = nullptr;
    void track(const AddressSpace& as) {
        counters_.peak_rss_pages = std::max(counters_.peak_rss_pages, as.rss_pages());
        counters_.peak_vmas = std::max(counters_.peak_vmas, as.vma_count());
        if (as.vma_count() > kMaxVmas)
            throw std::invalid_argument("at most " + std::to_string(kMaxVmas) +
                                        " VMAs in one address space (the replay's bound on host memory)");
    }
    void set_limit(AddressSpace& as, const TraceLine& l);

    bool check_;
    bool strict_ = false;    // a recorded trace: every flush the MMU makes must be in the trace
    bool ignore_flushes_ = false;
    PhysicalMemory ram_;
    bool seen_header_ = false;
    // Limits that keep a hostile trace from exhausting the host (explicit, named in the error).
    static constexpr std::size_t kMaxAddressSpaces = 4096;
    static constexpr std::uint64_t kMaxSpecialBytes = 1 << 20;
    static constexpr std::uint64_t kMaxPokeBytes = 16 << 20;
    // A page cache is indexed by file page: 16 Mi pages (64 GiB into a file) keep its index under
    // 128 MiB of host memory.
    static constexpr std::uint64_t kMaxFilePgoff = std::uint64_t{1} << 24;
    // About 0.75 GB of host memory for the VMA set (180 bytes a VMA, see README Measured).
    static constexpr std::size_t kMaxVmas = 4'000'000;
    // vm.max_map_count of a new address space. A recorded trace states the guest's limit with a
    // `limit` line unless it was Linux's default, which the recorder leaves out; a hand-written
    // trace models no guest limit unless it states one: mmap and splits are never refused for
    // the count (the slack keeps ENOMEM from coming before track()'s bound).
    std::size_t map_count_limit_ = kMaxVmas + 16;
    Tlb tlb_;
    std::map<int, std::unique_ptr<AddressSpace>> spaces_;
    std::shared_ptr<SharedMemoryObject> vvar_;  // [vvar]: one set of frames for every process
    // The page caches of files the guest mapped with mmap(2), by name, while some mapping holds
    // them: the emulator keeps one per file for every mapping in every process, read on first use
    // (their first line has PAGES 0). The loader's segments have page caches of their own.
    std::map<std::string, std::weak_ptr<SharedMemoryObject>, std::less<>> mapped_files_;
    std::shared_ptr<SharedMemoryObject> page_cache_for(const TraceLine& l, std::uint64_t pgoff,
                                                       std::uint64_t object_pages);
    std::map<Asid, int> asid_ids_;
    std::deque<FlushEvent> produced_;
    Counters counters_;
};

AddressSpace& Replayer::space(std::string_view token) {
    auto it = spaces_.find(id(token));
    if (it == spaces_.end())
        throw std::invalid_argument("an existing address space, but " + std::string(token) +
                                    " was never created (add \"as " + std::string(token) + "\")");
    return *it->second;
}

void Replayer::check_flush(const TraceLine& l) {
    if (l.tokens.size() < 3) throw std::invalid_argument("flush AS page ADDR | flush AS full");
    const bool full = l.tokens[2] == "full";
    if (!full && (l.tokens[2] != "page" || l.tokens.size() != 4))
        throw std::invalid_argument("flush AS page ADDR | flush AS full");
    if (!check_ || ignore_flushes_) return;
    if (produced_.empty()) throw Divergence{full ? "flush full" : "flush page " + std::string(l.tokens[3]), "no flush"};
    const FlushEvent e = produced_.front();
    produced_.pop_front();
    const std::string got = e.kind == FlushKind::Full ? "full" : "page " + hex(e.vpage);
    const std::string want = full ? "full" : "page " + hex(parse_u64(l.tokens[3]));
    if (got != want) throw Divergence{"flush " + want, "flush " + got};
}

// `limit AS max_map_count N`: the guest's vm.max_map_count from here on (forks inherit it).
void Replayer::set_limit(AddressSpace& as, const TraceLine& l) {
    need(l, 4, "limit AS max_map_count N");
    if (l.tokens[2] != "max_map_count") throw std::invalid_argument("limit AS max_map_count N");
    const std::uint64_t n = parse_u64(l.tokens[3]);
    if (n > kMaxVmas)
        throw std::invalid_argument("a max_map_count of at most " + std::to_string(kMaxVmas) +
                                    " (the replay's bound on host memory)");
    as.set_max_map_count(static_cast<std::size_t>(n));
}

std::shared_ptr<SharedMemoryObject> Replayer::page_cache_for(const TraceLine& l, std::uint64_t pgoff,
                                                             std::uint64_t object_pages) {
    const std::string_view name = l.tokens[8];
    const bool file = !shmem_name(name);
    if (file) {
        if (auto it = mapped_files_.find(name); it != mapped_files_.end())
            if (auto live = it->second.lock()) return live;
    }
    std::vector<std::uint8_t> zeros((object_pages > pgoff ? object_pages - pgoff : 0) * kPageSize);
    auto cache = make_page_cache(ram_, zeros.data(), zeros.size(), pgoff);
    if (!cache) throw std::system_error(ENOMEM, std::generic_category(), "allocating a page cache");
    if (file) cache.value()->backing = std::make_unique<UntracedFile>();
    if (file && object_pages == 0) mapped_files_.insert_or_assign(std::string(name), cache.value());
    return cache.value();
}

void Replayer::expect(const TraceLine& l) {
    if (l.tokens.size() < 4) throw std::invalid_argument("expect AS guard|present|absent|vmas|byte|fault ...");
    AddressSpace& as = space(l.tokens[1]);
    const std::string_view what = l.tokens[2];
    if (what == "vmas") {
        const std::uint64_t want = parse_u64(l.tokens[3]);
        if (check_ && as.vma_count() != want)
            throw Divergence{"vmas " + std::to_string(want), "vmas " + std::to_string(as.vma_count())};
        return;
    }
    const std::uint64_t addr = parse_u64(l.tokens[3]);
    if (what == "guard" || what == "present" || what == "absent") {
        const PagemapEntry e = as.pagemap(addr);
        const std::string got = e.guard ? "guard" : e.present ? "present" : "absent";
        if (check_ && got != what) throw Divergence{std::string(what), got};
    } else if (what == "byte") {
        if (l.tokens.size() != 5) throw std::invalid_argument("expect AS byte ADDR VALUE");
        const std::uint64_t want = parse_u64(l.tokens[4]);
        std::uint8_t got = 0;
        const bool readable = static_cast<bool>(as.copy_from_user(&got, addr, 1));
        if (check_ && !readable) throw Divergence{"byte " + hex(want), "fault"};
        if (check_ && got != want) throw Divergence{"byte " + hex(want), "byte " + hex(got)};
    } else if (what == "fault") {
        if (l.tokens.size() != 6) throw std::invalid_argument("expect AS fault ADDR ACCESS OUTCOME");
        const Access access = parse_access(l.tokens[4]);
        const std::int64_t want = parse_fault_outcome(l.tokens[5]);
        const Translated t = as.access(addr, access);
        const std::int64_t got = t.ok ? 0 : fault_outcome(t.fault);
        if (check_ && got != want) throw Divergence{fault_outcome_text(want), fault_outcome_text(got)};
    } else {
        throw std::invalid_argument("expect AS guard|present|absent|vmas|byte|fault ...");
    }
}

void Replayer::execute(const TraceLine& l) {
    if (l.tokens.empty()) return;
    const std::string_view ev = l.tokens[0];
    count(ev);
    if (ev == "flush") {
        (ev == "flush" && l.tokens.size() > 2 && l.tokens[2] == "full") ? ++counters_.full_flushes
                                                                          : ++counters_.page_flushes;
        check_flush(l);
        return;
    }
    // Any other event: the MMU's flushes so far must all have been matched (recorded traces).
    if (check_ && strict_ && !produced_.empty()) unexpected_flush();
    produced_.clear();
    auto u = [&](std::size_t i) { return parse_u64(l.tokens.at(i)); };
    if (ev == "mmuemu-trace") {
        if (l.tokens.size() < 2 || l.tokens[1] != "1") throw std::invalid_argument("mmuemu-trace 1 (format version 1)");
        seen_header_ = true;
        strict_ = l.tokens.size() > 2 && l.tokens[2] == "recorded";
        // A trace started mid-run rebuilds the address space from a snapshot that cannot say
        // which frames were shared copy-on-write: the flushes those would cause are not checked.
        ignore_flushes_ = l.tokens.size() > 3 && l.tokens[3] == "mid-run";
        if (ignore_flushes_) strict_ = false;
        if (l.tokens.size() > 2 && l.tokens[2] == "recorded") map_count_limit_ = Layout{}.max_map_count;
        return;
    }
    if (!seen_header_) throw std::invalid_argument("the header 'mmuemu-trace 1' on the first line");
    if ((ev == "as" || ev == "fork") && spaces_.size() >= kMaxAddressSpaces)
        throw std::invalid_argument("at most " + std::to_string(kMaxAddressSpaces) + " address spaces at once");
    if (ev == "as") {
        need(l, 2, "as ID");
        const int n = id(l.tokens[1]);
        if (spaces_.count(n)) throw std::invalid_argument("a new address space id, " + std::to_string(n) + " exists");
        Layout layout;
        layout.max_map_count = map_count_limit_;
        spaces_[n] = std::make_unique<AddressSpace>(ram_, tlb_, layout);
        asid_ids_[spaces_[n]->asid()] = n;
        return;
    }
    // No CPU and no scheduler here: system calls, signals and task tags are informational.
    if (ev == "syscall" || ev == "signal" || ev == "sigreturn" || ev == "task") return;
    if (ev == "expect") return expect(l);
    AddressSpace& as = space(l.tokens.size() > 1 ? l.tokens[1] : "?");
    if (ev == "mmap") {
        need(l, 6, "mmap AS ADDR LEN PROT FLAGS [-> RESULT]");
        auto r = as.mmap(u(2), u(3), parse_prot(l.tokens[4]), parse_mmap_flags(l.tokens[5]));
        compare(l, result_text(r ? static_cast<std::int64_t>(r.value()) : -r.error(), true));
    } else if (ev == "mmap-file") {
        need(l, 9, "mmap-file AS ADDR LEN PROT FLAGS PGOFF PAGES NAME [-> RESULT]");
        // The page cache as the emulator built it: same pages, zero-filled (contents are not traced).
        // PAGES counts the pages the emulator's page cache held: a file mapped by the guest's own
        // mmap is read on first use, so PGOFF may lie beyond them (pages there read as zero).
        const std::uint64_t pgoff = u(6), object_pages = u(7);
        if (object_pages > ram_.frame_count() || pgoff > kMaxFilePgoff)
            throw std::invalid_argument("PAGES at most the replay's RAM (" + std::to_string(ram_.frame_count()) +
                                        " pages) and PGOFF at most " + std::to_string(kMaxFilePgoff));
        auto r = as.mmap_file(u(2), u(3), parse_prot(l.tokens[4]), parse_mmap_flags(l.tokens[5]),
                              page_cache_for(l, pgoff, object_pages), pgoff, std::string(l.tokens[8]));
        compare(l, result_text(r ? static_cast<std::int64_t>(r.value()) : -r.error(), true));
    } else if (ev == "special") {
        need(l, 6, "special AS ADDR PROT SIZE NAME [-> RESULT]");
        if (u(4) > kMaxSpecialBytes) throw std::invalid_argument("a special mapping of at most 1 MiB");
        std::vector<std::uint8_t> zeros(u(4));
        const std::string name(l.tokens[5]);
        Status mapped = Ok{};
        if (name == "[vvar]") {
            // Every process maps the machine's one set of [vvar] frames (the emulator's clock data).
            if (!vvar_ || vvar_->frames.size() != pages(zeros.size())) {
                auto cache = make_page_cache(ram_, zeros.data(), zeros.size(), 0);
                if (!cache) throw std::system_error(ENOMEM, std::generic_category(), "allocating [vvar]");
                vvar_ = cache.value();
            }
            mapped = as.map_special(u(2), parse_prot(l.tokens[3]), vvar_, zeros.size(), name);
        } else {
            mapped = as.map_special(u(2), parse_prot(l.tokens[3]), zeros.data(), zeros.size(), name);
        }
        compare(l, result_text(mapped ? 0 : -EINVAL, false));
    } else if (ev == "munmap") {
        need(l, 4, "munmap AS ADDR LEN [-> RESULT]");
        const Status s = as.munmap(u(2), u(3));
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "mprotect") {
        need(l, 5, "mprotect AS ADDR LEN PROT [-> RESULT]");
        const Status s = as.mprotect(u(2), u(3), parse_prot(l.tokens[4]));
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "mremap") {
        need(l, 7, "mremap AS OLD OLDLEN NEWLEN FLAGS NEWADDR [-> RESULT]");
        auto r = as.mremap(u(2), u(3), u(4), parse_mremap_flags(l.tokens[5]), u(6));
        compare(l, result_text(r ? static_cast<std::int64_t>(r.value()) : -r.error(), true));
    } else if (ev == "madvise") {
        need(l, 5, "madvise AS ADDR LEN ADVICE [-> RESULT]");
        const Status s = as.madvise(u(2), u(3), parse_advice(l.tokens[4]));
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "mlock" || ev == "mseal") {
        need(l, 5, "mlock|mseal AS ADDR LEN FLAGS [-> RESULT]");
        const Status s = ev == "mlock" ? as.mlock(u(2), u(3), static_cast<std::uint32_t>(u(4))) : as.mseal(u(2), u(3), u(4));
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "munlock") {
        need(l, 4, "munlock AS ADDR LEN [-> RESULT]");
        const Status s = as.munlock(u(2), u(3));
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "mlockall") {
        need(l, 3, "mlockall AS FLAGS [-> RESULT]");
        const Status s = as.mlockall(static_cast<std::uint32_t>(u(2)));
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "munlockall") {
        need(l, 2, "munlockall AS [-> RESULT]");
        const Status s = as.munlockall();
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "limit") {
        set_limit(as, l);
    } else if (ev == "brk-base") {
        need(l, 3, "brk-base AS ADDR");
        as.set_brk_base(u(2));
    } else if (ev == "brk") {
        need(l, 3, "brk AS ADDR [-> RESULT]");
        compare(l, result_text(static_cast<std::int64_t>(as.brk(u(2))), true));
    } else if (ev == "poke") {
        need(l, 4, "poke AS ADDR LEN [-> RESULT]");
        if (u(3) > kMaxPokeBytes) throw std::invalid_argument("a poke of at most 16 MiB");
        std::vector<std::uint8_t> zeros(u(3));
        const Status s = as.poke(u(2), zeros.data(), zeros.size());
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "fork") {
        need(l, 2, "fork AS -> CHILD");
        auto child = as.fork();
        if (!child) {
            compare(l, result_text(-child.error(), false));
        } else {
            const int child_id = l.result.empty() ? static_cast<int>(spaces_.rbegin()->first + 1) : id(l.result[0]);
            if (spaces_.count(child_id)) throw std::invalid_argument("a new address space id for the child");
            asid_ids_[child.value()->asid()] = child_id;
            spaces_[child_id] = std::move(child.value());
        }
    } else if (ev == "fault") {
        need(l, 4, "fault AS ADDR ACCESS [-> OUTCOME]");
        const Fault f = as.handle_fault(u(2), parse_access(l.tokens[3]));
        const std::int64_t got = fault_outcome(f);
        ++counters_.fault_outcomes[fault_outcome_text(got)];
        compare(l, fault_outcome_text(got));
    } else if (ev.starts_with("uffd-")) {
        execute_userfaultfd(as, l);
    } else if (ev == "mbind") {
        need(l, 7, "mbind AS START END MODE NODES HOME [-> RESULT]");
        MemPolicy policy;
        policy.mode = static_cast<std::uint16_t>(u(4));
        policy.flags = static_cast<std::uint16_t>(u(4) >> 16);
        policy.nodes = u(5);
        policy.home_node = parse_node(l.tokens[6]);
        const Status s = as.set_policy(u(2), u(3), policy);
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "home-node") {
        need(l, 5, "home-node AS START END NODE [-> RESULT]");
        const Status s = as.set_home_node(u(2), u(3), parse_node(l.tokens[4]));
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "fill" || ev == "access") {
        const bool fill = ev == "fill";
        need(l, fill ? 4 : 5, fill ? "fill AS VPAGE ACCESS [-> PADDR PERMS | refused]"
                                   : "access AS ADDR SIZE ACCESS [-> PADDR | unmapped]");
        const Translated t = as.translate(u(2), parse_access(l.tokens[fill ? 3 : 4]));
        if (l.result.empty() || !check_) {
            track(as);
            return;
        }
        if (fill) {
            compare(l, t.ok ? hex(page_down(t.translation.paddr)) + " r" + (t.translation.writable ? "w" : "-") +
                                  (t.translation.executable ? "x" : "-")
                            : std::string("refused"));
        } else {
            compare(l, t.ok ? hex(t.translation.paddr) : std::string("unmapped"));
        }
    } else if (ev == "exit") {
        need(l, 3, "exit AS STATUS");
        track(as);
        spaces_.erase(id(l.tokens[1]));
        produced_.clear();  // tearing an address space down flushes it: not traced
        return;
    } else {
        throw std::invalid_argument("a known event (mmap, munmap, mprotect, mremap, madvise, mlock, munlock, "
                                    "mlockall, munlockall, mseal, brk, poke, fork, fault, uffd-*, mbind, home-node, fill, flush, access, "
                                    "syscall, signal, sigreturn, task, exit, expect, as, limit), got '" + std::string(ev) + "'");
    }
    track(as);
}

// The userfaultfd operations (the source bytes of a copy are the replay's own: contents are not
// traced).
void Replayer::execute_userfaultfd(AddressSpace& as, const TraceLine& l) {
    const std::string_view ev = l.tokens[0];
    auto u = [&](std::size_t i) { return parse_u64(l.tokens.at(i)); };
    auto fill_text = [](const UffdFill& f) { return hex(f.done) + " " + result_text(-f.error, false); };
    if (ev == "uffd-register") {
        need(l, 6, "uffd-register AS START LEN MODES CTX [-> RESULT]");
        const Status s = as.uffd_register(u(2), u(3), static_cast<std::uint32_t>(u(4)), u(5));
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "uffd-unregister") {
        need(l, 4, "uffd-unregister AS START LEN [-> RESULT]");
        const Status s = as.uffd_unregister(u(2), u(3));
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "uffd-copy") {
        need(l, 7, "uffd-copy AS DST SRC LEN WP CTX [-> DONE RESULT]");
        compare(l, fill_text(as.uffd_copy(u(2), u(3), u(4), u(5) != 0, u(6))));
    } else if (ev == "uffd-zeropage" || ev == "uffd-poison") {
        need(l, 5, "uffd-zeropage|uffd-poison AS DST LEN CTX [-> DONE RESULT]");
        compare(l, fill_text(ev == "uffd-zeropage" ? as.uffd_zeropage(u(2), u(3), u(4)) : as.uffd_poison(u(2), u(3), u(4))));
    } else if (ev == "uffd-continue") {
        need(l, 6, "uffd-continue AS DST LEN WP CTX [-> DONE RESULT]");
        compare(l, fill_text(as.uffd_continue(u(2), u(3), u(4) != 0, u(5))));
    } else if (ev == "uffd-writeprotect") {
        need(l, 5, "uffd-writeprotect AS START LEN PROTECT [-> RESULT]");
        const Status s = as.uffd_writeprotect(u(2), u(3), u(4) != 0);
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "uffd-wp-range") {
        need(l, 4, "uffd-wp-range AS START LEN [-> RESULT]");
        const Status s = as.uffd_wp_range(u(2), u(3));
        compare(l, result_text(s ? 0 : -s.error(), false));
    } else if (ev == "uffd-release") {
        need(l, 3, "uffd-release AS CTX");
        as.uffd_release(u(2));
    } else {
        throw std::invalid_argument("a known userfaultfd event (uffd-register, uffd-unregister, uffd-copy, "
                                    "uffd-zeropage, uffd-continue, uffd-poison, uffd-writeprotect, uffd-wp-range, uffd-release)");
    }
}

// Runs a whole trace; prints the first divergence or error. Returns the exit status.
int run_replay(const std::string& path, bool check, std::uint64_t ram_bytes, Counters* out) {
    try {
        TraceReader reader(path);
        Replayer replayer(check, ram_bytes);
        std::string text;
        TraceLine line;
        std::string last;
        while (reader.next(text)) {
            tokenize(text, line);
            try {
                replayer.execute(line);
            } catch (const Divergence& d) {
                std::fprintf(stderr, "%s:%" PRIu64 ": %s\n  expected: %s\n  got:      %s\n", path.c_str(),
                             reader.line_number(), text.c_str(), d.expected.c_str(), d.got.c_str());
                return 1;
            } catch (const std::invalid_argument& e) {
                std::fprintf(stderr, "%s:%" PRIu64 ": expected %s\n", path.c_str(), reader.line_number(), e.what());
                return 2;
            } catch (const std::out_of_range&) {
                std::fprintf(stderr, "%s:%" PRIu64 ": missing field\n", path.c_str(), reader.line_number());
                return 2;
            } catch (const std::system_error& e) {  // the MMU could not get a frame for a table
                std::fprintf(stderr, "%s:%" PRIu64 ": the replay's guest RAM is exhausted (%s)\n", path.c_str(),
                             reader.line_number(), e.what());
                return 2;
            } catch (const std::bad_alloc&) {
                std::fprintf(stderr, "%s:%" PRIu64 ": out of host memory\n", path.c_str(), reader.line_number());
                return 2;
            }
        }
        if (reader.line_number() == 0) {
            std::fprintf(stderr, "mmuemu: %s: empty trace (no 'mmuemu-trace 1' header)\n", path.c_str());
            return 2;
        }
        try {
            replayer.finish();
        } catch (const Divergence& d) {
            std::fprintf(stderr, "%s: end of trace\n  expected: %s\n  got:      %s\n", path.c_str(),
                         d.expected.c_str(), d.got.c_str());
            return 1;
        }
        if (out) *out = replayer.counters();
        return 0;
    } catch (const TraceError& e) {
        std::fprintf(stderr, "mmuemu: %s\n", e.what());
        return 2;
    }
}

// A line in canonical form for diffing: tokens joined by one space, comments dropped.
std::string canonical(const std::string& text) {
    TraceLine l;
    tokenize(text, l);
    std::string out;
    for (auto t : l.tokens) out += (out.empty() ? "" : " ") + std::string(t);
    if (!l.result.empty()) {
        out += " ->";
        for (auto t : l.result) out += " " + std::string(t);
    }
    return out;
}

bool next_event(TraceReader& r, std::string& canon, std::string& raw) {
    while (r.next(raw)) {
        canon = canonical(raw);
        if (!canon.empty()) return true;
    }
    return false;
}

}  // namespace

int replay_trace(const std::string& path, std::uint64_t ram_bytes) {
    Counters c;
    const int status = run_replay(path, true, ram_bytes, &c);
    if (status == 0) {
        std::uint64_t events = 0;
        for (const auto& [name, n] : c.events) events += n;
        std::printf("%s: %" PRIu64 " events replayed, all outcomes match\n", path.c_str(), events);
    }
    return status;
}

int diff_traces(const std::string& a, const std::string& b) {
    try {
        TraceReader ra(a), rb(b);
        std::string ca, cb, raw_a, raw_b;
        while (true) {
            const bool more_a = next_event(ra, ca, raw_a), more_b = next_event(rb, cb, raw_b);
            if (!more_a && !more_b) {
                std::printf("traces are identical (%" PRIu64 " and %" PRIu64 " lines)\n", ra.line_number(),
                            rb.line_number());
                return 0;
            }
            if (more_a != more_b || ca != cb) {
                std::printf("first difference:\n  %s:%" PRIu64 ": %s\n  %s:%" PRIu64 ": %s\n", a.c_str(),
                            ra.line_number(), more_a ? ca.c_str() : "(end of trace)", b.c_str(), rb.line_number(),
                            more_b ? cb.c_str() : "(end of trace)");
                return 1;
            }
        }
    } catch (const TraceError& e) {
        std::fprintf(stderr, "mmuemu: %s\n", e.what());
        return 2;
    }
}

int trace_stats(const std::string& path, std::uint64_t ram_bytes) {
    Counters c;
    const int status = run_replay(path, false, ram_bytes, &c);
    if (status != 0) return status;
    std::uint64_t events = 0;
    for (const auto& [name, n] : c.events) events += n;
    std::printf("%s: %" PRIu64 " events\n", path.c_str(), events);
    for (const auto& [name, n] : c.events) std::printf("  %-12s %" PRIu64 "\n", name.c_str(), n);
    std::printf("faults by outcome:\n");
    for (const auto& [name, n] : c.fault_outcomes) std::printf("  %-22s %" PRIu64 "\n", name.c_str(), n);
    std::printf("TLB flushes: %" PRIu64 " page, %" PRIu64 " full\n", c.page_flushes, c.full_flushes);
    std::printf("peak RSS %" PRIu64 " KiB, peak VMA count %zu\n", c.peak_rss_pages * 4, c.peak_vmas);
    return 0;
}

}  // namespace emu
