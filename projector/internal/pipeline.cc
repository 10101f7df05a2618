#include "projector/internal/pipeline.h"

#include "journal/events.h"
#include "projector/huge_page_allocator.h"
#include "projector/replay.h"

#include <array>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

namespace fj {
namespace {

// Batches large enough that handing one over (a lock, and a wake-up when the
// other side sleeps, which in a virtual machine costs the waker tens of
// microseconds) is noise beside decoding it: a reading thread that woke the
// applying one every 2,048 events instead of every 8,192 made a
// reading-bound first pass 15-20 % slower (docs/decisions.md). About 2.2 MB
// of decoded events in all.
constexpr std::size_t kBatch = 2048;
constexpr std::size_t kSlots = 8;
// A side that found nothing to do sleeps until this many slots are ready for
// it (or the other side is done), so that the two threads do not wake each
// other for every batch.
constexpr std::size_t kRefill = kSlots / 2;

struct Batch {
  std::array<std::uint64_t, kBatch> seqs;
  std::array<EventView, kBatch> events;
  std::size_t count = 0;
};

// While event i is applied, the loads of later events start: the bytes of
// event i + kIdsAhead's ids (decoded views into the map, which the reading
// thread touched a batch ago), then the fork table's slot and tag for event
// i + kSlotAhead, whose hash needs those bytes. A journal whose live forks
// outgrow the caches otherwise waits one memory latency per event
// (docs/decisions.md, "The fork table's own slots": ids 16 ahead beat 8
// and 32; 24 and 12 measured the same as 16 and 8).
constexpr std::size_t kIdsAhead = 16;
constexpr std::size_t kSlotAhead = 8;

void prefetch_ahead(const Projection& state, const Batch& batch, std::size_t i) noexcept {
  if (i + kIdsAhead < batch.count) {
    const EventView& e = batch.events[i + kIdsAhead];
    __builtin_prefetch(e.template_id.data());
    __builtin_prefetch(e.fork.data());
  }
  if (i + kSlotAhead < batch.count) state.prefetch(batch.events[i + kSlotAhead]);
}

// A bounded queue of kSlots batches between one producer and one consumer.
class Handover {
 public:
  // The producer's next empty batch; nullptr once the consumer has stopped.
  Batch* empty() {
    std::unique_lock lock(mutex_);
    if (filled_ - taken_ == kSlots) {
      producer_waits_ = true;
      changed_.wait(lock, [&] { return stopped_ || filled_ - taken_ <= kSlots - kRefill; });
      producer_waits_ = false;
    }
    if (stopped_) return nullptr;
    Batch& b = slots_[filled_ % kSlots];
    b.count = 0;
    return &b;
  }
  void fill() {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      ++filled_;
      wake = consumer_waits_ && filled_ - taken_ >= kRefill;
    }
    if (wake) changed_.notify_all();
  }
  // The producer's last word: no more batches, and why it ended.
  void finish(Result<void> outcome) {
    {
      std::lock_guard lock(mutex_);
      outcome_ = std::move(outcome);
    }
    changed_.notify_all();
  }

  // The consumer's next filled batch; nullptr once the producer has finished
  // and every batch was taken.
  Batch* full() {
    std::unique_lock lock(mutex_);
    if (filled_ == taken_ && !outcome_) {
      consumer_waits_ = true;
      changed_.wait(lock, [&] { return outcome_ || filled_ - taken_ >= kRefill; });
      consumer_waits_ = false;
    }
    return filled_ != taken_ ? &slots_[taken_ % kSlots] : nullptr;
  }
  void take() {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      ++taken_;
      wake = producer_waits_ && filled_ - taken_ <= kSlots - kRefill;
    }
    if (wake) changed_.notify_all();
  }
  // The consumer gives up (apply threw): the producer stops at its next batch.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    changed_.notify_all();
  }
  // The producer's last word when it threw (std::bad_alloc): the consumer
  // rethrows it, as the one-thread replay would have thrown it.
  void finish(std::exception_ptr thrown) {
    thrown_ = std::move(thrown);
    finish(Result<void>{});
  }
  // After the producer finished.
  Result<void> outcome() {
    std::lock_guard lock(mutex_);
    if (thrown_) std::rethrow_exception(thrown_);
    return *outcome_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::array<Batch, kSlots> slots_;
  std::size_t filled_ = 0;
  std::size_t taken_ = 0;
  bool stopped_ = false;
  bool producer_waits_ = false;
  bool consumer_waits_ = false;
  std::optional<Result<void>> outcome_;
  std::exception_ptr thrown_;  // set before outcome_, read after it
};

void produce(Reader& reader, std::uint64_t from, std::uint64_t to, Handover& handover) {
  Batch* batch = handover.empty();
  if (batch == nullptr) return handover.finish(Result<void>{});
  auto walked =
      for_each_event(reader, from, to, [&](std::uint64_t seq, const EventView& e) -> Result<void> {
        batch->seqs[batch->count] = seq;
        batch->events[batch->count] = e;
        if (++batch->count == kBatch) {
          handover.fill();
          batch = handover.empty();
          if (batch == nullptr) return make_error(Errc::invalid_argument, "replay abandoned");
        }
        return {};
      });
  if (batch != nullptr && batch->count != 0) handover.fill();
  handover.finish(std::move(walked));
}

// Stops and joins the producer however the consumer leaves.
struct Joiner {
  Handover& handover;
  std::thread& thread;
  ~Joiner() {
    handover.stop();
    thread.join();
  }
};

}  // namespace

Result<void> apply_range_pipelined(Reader& reader, Projection& state, std::uint64_t to) {
  const std::uint64_t from = state.seq() + 1;
  if (to < from || to - from < kPipelineMinEvents) return apply_range(reader, state, to);
  // On the heap, its batches (about 2.2 MB) would crowd a thread's stack;
  // on huge pages, since setting them up in 4 KiB pages took a millisecond
  // of page faults before either thread could start.
  const auto shared = std::allocate_shared<Handover>(HugePageAllocator<Handover>());
  Handover& handover = *shared;
  std::thread producer;
  try {
    producer = std::thread([&] {
      try {
        produce(reader, from, to, handover);
      } catch (...) {
        handover.finish(std::current_exception());
      }
    });
  } catch (const std::system_error&) {
    return apply_range(reader, state, to);
  }
  Joiner joiner{handover, producer};
  while (Batch* batch = handover.full()) {
    for (std::size_t i = 0; i < batch->count; ++i) {
      prefetch_ahead(state, *batch, i);
      state.apply(batch->seqs[i], batch->events[i]);
    }
    handover.take();
  }
  return handover.outcome();
}

}  // namespace fj
