package reexec

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/daemonkit/daemonkit/internal/readych"
)

// helperEnv makes the test binary act as a would-be daemon stage (see
// adopt_linux_test.go) instead of running the tests.
const helperEnv = "REEXEC_TEST_HELPER"

// TestEnvVarIsTheWireFormats: the marker a service author can test for is
// the one the launcher sets.
func TestEnvVarIsTheWireFormats(t *testing.T) {
	if EnvVar != readych.EnvVar {
		t.Errorf("reexec.EnvVar %q, readych.EnvVar %q", EnvVar, readych.EnvVar)
	}
}

func TestMain(m *testing.M) {
	helperMain()
	goleak.VerifyTestMain(m)
}
