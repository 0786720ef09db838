package sdnotify_test

import (
	"fmt"

	"github.com/daemonkit/daemonkit/internal/sdnotify"
)

func ExampleParse() {
	n, err := sdnotify.Parse([]byte("STATUS=listening on :8080\nREADY=1\n"))
	fmt.Println(n.Ready, n.Status, err)
	_, err = sdnotify.Parse([]byte("READY=yes"))
	fmt.Println(err)
	// Output:
	// true listening on :8080 <nil>
	// malformed notification: READY="yes" (only READY=1 is defined)
}
