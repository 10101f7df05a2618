#include "cli/commands.h"
#include "fleet/stream.h"
#include "fleet/stream_setup.h"

#include <boost/json.hpp>

#include <iostream>

namespace fj::cli {

int cmd_fleet_init(const Options& o) {
  auto setup = fleet::init_stream(o.nats, o.replicas);
  if (!setup) return report(setup.error());
  const double window = double(setup->duplicate_window_ns) / 1e9;
  if (o.json) {
    std::cout << boost::json::serialize(
                     boost::json::object{{"stream", std::string(fleet::kStreamName)},
                                         {"subjects", std::string(fleet::kStreamSubjects)},
                                         {"created", setup->created},
                                         {"replicas", setup->replicas},
                                         {"messages", setup->messages},
                                         {"duplicate_window_seconds", window}})
              << "\n";
  } else {
    std::cout << (setup->created ? "created" : "already there:") << " stream " << fleet::kStreamName
              << " (" << fleet::kStreamSubjects << ", file storage, " << setup->replicas
              << (setup->replicas == 1 ? " replica" : " replicas") << ", duplicate window "
              << window << " s, " << setup->messages << " messages)\n";
  }
  return 0;
}

}  // namespace fj::cli
