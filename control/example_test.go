//go:build linux

package control_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/daemonkit/daemonkit/control"
)

// Check reports a daemon whose PID file does not exist as not running,
// with libucw's status code 101.
func ExampleCheck() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := control.Check(ctx, control.Options{PIDFile: filepath.Join(dir, "exampled.pid")})
	fmt.Println(res.Status, int(res.Status), res.Before.State, err)
	// Output: not-running 101 not-running <nil>
}

func ExampleParseSignal() {
	for _, s := range []string{"SIGTERM", "term", "15", "RTMIN+2", "FOO"} {
		sig, err := control.ParseSignal(s)
		fmt.Println(int(sig), err != nil)
	}
	// Output:
	// 15 false
	// 15 false
	// 15 false
	// 36 false
	// 0 true
}
