// forkjournal-microbench: Google Benchmark micro-benchmarks of the pieces a
// replay and a write are made of: encode, decode+checksum, the chain step,
// evolve, decide, and the id hash candidates (bench/id_hashes.h) alone and in
// a fork table.
//
// The evolve benchmarks run a steady state that never ends: K templates and
// L live forks out of a pool of 2L fork ids; step i adds fork i and removes
// fork i - L (mod 2L), so every event is valid and the live set stays at L.
#include "bench/id_hashes.h"
#include "bench/workload.h"
#include "journal/chain.h"
#include "journal/codec.h"
#include "journal/internal/chain_lanes.h"
#include "journal/internal/crc32c.h"
#include "projector/decide.h"
#include "projector/projection.h"

#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

namespace {

using namespace fj;

constexpr std::uint64_t kTimeNs = 1'764'000'000'000'000'000ull;
constexpr std::size_t kTemplates = 100;

// The steady-state fixture described at the top of the file.
class SteadyState {
 public:
  explicit SteadyState(std::size_t live) : live_(live) {
    std::mt19937_64 rng(7);
    for (std::size_t t = 0; t < kTemplates; ++t) {
      templates_.push_back(bench::make_id("tpl", rng));
      sources_.push_back(bench::make_id("src", rng));
    }
    for (std::size_t f = 0; f < 2 * live; ++f) forks_.push_back(bench::make_id("frk", rng));
    for (std::size_t t = 0; t < kTemplates; ++t) {
      EventView e = base(EventType::template_registered, t);
      e.source = sources_[t];
      e.name = "standby";
      state_.apply(++seq_, e);
    }
    for (std::size_t f = 0; f < live; ++f)
      state_.apply(++seq_, fork_event(EventType::fork_added, f));
    for (std::size_t i = live; i < 3 * live; ++i) {
      cycle_.push_back(fork_event(EventType::fork_added, i % (2 * live)));
      cycle_.push_back(fork_event(EventType::fork_removed, (i - live) % (2 * live)));
    }
  }

  Projection& state() { return state_; }
  std::uint64_t next_seq() { return ++seq_; }
  const std::vector<EventView>& cycle() const { return cycle_; }
  EventView fork_event(EventType type, std::size_t f) const {
    EventView e = base(type, f % kTemplates);
    e.fork = forks_[f];
    return e;
  }
  const std::string& template_of(std::size_t f) const { return templates_[f % kTemplates]; }
  const std::string& fork(std::size_t f) const { return forks_[f]; }
  std::size_t live() const { return live_; }

 private:
  EventView base(EventType type, std::size_t t) const {
    EventView e;
    e.type = type;
    e.origin = Origin::api;
    e.time_ns = kTimeNs;
    e.template_id = templates_[t];
    return e;
  }

  std::size_t live_;
  std::vector<std::string> templates_, sources_, forks_;
  std::vector<EventView> cycle_;  // 2 events per step, 2L steps: one full turn of the pool
  Projection state_;
  std::uint64_t seq_ = 0;
};

EventView sample_fork_added() {
  static const SteadyState s(1);
  return s.fork_event(EventType::fork_added, 0);
}

void BM_Encode(benchmark::State& st) {
  const EventView e = sample_fork_added();
  std::string out;
  for (auto _ : st) {
    out.clear();
    encode(e, out);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetLabel(std::to_string(out.size()) + "-byte fork_added");
}
BENCHMARK(BM_Encode);

void BM_Crc32c(benchmark::State& st) {
  const std::string record = encode(sample_fork_added());
  for (auto _ : st) benchmark::DoNotOptimize(crc32c(record.data(), record.size() - 4));
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * (record.size() - 4)));
}
BENCHMARK(BM_Crc32c);

void BM_DecodeChecksum(benchmark::State& st) {
  const std::string record = encode(sample_fork_added());
  std::uint64_t seq = 0;
  for (auto _ : st) {
    auto e = decode(++seq, record);
    benchmark::DoNotOptimize(e);
  }
  st.SetLabel(std::to_string(record.size()) + "-byte fork_added");
}
BENCHMARK(BM_DecodeChecksum);

// One step of the SHA-256 hash chain over a fork_added record, as each
// append (and the audit) takes it: a chain value depends on the one before.
void BM_ChainNext(benchmark::State& st) {
  const std::string record = encode(sample_fork_added());
  ChainHash chain = chain_seed("micro");
  std::uint64_t seq = 0;
  for (auto _ : st) {
    chain = chain_next(chain, ++seq, record);
    benchmark::DoNotOptimize(chain);
  }
  st.SetLabel(std::to_string(record.size()) + "-byte fork_added");
}
BENCHMARK(BM_ChainNext);

// Two chains stepped at once (journal/internal/chain_lanes.h), as the
// audit's hashing does with two windows: per step of one chain, against
// BM_ChainNext.
void BM_ChainNextPair(benchmark::State& st) {
  const std::string record = encode(sample_fork_added());
  ChainHash a = chain_seed("micro a");
  ChainHash b = chain_seed("micro b");
  std::uint64_t seq = 0;
  for (auto _ : st) {
    ++seq;
    detail::chain_next_pair({a, seq, record}, {b, seq, record});
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
  }
  st.SetItemsProcessed(2 * static_cast<std::int64_t>(st.iterations()));
  st.SetLabel(std::string(detail::chain_lanes_interleave() ? "interleaved" : "one by one") +
              ", per pair");
}
BENCHMARK(BM_ChainNextPair);

// evolve alone, on a steady state of Arg(0) live forks.
void BM_Evolve(benchmark::State& st) {
  SteadyState s(static_cast<std::size_t>(st.range(0)));
  const auto& cycle = s.cycle();
  std::size_t i = 0;
  for (auto _ : st) {
    s.state().apply(s.next_seq(), cycle[i]);
    if (++i == cycle.size()) i = 0;
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
}
BENCHMARK(BM_Evolve)->Arg(100)->Arg(10'000)->Arg(100'000);

// decode + checksum + evolve over encoded records held in memory: a replay
// without LMDB.
void BM_DecodeEvolve(benchmark::State& st) {
  SteadyState s(static_cast<std::size_t>(st.range(0)));
  std::vector<std::string> records;
  for (const EventView& e : s.cycle()) records.push_back(encode(e));
  std::size_t i = 0;
  for (auto _ : st) {
    const std::uint64_t seq = s.next_seq();
    auto e = decode(seq, records[i]);
    if (!e) {
      st.SkipWithError("decode failed");
      break;
    }
    s.state().apply(seq, *e);
    if (++i == records.size()) i = 0;
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
}
BENCHMARK(BM_DecodeEvolve)->Arg(10'000);

// 4,096 distinct ids of `size` bytes drawn like the workload's (base-36).
std::vector<std::string> ids_of_size(std::size_t size) {
  std::mt19937_64 rng(11);
  std::vector<std::string> ids(4096);
  for (std::string& id : ids) {
    while (id.size() < size) id += bench::make_id("", rng);
    id.resize(size);
  }
  return ids;
}

// Hash alone, ids of Arg(0) bytes, one after another: independent hashes
// overlap, as the two or three of an event do.
template <class Hash>
void BM_IdHash(benchmark::State& st) {
  const auto ids = ids_of_size(static_cast<std::size_t>(st.range(0)));
  const Hash hash;
  std::size_t i = 0;
  for (auto _ : st) {
    benchmark::DoNotOptimize(hash(std::string_view(ids[i])));
    i = (i + 1) & (ids.size() - 1);
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
}

// Hash alone, each id picked by the previous hash: its latency, which a map
// lookup waits on before its first probe.
template <class Hash>
void BM_IdHashLatency(benchmark::State& st) {
  const auto ids = ids_of_size(static_cast<std::size_t>(st.range(0)));
  const Hash hash;
  std::size_t i = 0;
  for (auto _ : st) i = hash(std::string_view(ids[i])) & (ids.size() - 1);
  benchmark::DoNotOptimize(i);
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
}

// Steady fork churn in a quarter-full Boost map (the fork table until
// 2026-12-02) with each hash, in one process: Arg(0) live 24-byte forks out of 2 x Arg(0),
// step i erases fork i - L and inserts fork i.
template <class Hash>
void BM_ForkChurn(benchmark::State& st) {
  const auto live = static_cast<std::size_t>(st.range(0));
  std::mt19937_64 rng(7);
  std::vector<std::string> forks(2 * live);
  for (std::string& f : forks) f = bench::make_id("frk", rng);
  boost::unordered_flat_map<Id, std::uint32_t, Hash, IdEqual> map;
  map.reserve(4 * live);
  for (std::size_t f = 0; f < live; ++f) map.try_emplace(Id(forks[f]), 1u);
  std::size_t add = live;
  for (auto _ : st) {
    const std::size_t remove = add >= live ? add - live : add + live;
    map.erase(map.find(std::string_view(forks[remove])));
    map.try_emplace(Id(forks[add]), 1u);
    if (++add == forks.size()) add = 0;
  }
  if (map.size() != live) st.SkipWithError("the live set drifted");
  st.SetItemsProcessed(static_cast<std::int64_t>(2 * st.iterations()));
}

#define FJ_ID_HASH_BENCHMARKS(Hash)                                                         \
  BENCHMARK_TEMPLATE(BM_IdHash, Hash)->Arg(8)->Arg(16)->Arg(24)->Arg(32)->Arg(40)->Arg(64); \
  BENCHMARK_TEMPLATE(BM_IdHashLatency, Hash)->Arg(24)->Arg(40);                             \
  BENCHMARK_TEMPLATE(BM_ForkChurn, Hash)->Arg(10'000)->Arg(100'000)
FJ_ID_HASH_BENCHMARKS(IdHash);
FJ_ID_HASH_BENCHMARKS(bench::FoldIdHash);
FJ_ID_HASH_BENCHMARKS(bench::BoostIdHash);
#undef FJ_ID_HASH_BENCHMARKS

// decide on a steady state of 10,000 live forks: a fork of a new instance.
void BM_DecideFork(benchmark::State& st) {
  SteadyState s(10'000);
  const Command fork = AddFork{s.template_of(s.live()), s.fork(s.live())};
  for (auto _ : st) {
    auto d = decide(s.state(), fork, Origin::api, kTimeNs);
    if (!d) {
      st.SkipWithError(d.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecideFork);

// decide: an unfork of a live fork.
void BM_DecideUnfork(benchmark::State& st) {
  SteadyState s(10'000);
  const Command unfork = RemoveFork{s.template_of(0), s.fork(0)};
  for (auto _ : st) {
    auto d = decide(s.state(), unfork, Origin::api, kTimeNs);
    if (!d) {
      st.SkipWithError(d.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecideUnfork);

}  // namespace

BENCHMARK_MAIN();
