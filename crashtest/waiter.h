// A completion callback that fulfils a future: how the crash and stress
// workloads wait for the service's asynchronous operations from plain
// threads. (Plain callbacks rather than boost::asio::use_future, whose
// promise_handler trips GCC 12's -Wmaybe-uninitialized in sanitizer builds.)
// One Waiter serves one operation; its future is taken by the waiting thread.
#pragma once

#include <functional>
#include <future>
#include <memory>

namespace fj {

template <class T>
struct Waiter {
  std::shared_ptr<std::promise<T>> promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  std::function<void(T)> callback() const {
    return [p = promise](T result) { p->set_value(std::move(result)); };
  }
};

}  // namespace fj
