//go:build daemonkit_faults

package framework

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// faultEnv names the variable that injects a fault in binaries built with
// -tags daemonkit_faults: "POINT=FAULT[,POINT=FAULT...]". FAULT is one of
// error, panic, exit:N, kill (SIGKILL of this process), hang (block
// forever). The points are listed in faults.go.
const faultEnv = "DAEMONKIT_FAULT"

func fault(point string) error {
	for _, spec := range strings.Split(os.Getenv(faultEnv), ",") {
		p, what, ok := strings.Cut(spec, "=")
		if !ok || p != point {
			continue
		}
		switch {
		case what == "error":
			return fmt.Errorf("injected fault at %s", point)
		case what == "panic":
			panic("injected panic at " + point)
		case strings.HasPrefix(what, "exit:"):
			n, _ := strconv.Atoi(strings.TrimPrefix(what, "exit:"))
			os.Exit(n)
		case what == "kill":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		case what == "hang":
			select {}
		}
	}
	return nil
}
