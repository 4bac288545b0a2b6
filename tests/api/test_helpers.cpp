// The test helpers themselves: a comparison that could not fail would make every test using it useless.
#include <limits>

#include "api/model_helpers.h"

TEST_CASE("max_abs_diff fails every tolerance on NaN, wherever it is") {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    const std::vector<float> ref = {1.0f, 2.0f, 3.0f};
    CHECK(th::max_abs_diff(ref, ref) == 0.0);
    CHECK(th::max_abs_diff(ref, {1.0f, 2.5f, 3.0f}) == doctest::Approx(0.5));
    for (size_t at = 0; at < ref.size(); ++at) {
        std::vector<float> bad = ref;
        bad[at] = nan;
        CHECK_FALSE(th::max_abs_diff(bad, ref) <= 1e30);
        CHECK_FALSE(th::max_abs_diff(ref, bad) <= 1e30);
    }
    CHECK_FALSE(th::max_abs_diff({nan, nan, nan}, {nan, nan, nan}) <= 1e30);
    CHECK_FALSE(th::max_abs_diff({inf, 0, 0}, {-inf, 0, 0}) <= 1e30);
    CHECK_FALSE(th::max_abs_diff({inf, 0, 0}, {1, 0, 0}) <= 1e30);
    CHECK(th::max_abs_diff({inf, 0, 0}, {inf, 0, 0}) == 0.0);
    // Accumulating several differences keeps a NaN, whichever side it is on.
    CHECK(std::isnan(th::worse(std::nan(""), 1.0)));
    CHECK(std::isnan(th::worse(1.0, std::nan(""))));
    CHECK(th::worse(1.0, 2.0) == 2.0);
}

// Run by ctest with RWKVRT_TESTDATA pointing nowhere: once with CI set (the test must fail) and once
// without (it must print the skip line that ctest turns into "Skipped").
TEST_CASE("REQUIRE_TESTDATA" * doctest::skip(!std::getenv("RWKVRT_TEST_REQUIRE_TESTDATA"))) {
    REQUIRE_TESTDATA();
    CHECK(testdata::available());
}
