// Runs a test body once per SIMD target that is compiled in and that this CPU runs, with Highway's
// dispatch pointed at it, so that every kernel level is checked, not only the best one.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "hwy/targets.h"

template <class F>
void for_each_target(F f) {
    for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
        hwy::SetSupportedTargetsForTest(target);
        hwy::GetChosenTarget().Update(hwy::SupportedTargets());
        const std::string target_name = hwy::TargetName(target); // CAPTURE shows a char pointer's address
        CAPTURE(target_name);
        f();
    }
    hwy::SetSupportedTargetsForTest(0);
    hwy::GetChosenTarget().Update(hwy::SupportedTargets());
}
