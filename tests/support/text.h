// Small text helpers for assertions on files and process output. Pure
// functions; a file that cannot be read reads as empty.
#pragma once

#include <string>
#include <vector>

namespace fj::testing {

// The whole file, byte for byte; empty when it cannot be opened.
std::string file_text(const std::string& path);

bool contains(const std::string& haystack, const std::string& needle);

// The lines of `text` without their newlines.
std::vector<std::string> lines_of(const std::string& text);

}  // namespace fj::testing
