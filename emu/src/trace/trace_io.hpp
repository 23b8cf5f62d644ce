// Trace files: line-oriented text (see emu/TRACE_FORMAT.md), plain or zstd-compressed
// (".zst"); readers accept both, detected by content. Both directions stream in constant memory.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace emu {

// A malformed or unreadable trace: "FILE:LINE: what was expected".
class TraceError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class TraceWriter {
public:
    explicit TraceWriter(const std::string& path);  // ".zst" suffix: compressed
    ~TraceWriter();
    TraceWriter(const TraceWriter&) = delete;
    TraceWriter& operator=(const TraceWriter&) = delete;

    void line(std::string_view text);  // appends '\n'
    // A line written in place: at most `max_size` characters from the pointer returned, then
    // end_line with the pointer past the last one (it appends '\n').
    char* begin_line(std::size_t max_size) {
        if (used_ + max_size + 1 > buffer_.size()) buffer_.resize(used_ + max_size + 1);
        return buffer_.data() + used_;
    }
    void end_line(char* end) {
        *end++ = '\n';
        used_ = static_cast<std::size_t>(end - buffer_.data());
        if (used_ - chunk_ends_.back() >= kChunk) end_chunk();
    }
    void close();

private:
    // Lines are cut into chunks of kChunk bytes or more, each given to zstd in one piece (so the
    // compressed bytes depend on the lines only); kChunksPerBatch chunks at a time go to the
    // writing thread (a wake-up per 64 KiB cost more than the writing), at most kBatchesInFlight
    // batches behind the recording.
    static constexpr std::size_t kChunk = 1 << 16;
    static constexpr std::size_t kChunksPerBatch = 16;
    static constexpr std::size_t kBatchesInFlight = 4;
    static constexpr std::size_t kBufferBytes = kChunk * (kChunksPerBatch + 1) + 4096;
    struct Batch {
        std::vector<char> bytes;
        std::vector<std::size_t> chunk_ends;  // chunk i is [chunk_ends[i], chunk_ends[i + 1])
        std::size_t used = 0;
        bool last = false;  // the final batch: the bytes after the last chunk end the stream
    };
    void end_chunk();
    // The buffer's lines go to the writing thread; the recording goes on in a spare buffer.
    void hand_over(bool last);
    void writing_loop();
    void write_out(const Batch& batch);
    void compress(const char* bytes, std::size_t size, bool end);

    std::vector<char> buffer_;
    std::size_t used_ = 0;
    std::vector<std::size_t> chunk_ends_{0};
    // The file, zstd's context and out_ belong to the writing thread, which writes the chunks in
    // the order they were handed over: the file holds the same bytes as if written in place.
    std::FILE* file_ = nullptr;
    bool compressed_ = false;
    void* zstd_ = nullptr;  // ZSTD_CCtx
    std::vector<char> out_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Batch> queue_;
    std::vector<std::vector<char>> spare_;
    std::thread writer_;
};

class TraceReader {
public:
    explicit TraceReader(const std::string& path);  // throws TraceError
    ~TraceReader();
    TraceReader(const TraceReader&) = delete;
    TraceReader& operator=(const TraceReader&) = delete;

    // The next line (without '\n'); false at the end. Throws TraceError on corrupt input.
    bool next(std::string& line);
    std::uint64_t line_number() const { return line_number_; }
    const std::string& path() const { return path_; }

private:
    bool fill();
    std::string path_;
    std::FILE* file_ = nullptr;
    bool compressed_ = false;
    void* zstd_ = nullptr;  // ZSTD_DCtx
    std::vector<char> in_;
    std::size_t in_pos_ = 0, in_size_ = 0;
    std::string pending_;
    std::size_t pending_pos_ = 0;
    bool eof_ = false;
    bool frame_open_ = false;
    std::uint64_t line_number_ = 0;
};

}  // namespace emu
