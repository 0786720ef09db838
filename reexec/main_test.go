package reexec

import (
	"testing"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary act as a would-be daemon stage (see
// adopt_linux_test.go) instead of running the tests.
const helperEnv = "REEXEC_TEST_HELPER"

func TestMain(m *testing.M) {
	helperMain()
	goleak.VerifyTestMain(m)
}
