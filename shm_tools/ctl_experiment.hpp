// SPDX-License-Identifier: Apache-2.0
// `canary-ctl experiment create|start|stop|conclude|remove|show|list` (SPEC section 10a): the same
// definitions and results as the admin API's, on the local segment.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace canary::tools {

struct ExperimentArgs {
  CLI::App* command = nullptr;  // `experiment`; one of its subcommands ran when it is set
  CLI::App *create = nullptr, *start = nullptr, *stop = nullptr, *conclude = nullptr, *remove = nullptr, *show = nullptr,
           *list = nullptr;
  std::string name;
  std::string arms;
  std::vector<std::string> endpoints;
  std::vector<std::string> metrics;
  std::string exposure;
  std::string salt;
  std::string arm;  // conclude --arm
  std::string reason;
  bool json = false;
};

// Declares the subcommands on `app`; `args` must outlive the parse.
void add_experiment_commands(CLI::App& app, ExperimentArgs& args);
int run_experiment_command(const ExperimentArgs& args, const std::string& segment);

}  // namespace canary::tools
