#pragma once
/// @file
/// Everything of ews::testing: scenarios and the replay server.
#include <ews/testing/recorder.hpp>
#include <ews/testing/replay_server.hpp>
#include <ews/testing/scenario.hpp>
