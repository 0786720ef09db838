package framework_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/daemonkit/daemonkit/framework"
)

// A service checks its status through the verbs Main provides. Here the
// daemon was never started, so status reports it as not running (101).
func ExampleDaemon_Main() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	d := framework.New(framework.Config{Name: "hello", PIDFile: filepath.Join(dir, "hello.pid")})
	var out bytes.Buffer
	code := d.Main(context.Background(), []string{"status"}, &out, &out, func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	})
	fmt.Print(strings.TrimSpace(out.String()), "; exit ", code)
	// Output: hello: not running; exit 101
}
