#include "journal/internal/chain_hasher.h"

#include "journal/codec.h"
#include "journal/internal/chain_lanes.h"

#include <system_error>

namespace fj::detail {

ChainHasher::~ChainHasher() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

std::uint64_t ChainHasher::submit(std::span<ChainStep> batch, const std::optional<ChainHash>& start,
                                  bool more_follow) {
  if (!worker_.joinable() && !inline_ && more_follow) {
    try {
      worker_ = std::thread([this] { run(); });
    } catch (const std::system_error&) {
      inline_ = true;
    }
  }
  if (!worker_.joinable()) {
    hash(chain_, batch);
    if (report_) report_(batch);
    next_ = first_ticket_ = ++submitted_ + 1;
    return submitted_;
  }
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mutex_);
    if (failed_) std::rethrow_exception(failed_);
    jobs_.push_back(Job{batch, start});
    ticket = ++submitted_;
  }
  changed_.notify_all();
  return ticket;
}

void ChainHasher::wait(std::uint64_t ticket) {
  std::unique_lock lock(mutex_);
  while (next_ <= ticket) {
    if (failed_) std::rethrow_exception(failed_);
    // The newest two batches the worker has not reached whose starts are
    // known.
    Job* mine[2] = {nullptr, nullptr};
    for (std::uint64_t t = submitted_; t > next_ && mine[1] == nullptr; --t) {
      Job& j = job(t);
      if (j.state == State::queued && j.start) (mine[0] ? mine[1] : mine[0]) = &j;
    }
    if (mine[0] == nullptr) {
      changed_.wait(lock);
      continue;
    }
    for (Job* j : mine) {
      if (j != nullptr) claim(*j);
    }
    lock.unlock();
    if (mine[1] == nullptr) {
      hash(mine[0]->end, mine[0]->batch);
    } else {
      hash_pair(mine[0]->end, mine[0]->batch, mine[1]->end, mine[1]->batch);
    }
    lock.lock();
    for (Job* j : mine) {
      if (j == nullptr) continue;
      j->state = State::hashed;
      ++hashed_by_walker_;
    }
    if (mine[1] != nullptr) hashed_beside_ += 2;
    changed_.notify_all();  // the worker may be waiting for them
  }
  // The worker has passed them: nothing refers to their jobs any more.
  for (; first_ticket_ <= ticket; ++first_ticket_) jobs_.pop_front();
}

void ChainHasher::rethrow_if_failed() {
  std::lock_guard lock(mutex_);
  if (failed_) std::rethrow_exception(failed_);
}

void ChainHasher::finish(ChainHash& chain, ChainStep& s) const {
  s.check = CheckpointCheck::none;
  if (s.seq % kChainCheckpointEvery == 0) {
    if (!s.stored) {
      s.check = CheckpointCheck::missing;
    } else if (*s.stored != chain) {
      s.check = CheckpointCheck::mismatch;
      chain = *s.stored;
    } else {
      s.check = CheckpointCheck::good;
    }
  }
  s.chain = chain;
  if (decode_) s.decoded = decode_into(s.seq, s.record, s.event);
}

void ChainHasher::hash(ChainHash& chain, std::span<ChainStep> batch) const {
  for (ChainStep& s : batch) {
    if (!s.chained) continue;
    chain = chain_next(chain, s.seq, s.record);
    finish(chain, s);
  }
}

void ChainHasher::hash_pair(ChainHash& chain_a, std::span<ChainStep> a, ChainHash& chain_b,
                            std::span<ChainStep> b) const {
  const auto chained = [](std::span<ChainStep> batch, std::size_t i) {
    while (i < batch.size() && !batch[i].chained) ++i;
    return i;
  };
  std::size_t i = chained(a, 0);
  std::size_t j = chained(b, 0);
  for (; i < a.size() && j < b.size(); i = chained(a, i + 1), j = chained(b, j + 1)) {
    chain_next_pair({chain_a, a[i].seq, a[i].record}, {chain_b, b[j].seq, b[j].record});
    finish(chain_a, a[i]);
    finish(chain_b, b[j]);
  }
  hash(chain_a, a.subspan(i));
  hash(chain_b, b.subspan(j));
}

void ChainHasher::run() {
  for (;;) {
    Job* current = nullptr;
    Job* second = nullptr;  // the next batch, when its start is known: hashed beside
    bool hashed = false;    // by the walker, or beside the batch before
    {
      std::unique_lock lock(mutex_);
      // A batch the walker is hashing out of turn is waited for.
      changed_.wait(lock, [&] {
        return stop_ || (next_ <= submitted_ && job(next_).state != State::hashing);
      });
      if (stop_) return;
      current = &job(next_);
      hashed = current->state == State::hashed;
      if (!hashed) {
        current->state = State::hashing;
        if (next_ < submitted_) {
          Job& j = job(next_ + 1);
          if (j.state == State::queued && j.start) {
            second = &j;
            claim(j);
          }
        }
      }
    }
    try {
      if (hashed) {
        chain_ = current->end;
      } else if (second == nullptr) {
        hash(chain_, current->batch);
      } else {
        hash_pair(chain_, current->batch, second->end, second->batch);
      }
      if (report_) report_(current->batch);
    } catch (...) {  // std::bad_alloc from a decode error's message, or the report's
      std::lock_guard lock(mutex_);
      failed_ = std::current_exception();
      changed_.notify_all();
      return;
    }
    {
      std::lock_guard lock(mutex_);
      current->state = State::hashed;
      if (second != nullptr) {
        second->state = State::hashed;
        hashed_beside_ += 2;
      }
      ++next_;
    }
    changed_.notify_all();
  }
}

}  // namespace fj::detail
